"""Rule counts as upstream's ``number_generated_rules_test.go`` states them (reference §6).

For ClusterIP Services the nat table holds ``5 + Σ(2 + 3e)`` rules (e endpoints per Service)
and the filter table one REJECT per endpoint-less Service on top of its base. The stored
upstream test predates the KUBE-FIREWALL localnet rule that v1.34 writes on every sync, so
our filter base is one higher (4, not 3); the nat counts are the same.
"""

from __future__ import annotations

from ipaddress import ip_address, ip_network

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


# The LoadBalancer shape of the same upstream table: externalIP = LB IP 1.2.3.4, source range
# 1.2.3.4/28, NodePort 30000+i, eTP Cluster. -> (filter, nat), upstream's stored numbers.
UPSTREAM_LB = {
    (0, 0): (3, 5),
    (1, 0): (7, 5),
    (1, 1): (4, 16),
    (1, 2): (4, 19),
    (1, 10): (4, 43),
    (10, 0): (43, 5),
    (10, 1): (13, 115),
    (10, 2): (13, 145),
    (10, 10): (13, 385),
}
#: Per LB Service with endpoints, v1.34 writes two nat rules more than the stored test counts:
#: the proxier's 9 + 3e rules (the test says 8 + 3e; reference §6), and the localhost
#: NodePort accept rule (with its nfacct counter) that the fake proxier enables.
LB_EXTRA_NAT_PER_SERVICE = 2


@pytest.mark.parametrize(("shape", "counts"), UPSTREAM_LB.items(), ids=lambda v: str(v))
def test_loadbalancer_rule_counts(shape: tuple[int, int], counts: tuple[int, int]) -> None:
    services, endpoints = shape
    lb = ip_address("1.2.3.4")
    infos = [
        svc(
            f"ns{i}",
            f"svc{i}",
            f"172.30.0.{i + 1}",
            node_port=30000 + i,
            external_ips=(lb,),
            load_balancer_vips=(lb,),
            load_balancer_source_ranges=(ip_network("1.2.3.0/28"),),
        )
        for i in range(services)
    ]
    eps = {s.name: [ep(f"10.0.{i}.{j + 1}") for j in range(endpoints)] for i, s in enumerate(infos)}
    backend = fake_backend()
    backend.sync(make_state(infos, eps))
    stats = backend.last_stats
    extra_nat = LB_EXTRA_NAT_PER_SERVICE * services if endpoints else 0
    assert (stats.filter_rules, stats.nat_rules) == (
        counts[0] + KUBE_FIREWALL_RULE,
        counts[1] + extra_nat,
    )
