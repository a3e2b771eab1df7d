"""Scheduler: filters (unschedulable, taints, nodeSelector), spread, and the Pending message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from k8s_service_lab.api import Node, ObjectMeta, Pod
from k8s_service_lab.api.meta import OwnerReference
from k8s_service_lab.api.node import NodeSpec, Taint
from k8s_service_lab.api.pod import PodSpec, Toleration
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.controlplane.controllers import ControllerManager
from k8s_service_lab.controlplane.controllers.scheduler import (
    Scheduler,
    tolerates,
    unschedulable_message,
)
from k8s_service_lab.controlplane.store import Store
from k8s_service_lab.controlplane.system import node_object

CP_TAINT = Taint("node-role.kubernetes.io/control-plane", "NoSchedule")


def cluster() -> tuple[Store, Scheduler, ControllerManager]:
    store = Store()
    config = ClusterConfig.default()
    for node in config.cluster_nodes:
        store.create(node_object(config, node))
    scheduler = Scheduler(store)
    return store, scheduler, ControllerManager(store, [scheduler])


def run(pod: Pod) -> tuple[Pod, Scheduler]:
    store, scheduler, manager = cluster()
    store.create(pod)
    manager.run_until_idle()
    return store.get(Pod, "default", str(pod.metadata.name)), scheduler


def pod(name: str = "p", **spec: object) -> Pod:
    return Pod(ObjectMeta(name=name, namespace="default"), PodSpec(**spec))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        (Toleration(key="k", operator="Exists"), Taint("k", "NoSchedule", "v"), True),
        (Toleration(operator="Exists"), Taint("any", "NoExecute"), True),
        (Toleration(operator="Exists", effect="NoSchedule"), Taint("any", "NoExecute"), False),
        (Toleration(key="k", value="v"), Taint("k", "NoSchedule", "v"), True),
        (Toleration(key="k", operator="Equal", value="w"), Taint("k", "NoSchedule", "v"), False),
        (Toleration(key="k"), Taint("k", "NoSchedule"), True),
        (Toleration(key="other", operator="Exists"), Taint("k", "NoSchedule"), False),
        (Toleration(key="k", operator="Bogus"), Taint("k", "NoSchedule"), False),
    ],
)
def test_toleration_matching(toleration: Toleration, taint: Taint, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


def test_binds_to_a_worker_with_pod_scheduled() -> None:
    bound, scheduler = run(pod())
    assert bound.spec.node_name == "kind-worker"
    assert [(c.type, c.status) for c in bound.status.conditions] == [("PodScheduled", "True")]
    assert scheduler.failure("default", "p") is None


def test_control_plane_toleration_allows_it() -> None:
    store, _scheduler, manager = cluster()
    tol = (Toleration(key=CP_TAINT.key, effect="NoSchedule"),)
    for i in range(3):
        store.create(pod(f"p{i}", tolerations=tol))
        manager.run_until_idle()
    nodes = {store.get(Pod, "default", f"p{i}").spec.node_name for i in range(3)}
    assert nodes == {"kind-control-plane", "kind-worker", "kind-worker2"}


def test_node_selector() -> None:
    bound, _ = run(pod(node_selector={"kubernetes.io/hostname": "kind-worker2"}))
    assert bound.spec.node_name == "kind-worker2"


def test_preset_node_name_is_left_alone() -> None:
    bound, _ = run(pod(node_name="kind-control-plane"))
    assert bound.spec.node_name == "kind-control-plane"
    assert bound.status.conditions == ()


def test_unschedulable_message_v134() -> None:
    pending, scheduler = run(pod(node_selector={"disk": "ssd"}))
    assert pending.spec.node_name is None
    assert pending.status.phase == "Pending"
    assert [(c.type, c.status) for c in pending.status.conditions] == [("PodScheduled", "False")]
    failure = scheduler.failure("default", "p")
    assert failure is not None
    assert failure.reason == "Unschedulable"
    assert failure.message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 node(s) didn't match "
        "Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is "
        "not helpful for scheduling."
    )


def test_cordoned_nodes_and_retry_when_a_node_frees_up() -> None:
    store, scheduler, manager = cluster()
    for name in ("kind-worker", "kind-worker2"):
        node = store.get(Node, None, name)
        store.update(replace(node, spec=replace(node.spec, unschedulable=True)))
    store.create(pod())
    manager.run_until_idle()
    failure = scheduler.failure("default", "p")
    assert failure is not None
    assert failure.message.startswith(
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), "
        "2 node(s) were unschedulable. "
    )
    node = store.get(Node, None, "kind-worker2")
    store.update(replace(node, spec=replace(node.spec, unschedulable=None)))
    manager.run_until_idle()
    assert store.get(Pod, "default", "p").spec.node_name == "kind-worker2"
    assert scheduler.failure("default", "p") is None
    conditions = store.get(Pod, "default", "p").status.conditions
    assert [(c.type, c.status) for c in conditions] == [("PodScheduled", "True")]


def test_no_execute_taint_and_no_nodes() -> None:
    store = Store()
    store.create(Node(ObjectMeta(name="n"), NodeSpec(taints=(Taint("x", "NoExecute", "y"),))))
    store.create(Node(ObjectMeta(name="m"), NodeSpec(taints=(Taint("x", "PreferNoSchedule"),))))
    scheduler = Scheduler(store)
    manager = ControllerManager(store, [scheduler])
    store.create(pod())
    manager.run_until_idle()
    assert store.get(Pod, "default", "p").spec.node_name == "m"  # Prefer* does not filter
    assert unschedulable_message({}, 0) == "no nodes available to schedule pods"


def test_spread_by_owner_then_total() -> None:
    store, _scheduler, manager = cluster()
    # kind-worker already runs an unrelated pod
    store.create(pod("other", node_name="kind-worker"))
    owner = OwnerReference("apps/v1", "ReplicaSet", "rs", "uid-1", controller=True)
    for i in range(4):
        p = pod(f"r{i}")
        store.create(replace(p, metadata=replace(p.metadata, owner_references=(owner,))))
        manager.run_until_idle()
    placed = [store.get(Pod, "default", f"r{i}").spec.node_name for i in range(4)]
    assert placed == ["kind-worker2", "kind-worker", "kind-worker2", "kind-worker"]
