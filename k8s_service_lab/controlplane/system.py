"""The objects a fresh kind cluster already has before you apply anything.

kind runs ``kubeadm init`` on the control plane (namespaces, the control-plane Node, the
``default/kubernetes`` Service, CoreDNS and its ``kube-dns`` Service), installs its CNI, and
only then ``kubeadm join``\\ s the workers. CoreDNS pods are scheduled as soon as the
control-plane node is Ready — before the workers have joined — so on kind both CoreDNS pods
run on ``kind-control-plane`` even in a multi-node cluster (the pod template's toleration lets
them, and its anti-affinity is only *preferred*). To reproduce that, create
:func:`bootstrap_objects`, let the controllers settle, then create :func:`joined_nodes`;
:func:`system_objects` is the two in that order::

    >>> from k8s_service_lab.config import ClusterConfig
    >>> from k8s_service_lab.controlplane.system import system_objects
    >>> [f"{type(o).KIND}/{o.metadata.name}" for o in system_objects(ClusterConfig.default())][5:]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['Node/kind-control-plane', 'Service/kubernetes', 'Deployment/coredns',
     'Service/kube-dns', 'Node/kind-worker', 'Node/kind-worker2']

The ``default/kubernetes`` EndpointSlice and Endpoints are not created by a user but written
by kube-apiserver's endpoint reconciler (``pkg/controlplane/reconcilers``):
:func:`apiserver_endpoints` returns them.
"""

from __future__ import annotations

from k8s_service_lab.api import Resource
from k8s_service_lab.api.discovery import (
    Endpoint,
    EndpointAddress,
    EndpointConditions,
    EndpointPort,
    Endpoints,
    EndpointSlice,
    EndpointSubset,
)
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.node import (
    Namespace,
    Node,
    NodeAddress,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    Taint,
)
from k8s_service_lab.api.pod import Container, ContainerPort, PodSpec, PodTemplateSpec, Toleration
from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
from k8s_service_lab.api.workloads import Deployment, DeploymentSpec, DeploymentStrategy
from k8s_service_lab.config import ClusterConfig, ClusterNode
from k8s_service_lab.labels import LabelSelector

__all__ = [
    "APISERVER_PORT",
    "CONTROL_PLANE_TAINT",
    "COREDNS_IMAGE",
    "SYSTEM_NAMESPACES",
    "apiserver_endpoints",
    "bootstrap_objects",
    "coredns_deployment",
    "joined_nodes",
    "kube_dns_service",
    "kubernetes_service",
    "namespaces",
    "node_object",
    "system_objects",
]

SYSTEM_NAMESPACES = (
    "default",
    "kube-node-lease",
    "kube-public",
    "kube-system",
    "local-path-storage",
)
#: kube-apiserver's ``--secure-port`` on a kind node (the Service's targetPort).
APISERVER_PORT = 6443
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
CONTROL_PLANE_TAINT = Taint(CONTROL_PLANE_LABEL, "NoSchedule")
#: kubeadm v1.34's ``constants.CoreDNSVersion``.
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.12.1"
#: What kubeadm and kubelet annotate a kind node with.
NODE_ANNOTATIONS = {
    "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
    "node.alpha.kubernetes.io/ttl": "0",
    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
}


def namespaces() -> list[Namespace]:
    """The five namespaces, each with ``kubernetes.io/metadata.name`` (set by the apiserver)."""
    return [
        Namespace(ObjectMeta(name=n, labels={"kubernetes.io/metadata.name": n}), phase="Active")
        for n in SYSTEM_NAMESPACES
    ]


def node_object(config: ClusterConfig, node: ClusterNode) -> Node:
    """A kind node as ``kubectl get node -o yaml`` shows it (the parts that matter here)."""
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
    }
    if node.is_control_plane:
        labels[CONTROL_PLANE_LABEL] = ""
        labels[EXCLUDE_LB_LABEL] = ""
    labels.update(node.labels)
    cidrs = tuple(str(c) for c in node.pod_cidrs)
    addresses = tuple(NodeAddress("InternalIP", str(ip)) for ip in node.addresses)
    return Node(
        ObjectMeta(name=node.name, labels=labels, annotations=dict(NODE_ANNOTATIONS)),
        NodeSpec(
            pod_cidr=cidrs[0] if cidrs else None,
            pod_cidrs=cidrs,
            taints=(CONTROL_PLANE_TAINT,) if node.tainted else (),
            provider_id=f"kind://docker/{config.name}/{node.name}",
        ),
        NodeStatus(
            addresses=(*addresses, NodeAddress("Hostname", node.name)),
            conditions=(
                NodeCondition("MemoryPressure", "False"),
                NodeCondition("DiskPressure", "False"),
                NodeCondition("PIDPressure", "False"),
                NodeCondition("Ready", "True"),
            ),
        ),
    )


def kubernetes_service(config: ClusterConfig) -> Service:
    """``default/kubernetes`` as kube-apiserver's controller creates it: selectorless."""
    return Service(
        ObjectMeta(
            name="kubernetes",
            namespace="default",
            labels={"component": "apiserver", "provider": "kubernetes"},
        ),
        ServiceSpec(
            type="ClusterIP",
            cluster_ip=config.kubernetes_service_ip,
            cluster_ips=(config.kubernetes_service_ip,),
            ports=(ServicePort(443, name="https", protocol="TCP", target_port=APISERVER_PORT),),
            session_affinity="None",
        ),
    )


