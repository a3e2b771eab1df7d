"""The objects of a fresh kind cluster, field by field, and where CoreDNS lands."""

from __future__ import annotations

import random

import pytest

from k8s_service_lab.api import Deployment, Endpoints, EndpointSlice, Namespace, Node, Pod, Service
from k8s_service_lab.api.encode import to_dict
from k8s_service_lab.config import ClusterConfig, Networking, NodeConfig
from k8s_service_lab.controlplane.controllers import ControllerManager
from k8s_service_lab.controlplane.controllers.kubelet import Kubelet
from k8s_service_lab.controlplane.controllers.replicaset import ReplicaSetController
from k8s_service_lab.controlplane.controllers.scheduler import Scheduler
from k8s_service_lab.controlplane.controllers.workloads import DeploymentController
from k8s_service_lab.controlplane.store import Store
from k8s_service_lab.controlplane.system import (
    apiserver_endpoints,
    bootstrap_objects,
    joined_nodes,
    system_objects,
)

DEFAULT = ClusterConfig.default()


def by_kind(config: ClusterConfig = DEFAULT) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for obj in system_objects(config):
        out.setdefault(type(obj).KIND, []).append(obj)
    return out


def test_creation_order() -> None:
    names = [f"{type(o).KIND}/{o.metadata.name}" for o in system_objects(DEFAULT)]
    assert names == [
        "Namespace/default",
        "Namespace/kube-node-lease",
        "Namespace/kube-public",
        "Namespace/kube-system",
        "Namespace/local-path-storage",
        "Node/kind-control-plane",
        "Service/kubernetes",
        "Deployment/coredns",
        "Service/kube-dns",
        "Node/kind-worker",
        "Node/kind-worker2",
    ]


def test_namespaces() -> None:
    ns = by_kind()["Namespace"][3]
    assert isinstance(ns, Namespace)
    assert ns.metadata.labels == {"kubernetes.io/metadata.name": "kube-system"}


def test_control_plane_node() -> None:
    node = by_kind()["Node"][0]
    assert isinstance(node, Node)
    data = to_dict(node)
    assert data["metadata"]["labels"] == {  # type: ignore[index]
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": "kind-control-plane",
        "kubernetes.io/os": "linux",
        "node-role.kubernetes.io/control-plane": "",
        "node.kubernetes.io/exclude-from-external-load-balancers": "",
    }
    assert data["spec"] == {
        "podCIDR": "10.244.0.0/24",
        "podCIDRs": ["10.244.0.0/24"],
        "providerID": "kind://docker/kind/kind-control-plane",
        "taints": [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}],
    }
    assert [(a.type, a.address) for a in node.status.addresses] == [
        ("InternalIP", "172.18.0.2"),
        ("Hostname", "kind-control-plane"),
    ]
    assert ("Ready", "True") in [(c.type, c.status) for c in node.status.conditions]


def test_worker_node() -> None:
    worker = by_kind()["Node"][2]
    assert isinstance(worker, Node)
    assert worker.metadata.name == "kind-worker2"
    assert worker.spec.taints == ()
    assert worker.spec.pod_cidrs == ("10.244.2.0/24",)
    assert worker.internal_ips == ("172.18.0.4",)
    assert "node-role.kubernetes.io/control-plane" not in worker.metadata.labels


def test_single_node_cluster_is_untainted() -> None:
    (node,) = [o for o in system_objects(ClusterConfig()) if isinstance(o, Node)]
    assert node.spec.taints == ()


def test_kubernetes_service() -> None:
    svc = by_kind()["Service"][0]
    assert isinstance(svc, Service)
    assert (svc.metadata.namespace, svc.metadata.name) == ("default", "kubernetes")
    assert svc.metadata.labels == {"component": "apiserver", "provider": "kubernetes"}
    assert svc.spec.selector is None
    assert svc.spec.cluster_ip == "10.96.0.1"
    (port,) = svc.spec.ports
    assert (port.name, port.port, port.protocol, port.target_port) == ("https", 443, "TCP", 6443)


