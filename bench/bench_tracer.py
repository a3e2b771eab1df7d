"""Tracer budget: one packet through a 10,000-Service node ruleset in < 2 ms (DESIGN §9).

Run with ``nox -s bench`` or::

    pytest bench/bench_tracer.py --benchmark-only -p no:cacheprovider

The ruleset is what the iptables backend renders for 10,000 ClusterIP Services × 10 endpoints,
with kube-proxy's jump rules merged in; each round traces a pod's packet to a different
Service, so the figure includes the dispatch through KUBE-SERVICES and the ten-way split.
"""

from __future__ import annotations

from itertools import count

from pytest_benchmark.fixture import BenchmarkFixture

from bench.bench_iptables import SERVICES, cluster
from k8s_service_lab.tracer import NodeContext, Packet, Tracer, merge
from tests.golden.scenarios_iptables import NODE_IP, POD_CIDR, fake_backend

BUDGET_SECONDS = 0.002


def test_trace_one_packet_10k_services(benchmark: BenchmarkFixture) -> None:
    backend = fake_backend()
    ruleset = merge(backend.render(cluster(SERVICES)), backend.jump_rules())
    tracer = Tracer(ruleset, NodeContext.of([str(NODE_IP)], str(POD_CIDR)))
    services = count()

    def trace() -> None:
        s = next(services) % SERVICES
        result = tracer.arriving(
            Packet("10.180.0.9", f"172.30.{s // 250}.{s % 250 + 1}", "tcp", 40000, 80)
        )
        assert result.verdict == "DNAT"
        assert len(result.endpoints) == 10

    trace()  # build the index once, as a long-lived tracer would
    benchmark.pedantic(trace, rounds=200, iterations=1)  # type: ignore[no-untyped-call]
    assert benchmark.stats is not None
    assert benchmark.stats.stats.median < BUDGET_SECONDS
