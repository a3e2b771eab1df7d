"""Deployment → ReplicaSet → Pods, run with the scheduler and kubelets on a Store."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from k8s_service_lab.api import Deployment, Node, ObjectMeta, Pod, ReplicaSet
from k8s_service_lab.api.pod import Container, PodSpec, PodTemplateSpec
from k8s_service_lab.api.workloads import DeploymentSpec, DeploymentStrategy
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.controlplane.controllers import ControllerManager
from k8s_service_lab.controlplane.controllers.kubelet import Kubelet
from k8s_service_lab.controlplane.controllers.replicaset import (
    ReplicaSetController,
    deletion_order,
)
from k8s_service_lab.controlplane.controllers.scheduler import Scheduler
from k8s_service_lab.controlplane.controllers.workloads import (
    HASH_LABEL,
    REVISION_ANNOTATION,
    DeploymentController,
    resolve_fenceposts,
)
from k8s_service_lab.controlplane.names import ALPHABET
from k8s_service_lab.controlplane.store import Store, WatchEvent
from k8s_service_lab.controlplane.system import joined_nodes, node_object
from k8s_service_lab.labels import LabelSelector


class Lab:
    def __init__(self, seed: int = 0) -> None:
        self.store = Store(seed=seed)
        config = ClusterConfig.default()
        for node in config.cluster_nodes:
            self.store.create(node_object(config, node))
        self.kubelet = Kubelet(self.store)
        self.manager = ControllerManager(
            self.store,
            [
                DeploymentController(self.store),
                ReplicaSetController(self.store, random.Random(seed)),
                Scheduler(self.store),
                self.kubelet,
            ],
        )
        self.kubelet.enqueue_all()
        self.manager.run_until_idle()

    def apply(self, d: Deployment) -> Deployment:
        current = self.store.find(Deployment, d.metadata.namespace, str(d.metadata.name))
        if current is None:
            self.store.create(d)
        else:
            self.store.update(replace(current, spec=d.spec))
        self.manager.run_until_idle()
        return self.store.get(Deployment, d.metadata.namespace, str(d.metadata.name))

    def pods(self) -> list[Pod]:
        return self.store.list(Pod, "default")


def deployment(replicas: int = 3, image: str = "nginx:1", **strategy: object) -> Deployment:
    template = PodTemplateSpec(
        ObjectMeta(labels={"app": "web"}),
        PodSpec(containers=(Container("web", image=image),)),
    )
    return Deployment(
        ObjectMeta(name="web", namespace="default"),
        DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector({"app": "web"}),
            template=template,
            strategy=DeploymentStrategy(**strategy) if strategy else None,  # type: ignore[arg-type]
        ),
    )


def test_deployment_makes_replicaset_and_pods() -> None:
    lab = Lab()
    d = lab.apply(deployment(3))
    (rs,) = lab.store.list(ReplicaSet, "default")
    hash_ = rs.metadata.labels[HASH_LABEL]
    assert rs.metadata.name == f"web-{hash_}"
    assert rs.spec.selector is not None
    assert rs.spec.selector.match_labels == {"app": "web", HASH_LABEL: hash_}
    (ref,) = rs.metadata.owner_references
    assert (ref.kind, ref.name, ref.uid) == ("Deployment", "web", d.metadata.uid)
    assert ref.controller
    assert ref.block_owner_deletion
    assert rs.metadata.annotations[REVISION_ANNOTATION] == "1"
    pods = lab.pods()
    assert len(pods) == 3
    for pod in pods:
        name = str(pod.metadata.name)
        assert name.startswith(f"{rs.metadata.name}-")
        assert len(name) == len(str(rs.metadata.name)) + 6
        assert set(name[-5:]) <= set(ALPHABET)
        assert pod.metadata.generate_name == f"{rs.metadata.name}-"
        assert pod.metadata.labels == {"app": "web", HASH_LABEL: hash_}
        (pref,) = pod.metadata.owner_references
        assert (pref.kind, pref.uid, pref.controller) == ("ReplicaSet", rs.metadata.uid, True)
        assert pref.block_owner_deletion
        assert pod.status.phase == "Running"
        assert pod.status.ready
    # spread over the two workers, never on the tainted control plane
    assert sorted(str(p.spec.node_name) for p in pods) == [
        "kind-worker",
        "kind-worker",
        "kind-worker2",
    ]
    assert d.status.replicas == 3
    assert d.status.ready_replicas == 3
    assert d.status.available_replicas == 3
    assert d.status.updated_replicas == 3
    assert d.status.observed_generation == d.metadata.generation


def test_same_seed_same_names() -> None:
    a = Lab(seed=5)
    a.apply(deployment())
    b = Lab(seed=5)
    b.apply(deployment())
    assert [p.metadata.name for p in a.pods()] == [p.metadata.name for p in b.pods()]
    assert [p.status.pod_ip for p in a.pods()] == [p.status.pod_ip for p in b.pods()]


def test_scale_up_and_down() -> None:
    lab = Lab()
    lab.apply(deployment(2))
    assert len(lab.pods()) == 2
    d = lab.apply(deployment(5))
    assert len(lab.pods()) == 5
    assert d.status.replicas == 5
    d = lab.apply(deployment(1))
    assert len(lab.pods()) == 1
    assert d.status.ready_replicas == 1
    assert len(lab.store.list(ReplicaSet, "default")) == 1


def test_scale_down_prefers_not_ready_pods() -> None:
    lab = Lab()
    lab.apply(deployment(3))
    victim = lab.pods()[1]
    lab.kubelet.set_ready(victim, False)
    lab.manager.run_until_idle()
    lab.apply(deployment(2))
    assert victim.metadata.name not in {p.metadata.name for p in lab.pods()}


def test_deleted_pod_is_replaced() -> None:
    lab = Lab()
    lab.apply(deployment(2))
    gone = lab.pods()[0]
    lab.store.delete(Pod, "default", str(gone.metadata.name))
    lab.manager.run_until_idle()
    pods = lab.pods()
    assert len(pods) == 2
    assert gone.metadata.name not in {p.metadata.name for p in pods}


def test_terminating_pods_do_not_count() -> None:
    lab = Lab()
    lab.apply(deployment(2))
    pod = lab.pods()[0]
    lab.store.update(replace(pod, metadata=replace(pod.metadata, deletion_timestamp="x")))
    lab.manager.run_until_idle()
    live = [p for p in lab.pods() if p.metadata.deletion_timestamp is None]
    assert len(live) == 2
    assert len(lab.pods()) == 3


@pytest.mark.parametrize(
    "strategy",
    [{}, {"max_surge": 0, "max_unavailable": 1}, {"max_surge": "100%"}, {"type": "Recreate"}],
)
def test_rollout_ends_with_new_template(strategy: dict[str, object]) -> None:
    lab = Lab()
    lab.apply(deployment(4, "nginx:1", **strategy))
    d = lab.apply(deployment(4, "nginx:2", **strategy))
    sets = sorted(
        lab.store.list(ReplicaSet, "default"),
        key=lambda rs: rs.metadata.annotations[REVISION_ANNOTATION],
    )
    assert [rs.spec.replicas for rs in sets] == [0, 4]
    assert [rs.metadata.annotations[REVISION_ANNOTATION] for rs in sets] == ["1", "2"]
    new_hash = sets[1].metadata.labels[HASH_LABEL]
    pods = lab.pods()
    assert len(pods) == 4
    assert all(p.metadata.labels[HASH_LABEL] == new_hash for p in pods)
    assert all(p.spec.containers[0].image == "nginx:2" for p in pods)
    assert d.status.updated_replicas == 4
    assert d.status.replicas == 4
    assert d.metadata.annotations[REVISION_ANNOTATION] == "2"


def test_rolling_update_respects_surge_and_unavailability() -> None:
    lab = Lab()
    lab.apply(deployment(4, "nginx:1", max_surge=1, max_unavailable=0))
    worst_total, worst_ready = 0, 99

    def watch(event: WatchEvent) -> None:
        nonlocal worst_total, worst_ready
        live = [p for p in lab.pods() if p.metadata.deletion_timestamp is None]
        worst_total = max(worst_total, len(live))
        worst_ready = min(worst_ready, sum(p.status.ready for p in live))

    lab.store.subscribe(watch, "pods")
    lab.apply(deployment(4, "nginx:2", max_surge=1, max_unavailable=0))
    assert worst_total == 5  # it did surge, by exactly one
    assert worst_ready >= 4


def test_rollback_reuses_old_replicaset() -> None:
    lab = Lab()
    lab.apply(deployment(2, "nginx:1"))
    first = {rs.metadata.name for rs in lab.store.list(ReplicaSet, "default")}
    lab.apply(deployment(2, "nginx:2"))
    lab.apply(deployment(2, "nginx:1"))
    sets = lab.store.list(ReplicaSet, "default")
    assert len(sets) == 2
    (active,) = [rs for rs in sets if rs.spec.replicas]
    assert active.metadata.name in first


def test_deleting_deployment_cascades() -> None:
    lab = Lab()
    lab.apply(deployment(2))
    lab.store.delete(Deployment, "default", "web")
    lab.manager.run_until_idle()
    assert lab.store.list(ReplicaSet, "default") == []
    assert lab.pods() == []


def test_fenceposts() -> None:
    assert resolve_fenceposts(deployment(4)) == (1, 1)
    assert resolve_fenceposts(deployment(3)) == (1, 0)
    assert resolve_fenceposts(deployment(10, max_surge=0, max_unavailable=0)) == (0, 1)
    assert resolve_fenceposts(deployment(10, max_surge="50%", max_unavailable=3)) == (5, 3)


def test_deletion_order_ranks() -> None:
    lab = Lab()
    lab.apply(deployment(3))
    running = lab.pods()
    unscheduled = Pod(ObjectMeta(name="u", uid="z"), PodSpec())
    pending = Pod(ObjectMeta(name="p", uid="y"), PodSpec(node_name="kind-worker"))
    not_ready = replace(running[0], status=replace(running[0].status, conditions=()))
    order = deletion_order([*running[1:], not_ready, pending, unscheduled], lab.store.clock.now())
    assert [p.metadata.name for p in order[:3]] == ["u", "p", not_ready.metadata.name]


def test_nodes_fixture_is_kind_default() -> None:
    assert [n.metadata.name for n in joined_nodes(ClusterConfig.default())] == [
        "kind-worker",
        "kind-worker2",
    ]
    assert len(Lab().store.list(Node)) == 3


def test_controllers_satisfy_the_protocol() -> None:
    from k8s_service_lab.controlplane.controllers import Controller

    store = Store()
    for controller in (
        DeploymentController(store),
        ReplicaSetController(store, random.Random(0)),
        Scheduler(store),
        Kubelet(store),
    ):
        assert isinstance(controller, Controller)
