"""Rule counts as upstream's ``number_generated_rules_test.go`` states them (reference §6).

For ClusterIP Services the nat table holds ``5 + Σ(2 + 3e)`` rules (e endpoints per Service)
and the filter table one REJECT per endpoint-less Service on top of its base. The stored
upstream test predates the KUBE-FIREWALL localnet rule that v1.34 writes on every sync, so
our filter base is one higher (4, not 3); the nat counts are the same.
"""

from __future__ import annotations

import pytest

from tests.golden.scenarios_iptables import ep, fake_backend, make_state, svc

# (services, endpoints each) -> (filter, nat) from upstream's table (filter base 3).
UPSTREAM = {
    (0, 0): (3, 5),
    (1, 0): (4, 5),
    (1, 1): (3, 10),
    (1, 2): (3, 13),
    (1, 10): (3, 37),
    (10, 0): (13, 5),
    (10, 1): (3, 55),
    (10, 2): (3, 85),
    (10, 10): (3, 325),
}
KUBE_FIREWALL_RULE = 1


@pytest.mark.parametrize(("shape", "counts"), UPSTREAM.items(), ids=lambda v: str(v))
def test_clusterip_rule_counts(shape: tuple[int, int], counts: tuple[int, int]) -> None:
    services, endpoints = shape
    infos = [svc(f"ns{i}", f"svc{i}", f"172.30.0.{i + 1}") for i in range(services)]
    eps = {s.name: [ep(f"10.0.{i}.{j + 1}") for j in range(endpoints)] for i, s in enumerate(infos)}
    backend = fake_backend()
    backend.sync(make_state(infos, eps))
    stats = backend.last_stats
    assert (stats.filter_rules, stats.nat_rules) == (counts[0] + KUBE_FIREWALL_RULE, counts[1])
