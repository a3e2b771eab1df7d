"""EndpointSlice budget: 10,000 Services x 10 Pods full reconcile < 2 s; one label move < 5 ms.

Run with ``nox -s bench`` or::

    pytest bench/bench_endpointslices.py --benchmark-only -p no:cacheprovider

The cluster: 1,000 namespaces, 10 Services each (selector ``app=svc-N``), 10 ready Pods per
Service on three Nodes — 100,000 Pods. The store is filled outside the timing; the full figure
is what the controller does from a cold start: list and index everything (its informers'
initial list) and write every Service's slice. The incremental figure is one Pod's label
change moving it from one Service's selector to another's: the watch event, the index
update, and the two Services' syncs with their two slice updates.
"""

from __future__ import annotations

import gc
import random
from dataclasses import replace

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from k8s_service_lab.api import EndpointSlice, Node, ObjectMeta, Pod, Service
from k8s_service_lab.api.pod import PodCondition, PodSpec, PodStatus
from k8s_service_lab.api.service import ServicePort, ServiceSpec
from k8s_service_lab.controlplane.controllers import ControllerManager
from k8s_service_lab.controlplane.controllers.endpointslice import EndpointSliceController
from k8s_service_lab.controlplane.store import Store

FULL_BUDGET_SECONDS = 2.0
MOVE_BUDGET_SECONDS = 0.005
NAMESPACES = 1_000
SERVICES_PER_NAMESPACE = 10
PODS_PER_SERVICE = 10
NODES = ("kind-worker", "kind-worker2", "kind-worker3")
READY = (PodCondition("Ready", "True"),)


def build_store() -> Store:
    store = Store()
    for name in NODES:
        store.create(Node(ObjectMeta(name=name)))
    n = 0
    for ns_i in range(NAMESPACES):
        ns = f"ns-{ns_i}"
        for s in range(SERVICES_PER_NAMESPACE):
            app = f"svc-{s}"
            spec = ServiceSpec(
                selector={"app": app},
                ports=(ServicePort(80, name="http", protocol="TCP", target_port=8080),),
                cluster_ip=f"10.96.{n // 250}.{n % 250 + 1}",
                ip_families=("IPv4",),
            )
            store.create(Service(ObjectMeta(name=app, namespace=ns), spec))
            for p in range(PODS_PER_SERVICE):
                ip = f"10.{64 + n // 65536}.{(n // 256) % 256}.{n % 256}"
                n += 1
                meta = ObjectMeta(
                    name=f"{app}-{p}", namespace=ns, labels={"app": app, "pod-template-hash": "5d"}
                )
                status = PodStatus(phase="Running", pod_ip=ip, pod_ips=(ip,), conditions=READY)
                store.create(Pod(meta, PodSpec(node_name=NODES[p % 3]), status))
    return store


def full_reconcile(store: Store) -> EndpointSliceController:
    controller = EndpointSliceController(store, rng=random.Random(1))
    ControllerManager(store, [controller]).run_until_idle()
    return controller


def test_full_reconcile_10k_services_100k_pods(benchmark: BenchmarkFixture) -> None:
    stores: list[Store] = []

    def setup() -> tuple[tuple[Store], dict[str, object]]:
        # One cluster alive at a time. The fixture's 110,000 stored objects are frozen out
        # of the cyclic collector (gc.freeze) so the figure is the controller's own work,
        # not the interpreter re-walking the fixture; the collector still runs on
        # everything the controller allocates.
        stores.clear()
        gc.unfreeze()
        gc.collect()
        stores.append(build_store())
        gc.collect()
        gc.freeze()
        return (stores[-1],), {}

    try:
        benchmark.pedantic(full_reconcile, setup=setup, rounds=3, iterations=1)
    finally:
        gc.unfreeze()
    slices = stores[-1].list(EndpointSlice)
    assert len(slices) == NAMESPACES * SERVICES_PER_NAMESPACE
    assert sum(len(s.endpoints) for s in slices) == NAMESPACES * 100
    benchmark.extra_info.update(services=len(slices), pods=NAMESPACES * 100)
    if benchmark.stats is not None:  # None when benchmarks are disabled
        assert benchmark.stats.stats.median < FULL_BUDGET_SECONDS


@pytest.fixture(scope="module")
def settled() -> tuple[Store, ControllerManager]:
    store = build_store()
    controller = EndpointSliceController(store, rng=random.Random(1))
    manager = ControllerManager(store, [controller])
    manager.run_until_idle()
    return store, manager


def test_one_pod_label_move(
    benchmark: BenchmarkFixture, settled: tuple[Store, ControllerManager]
) -> None:
    store, manager = settled
    rounds = iter(range(10_000))

    def setup() -> tuple[tuple[Pod], dict[str, object]]:
        # Each round moves another Pod of svc-0 over to svc-1, in another namespace.
        i = next(rounds)
        old = store.get(Pod, f"ns-{i % NAMESPACES}", f"svc-0-{i // NAMESPACES}")
        labels = {"app": "svc-1", "pod-template-hash": "5d"}
        return (replace(old, metadata=replace(old.metadata, labels=labels)),), {}

    def move(pod: Pod) -> int:
        store.update(pod)
        return manager.run_until_idle()

    handled = benchmark.pedantic(move, setup=setup, rounds=200, iterations=1)
    assert handled == 2  # exactly the two Services, found without a scan
    moved = [s for s in store.list(EndpointSlice, "ns-0") if s.metadata.name]
    assert sorted(len(s.endpoints) for s in moved)[-1] == 10 + 1
    if benchmark.stats is not None:
        assert benchmark.stats.stats.median < MOVE_BUDGET_SECONDS
