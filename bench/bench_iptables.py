"""iptables backend budgets (DESIGN §9): a full render of 10,000 Services x 10 endpoints in
< 1.0 s, and a partial sync after one endpoint change in < 20 ms.

Run with ``nox -s bench`` or::

    pytest bench/bench_iptables.py --benchmark-only -p no:cacheprovider

The state is built directly (ClusterIP Services, remote endpoints, upstream's test node), so
the figures measure the backend alone: ``render`` builds every rule object; the text figure
adds netfilter's ``to_restore``; the partial figure is ``sync`` after one Service's endpoint
moved, on a backend that already synced the cluster once.
"""

from __future__ import annotations

import time

from pytest_benchmark.fixture import BenchmarkFixture

from k8s_service_lab.netfilter import to_restore
from k8s_service_lab.proxy import EndpointInfo, NodeProxyState, ServicePortInfo
from tests.golden.scenarios_iptables import ep, fake_backend, make_state, port_name, svc

SERVICES = 10_000
ENDPOINTS = 10
RENDER_BUDGET = 1.0
PARTIAL_BUDGET = 0.020


def cluster(services: int, moved: int | None = None) -> NodeProxyState:
    infos: list[ServicePortInfo] = []
    eps: dict[object, list[EndpointInfo]] = {}
    for s in range(services):
        infos.append(svc(f"ns{s}", f"svc{s}", f"172.30.{s // 250}.{s % 250 + 1}"))
        last = 1 if s == moved else 0
        eps[port_name(f"ns{s}", f"svc{s}")] = [
            ep(f"10.{e + last}.{s // 250}.{s % 250 + 1}") for e in range(ENDPOINTS)
        ]
    updated = [] if moved is None else [port_name(f"ns{moved}", f"svc{moved}").service]
    return make_state(infos, eps, updated=updated, full=moved is None)  # type: ignore[arg-type]


def test_full_render_budget(benchmark: BenchmarkFixture) -> None:
    # Cold, as bench_nftables measures: a fresh backend every round (its caches empty).
    state = cluster(SERVICES)
    ruleset = benchmark.pedantic(  # type: ignore[no-untyped-call]
        lambda backend: backend.render(state),
        setup=lambda: ((fake_backend(),), {}),
        rounds=3,
        iterations=1,
    )
    nat = ruleset.table("nat")
    assert nat is not None
    assert len(nat.statements) > SERVICES * (2 + 3 * ENDPOINTS)
    assert benchmark.stats is not None
    assert benchmark.stats.stats.median < RENDER_BUDGET


def test_full_render_with_text(benchmark: BenchmarkFixture) -> None:
    state = cluster(SERVICES)
    backend = fake_backend()
    text = benchmark.pedantic(  # type: ignore[no-untyped-call]
        lambda: to_restore(backend.render(state)), rounds=2, iterations=1
    )
    assert text.count("\n") > 430_000


def test_partial_sync_budget(benchmark: BenchmarkFixture) -> None:
    backend = fake_backend()
    backend.sync(cluster(SERVICES))
    moved = cluster(SERVICES, moved=SERVICES // 2)

    def partial() -> object:
        return backend.sync(moved)

    payload = benchmark.pedantic(  # type: ignore[no-untyped-call]
        partial, rounds=5, iterations=1
    )
    assert backend.last_stats is not None
    assert not backend.last_stats.full
    assert backend.last_stats.services_written == 1
    assert payload is not None
    assert benchmark.stats is not None
    assert benchmark.stats.stats.median < PARTIAL_BUDGET


if __name__ == "__main__":
    state = cluster(SERVICES)
    start = time.perf_counter()
    rs = fake_backend().render(state)
    print(f"render: {time.perf_counter() - start:.3f} s")
    start = time.perf_counter()
    to_restore(rs)
    print(f"to_restore: {time.perf_counter() - start:.3f} s")