def _apiserver_ips(config: ClusterConfig) -> list[str]:
    # Each control-plane node's apiserver advertises its primary-family InternalIP; the
    # reconciler keeps them as a sorted set (sets.List).
    family = 4 if config.primary_family == "IPv4" else 6
    ips = {
        str(ip)
        for node in config.cluster_nodes
        if node.is_control_plane
        for ip in node.addresses
        if ip.version == family
    }
    return sorted(ips)


def apiserver_endpoints(config: ClusterConfig) -> list[Resource]:
    """The ``kubernetes`` EndpointSlice and Endpoints, as ``EndpointsAdapter.Sync`` writes them.

    The slice is named ``kubernetes`` (no generateName), labelled only
    ``kubernetes.io/service-name: kubernetes`` — no managed-by label, no owner — with
    ``ready: true`` alone in its conditions. The Endpoints carries
    ``endpointslice.kubernetes.io/skip-mirror: "true"`` so the mirroring controller leaves it.
    """
    ips = _apiserver_ips(config)
    port = EndpointPort(name="https", protocol="TCP", port=APISERVER_PORT)
    slice_ = EndpointSlice(
        ObjectMeta(
            name="kubernetes",
            namespace="default",
            labels={"kubernetes.io/service-name": "kubernetes"},
        ),
        address_type=config.primary_family,
        endpoints=tuple(Endpoint((ip,), EndpointConditions(ready=True)) for ip in ips),
        ports=(port,),
    )
    endpoints = Endpoints(
        ObjectMeta(
            name="kubernetes",
            namespace="default",
            labels={"endpointslice.kubernetes.io/skip-mirror": "true"},
        ),
        subsets=(
            EndpointSubset(addresses=tuple(EndpointAddress(ip) for ip in ips), ports=(port,)),
        ),
    )
    return [slice_, endpoints]


def coredns_deployment() -> Deployment:
    """kubeadm's CoreDNS Deployment (the fields this library models).

    Not modelled: the preferred pod anti-affinity on ``k8s-app=kube-dns`` by hostname
    (weight 100), ``priorityClassName: system-cluster-critical``, probes, volumes, resources.
    """
    labels = {"k8s-app": "kube-dns"}
    container = Container(
        "coredns",
        image=COREDNS_IMAGE,
        args=("-conf", "/etc/coredns/Corefile"),
        ports=(
            ContainerPort(53, name="dns", protocol="UDP"),
            ContainerPort(53, name="dns-tcp", protocol="TCP"),
            ContainerPort(9153, name="metrics", protocol="TCP"),
        ),
    )
    spec = PodSpec(
        containers=(container,),
        node_selector={"kubernetes.io/os": "linux"},
        tolerations=(
            Toleration(key="CriticalAddonsOnly", operator="Exists"),
            Toleration(key=CONTROL_PLANE_LABEL, effect="NoSchedule"),
        ),
    )
    return Deployment(
        ObjectMeta(name="coredns", namespace="kube-system", labels=dict(labels)),
        DeploymentSpec(
            replicas=2,
            selector=LabelSelector(dict(labels)),
            template=PodTemplateSpec(ObjectMeta(labels=dict(labels)), spec),
            strategy=DeploymentStrategy(type="RollingUpdate", max_unavailable=1),
        ),
    )


def kube_dns_service(config: ClusterConfig) -> Service:
    """``kube-system/kube-dns``: the cluster DNS Service at index 10 of the service range."""
    return Service(
        ObjectMeta(
            name="kube-dns",
            namespace="kube-system",
            labels={
                "k8s-app": "kube-dns",
                "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS",
            },
            annotations={"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        ),
        ServiceSpec(
            selector={"k8s-app": "kube-dns"},
            cluster_ip=config.dns_service_ip,
            ports=(
                ServicePort(53, name="dns", protocol="UDP", target_port=53),
                ServicePort(53, name="dns-tcp", protocol="TCP", target_port=53),
                ServicePort(9153, name="metrics", protocol="TCP", target_port=9153),
            ),
        ),
    )


def bootstrap_objects(config: ClusterConfig) -> list[Resource]:
    """``kubeadm init``: namespaces, control-plane Nodes, kubernetes, CoreDNS, kube-dns."""
    control = [node_object(config, n) for n in config.cluster_nodes if n.is_control_plane]
    return [
        *namespaces(),
        *control,
        kubernetes_service(config),
        coredns_deployment(),
        kube_dns_service(config),
    ]


def joined_nodes(config: ClusterConfig) -> list[Resource]:
    """``kubeadm join``: the worker Nodes, in config order."""
    return [node_object(config, n) for n in config.cluster_nodes if not n.is_control_plane]


def system_objects(config: ClusterConfig) -> list[Resource]:
    """Everything to create through the API, in creation order (settle before the workers)."""
    return [*bootstrap_objects(config), *joined_nodes(config)]