def test_apiserver_endpoints() -> None:
    slice_, endpoints = apiserver_endpoints(DEFAULT)
    assert isinstance(slice_, EndpointSlice)
    assert isinstance(endpoints, Endpoints)
    assert to_dict(slice_) == {
        "addressType": "IPv4",
        "apiVersion": "discovery.k8s.io/v1",
        "endpoints": [{"addresses": ["172.18.0.2"], "conditions": {"ready": True}}],
        "kind": "EndpointSlice",
        "metadata": {
            "labels": {"kubernetes.io/service-name": "kubernetes"},
            "name": "kubernetes",
            "namespace": "default",
        },
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
    }
    assert endpoints.metadata.labels == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    (subset,) = endpoints.subsets
    assert [a.ip for a in subset.addresses] == ["172.18.0.2"]
    assert [(p.name, p.port, p.protocol) for p in subset.ports] == [("https", 6443, "TCP")]


def test_ha_control_planes_all_listed() -> None:
    config = ClusterConfig(nodes=(NodeConfig(), NodeConfig(), NodeConfig("worker")))
    slice_, _ = apiserver_endpoints(config)
    assert isinstance(slice_, EndpointSlice)
    assert [e.addresses for e in slice_.endpoints] == [("172.18.0.2",), ("172.18.0.3",)]


def test_coredns_deployment() -> None:
    (d,) = by_kind()["Deployment"]
    assert isinstance(d, Deployment)
    assert (d.metadata.namespace, d.metadata.name, d.spec.replicas) == ("kube-system", "coredns", 2)
    assert d.metadata.labels == {"k8s-app": "kube-dns"}
    spec = d.spec.template.spec
    assert spec.node_selector == {"kubernetes.io/os": "linux"}
    assert [(t.key, t.operator, t.effect) for t in spec.tolerations] == [
        ("CriticalAddonsOnly", "Exists", None),
        ("node-role.kubernetes.io/control-plane", None, "NoSchedule"),
    ]
    ports = [(p.name, p.container_port, p.protocol) for p in spec.containers[0].ports]
    assert ports == [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]


def test_kube_dns_service() -> None:
    svc = by_kind()["Service"][1]
    assert isinstance(svc, Service)
    assert svc.metadata.labels == {
        "k8s-app": "kube-dns",
        "kubernetes.io/cluster-service": "true",
        "kubernetes.io/name": "CoreDNS",
    }
    assert svc.metadata.annotations == {
        "prometheus.io/port": "9153",
        "prometheus.io/scrape": "true",
    }
    assert svc.spec.cluster_ip == "10.96.0.10"
    assert svc.spec.selector == {"k8s-app": "kube-dns"}
    assert [(p.name, p.port, p.protocol, p.target_port) for p in svc.spec.ports] == [
        ("dns", 53, "UDP", 53),
        ("dns-tcp", 53, "TCP", 53),
        ("metrics", 9153, "TCP", 9153),
    ]


def test_dual_stack_nodes_and_slices() -> None:
    config = ClusterConfig(networking=Networking(ip_family="dual"))
    (node,) = [o for o in system_objects(config) if isinstance(o, Node)]
    assert len(node.spec.pod_cidrs) == 2
    assert len(node.internal_ips) == 2
    slice_, _ = apiserver_endpoints(config)
    assert isinstance(slice_, EndpointSlice)
    assert slice_.address_type == "IPv4"


@pytest.mark.parametrize("workers", [0, 2])
def test_coredns_lands_on_control_plane(workers: int) -> None:
    nodes = (NodeConfig(),) + (NodeConfig("worker"),) * workers
    config = ClusterConfig(nodes=nodes)
    store = Store()
    kubelet = Kubelet(store)
    manager = ControllerManager(
        store,
        [
            DeploymentController(store),
            ReplicaSetController(store, random.Random(0)),
            Scheduler(store),
            kubelet,
        ],
    )
    for obj in bootstrap_objects(config):
        store.create(obj)
    manager.run_until_idle()
    for obj in joined_nodes(config):
        store.create(obj)
    manager.run_until_idle()
    pods = store.list(Pod, "kube-system")
    assert len(pods) == 2
    assert {p.spec.node_name for p in pods} == {"kind-control-plane"}
    assert sorted(str(p.status.pod_ip) for p in pods) == ["10.244.0.2", "10.244.0.3"]
    assert all(p.status.ready for p in pods)
    assert all(str(p.metadata.name).startswith("coredns-") for p in pods)
