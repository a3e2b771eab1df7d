"""nft tracer budget: one packet through a 10,000-Service nftables table in < 2 ms (DESIGN §9).

Run with ``nox -s bench`` or::

    pytest bench/bench_nft_tracer.py --benchmark-only -p no:cacheprovider

The table is what the nftables backend renders for 10,000 ClusterIP Services x 10 endpoints
(upstream's fake-proxier harness, ``bench_iptables.cluster``), replayed into the tables the
kernel would hold (:meth:`~k8s_service_lab.netfilter.nftables_dump.NftRuleset.of`). Each
round traces a pod's packet to a different Service: the ``vmap @service-ips`` dispatch (an
index lookup, not a scan of 10,000 elements), the ten-way ``numgen`` split, and the filter
checks after DNAT. A second benchmark does the same on the table parsed back from its
``nft list``-style text, to show a real dump costs no more to trace.
"""

from __future__ import annotations

from itertools import count

from pytest_benchmark.fixture import BenchmarkFixture

from bench.bench_iptables import SERVICES, cluster
from k8s_service_lab.netfilter.nftables_dump import NftRuleset
from k8s_service_lab.netfilter.nftables_parse import parse_nft
from k8s_service_lab.tracer import NodeContext, Packet
from k8s_service_lab.tracer.nft_engine import NftTracer
from tests.golden.scenarios_iptables import NODE_IP, POD_CIDR
from tests.golden.scenarios_nftables import fake_nft_backend
from tests.unit.test_nftables_parse import list_text

BUDGET_SECONDS = 0.002


def _ruleset() -> NftRuleset:
    return NftRuleset.of(fake_nft_backend().sync(cluster(SERVICES)))


def _bench(benchmark: BenchmarkFixture, tracer: NftTracer) -> None:
    services = count()

    def trace() -> None:
        s = next(services) % SERVICES
        result = tracer.arriving(
            Packet("10.180.0.9", f"172.30.{s // 250}.{s % 250 + 1}", "tcp", 40000, 80)
        )
        assert result.verdict == "DNAT"
        assert len(result.endpoints) == 10

    trace()  # build the map indexes once, as a long-lived tracer would
    benchmark.pedantic(trace, rounds=200, iterations=1)  # type: ignore[no-untyped-call]
    assert benchmark.stats is not None
    assert benchmark.stats.stats.median < BUDGET_SECONDS


def test_nft_trace_one_packet_10k_services(benchmark: BenchmarkFixture) -> None:
    node = NodeContext.of([str(NODE_IP)], str(POD_CIDR))
    _bench(benchmark, NftTracer(_ruleset(), node))


def test_nft_trace_one_packet_10k_services_from_text(benchmark: BenchmarkFixture) -> None:
    text = list_text(_ruleset())
    node = NodeContext.of([str(NODE_IP)], str(POD_CIDR))
    _bench(benchmark, NftTracer(parse_nft(text), node))
