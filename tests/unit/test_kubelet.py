"""Kubelet: start bound pods (phase, IPs, conditions), readiness from the manifest, release."""

from __future__ import annotations

import pytest

from k8s_service_lab.api import ObjectMeta, Pod
from k8s_service_lab.api.pod import PodCondition, PodSpec, PodStatus
from k8s_service_lab.config import ClusterConfig, Networking
from k8s_service_lab.controlplane.controllers import ControllerManager
from k8s_service_lab.controlplane.controllers.kubelet import READY_ANNOTATION, Kubelet
from k8s_service_lab.controlplane.store import Store
from k8s_service_lab.controlplane.system import node_object

KUBELET_ORDER = [
    ("PodReadyToStartContainers", "True"),
    ("Initialized", "True"),
    ("Ready", "True"),
    ("ContainersReady", "True"),
    ("PodScheduled", "True"),
]


def cluster(config: ClusterConfig | None = None) -> tuple[Store, Kubelet, ControllerManager]:
    config = config or ClusterConfig.default()
    store = Store()
    kubelet = Kubelet(store)
    manager = ControllerManager(store, [kubelet])
    for node in config.cluster_nodes:
        store.create(node_object(config, node))
    return store, kubelet, manager


def start(store: Store, manager: ControllerManager, pod: Pod) -> Pod:
    store.create(pod)
    manager.run_until_idle()
    return store.get(Pod, pod.metadata.namespace, str(pod.metadata.name))


def test_running_pod_status() -> None:
    store, _, manager = cluster()
    pod = start(
        store,
        manager,
        Pod(ObjectMeta(name="a", namespace="default"), PodSpec(node_name="kind-worker")),
    )
    assert pod.status.phase == "Running"
    assert (pod.status.pod_ip, pod.status.pod_ips) == ("10.244.1.2", ("10.244.1.2",))
    assert (pod.status.host_ip, pod.status.host_ips) == ("172.18.0.3", ("172.18.0.3",))
    assert [(c.type, c.status) for c in pod.status.conditions] == KUBELET_ORDER
    second = start(
        store,
        manager,
        Pod(ObjectMeta(name="b", namespace="default"), PodSpec(node_name="kind-worker")),
    )
    assert second.status.pod_ip == "10.244.1.3"


def test_unbound_pod_is_not_started() -> None:
    store, _, manager = cluster()
    pod = start(store, manager, Pod(ObjectMeta(name="a", namespace="default")))
    assert pod.status.phase is None
    assert pod.status.pod_ip is None


@pytest.mark.parametrize(
    "pod",
    [
        Pod(
            ObjectMeta(name="a", namespace="default", annotations={READY_ANNOTATION: "false"}),
            PodSpec(node_name="kind-worker"),
        ),
        Pod(
            ObjectMeta(name="a", namespace="default"),
            PodSpec(node_name="kind-worker"),
            PodStatus(conditions=(PodCondition("Ready", "False"),)),
        ),
    ],
)
def test_manifest_asks_not_ready(pod: Pod) -> None:
    store, kubelet, manager = cluster()
    started = start(store, manager, pod)
    assert started.status.phase == "Running"
    assert started.status.pod_ip == "10.244.1.2"
    assert not started.status.ready
    conditions = {c.type: c.status for c in started.status.conditions}
    assert conditions["Ready"] == conditions["ContainersReady"] == "False"
    assert kubelet.set_ready(started, True).status.ready
    assert not kubelet.set_ready(started, False).status.ready


def test_host_network_gets_node_ip() -> None:
    store, _, manager = cluster()
    pod = start(
        store,
        manager,
        Pod(
            ObjectMeta(name="h", namespace="kube-system"),
            PodSpec(node_name="kind-worker2", host_network=True),
        ),
    )
    assert pod.status.pod_ips == ("172.18.0.4",)
    assert pod.status.host_ip == "172.18.0.4"
    nxt = start(
        store,
        manager,
        Pod(ObjectMeta(name="n", namespace="default"), PodSpec(node_name="kind-worker2")),
    )
    assert nxt.status.pod_ip == "10.244.2.2"  # hostNetwork took nothing from the range


def test_ip_released_on_delete_and_reused_after_wrap() -> None:
    store, kubelet, manager = cluster()
    a = start(
        store,
        manager,
        Pod(ObjectMeta(name="a", namespace="default"), PodSpec(node_name="kind-worker")),
    )
    store.delete(Pod, "default", "a")
    manager.run_until_idle()
    ipam = kubelet.ipam.node("kind-worker")
    assert ipam is not None
    assert ipam.owners() == set()
    b = start(
        store,
        manager,
        Pod(ObjectMeta(name="a", namespace="default"), PodSpec(node_name="kind-worker")),
    )
    assert (a.status.pod_ip, b.status.pod_ip) == ("10.244.1.2", "10.244.1.3")


def test_dual_stack_pod_ips() -> None:
    config = ClusterConfig(networking=Networking(ip_family="dual"))
    store, _, manager = cluster(config)
    node = config.cluster_nodes[0].name
    pod = start(
        store, manager, Pod(ObjectMeta(name="a", namespace="default"), PodSpec(node_name=node))
    )
    assert len(pod.status.pod_ips) == 2
    assert pod.status.pod_ip == pod.status.pod_ips[0]
    assert ":" in pod.status.pod_ips[1]
    assert len(pod.status.host_ips) == 2
