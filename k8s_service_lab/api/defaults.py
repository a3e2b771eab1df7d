"""v1 defaulting: the fields the apiserver fills in before it validates and stores an object.

These are the scheme's ``SetDefaults_*`` functions of Kubernetes v1.34 (``pkg/apis/core/v1``,
``pkg/apis/apps/v1``, ``pkg/apis/discovery/v1``), applied to our frozen resources. Each
returns a new object; nothing is changed in place. What the *registry* decides — ClusterIPs,
IP families, node ports — is the allocators' business, not defaulting's.

    >>> from k8s_service_lab.api.defaults import default_service
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> svc = default_service(Service(ObjectMeta(name="web"), ServiceSpec(
    ...     selector={"app": "web"}, ports=(ServicePort(port=80),))))
    >>> svc.spec.type, svc.spec.ports[0].protocol, svc.spec.ports[0].target_port
    ('ClusterIP', 'TCP', 80)
    >>> svc.spec.session_affinity, svc.spec.internal_traffic_policy
    ('None', 'Cluster')

Go's plain (non-pointer) fields cannot tell "empty" from "unset", so where Go tests
``== ""`` we test "``None`` or empty"; where Go tests a pointer for ``nil`` we test ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar, cast

from k8s_service_lab.api import Resource
from k8s_service_lab.api.discovery import EndpointPort, Endpoints, EndpointSlice
from k8s_service_lab.api.node import Namespace
from k8s_service_lab.api.pod import Container, ContainerPort, Pod, PodSpec, PodTemplateSpec
from k8s_service_lab.api.service import (
    DEFAULT_CLIENT_IP_TIMEOUT,
    LoadBalancerIngress,
    Service,
    ServicePort,
)
from k8s_service_lab.api.workloads import Deployment, DeploymentStrategy, ReplicaSet

__all__ = [
    "DEFAULT_NAMESPACE",
    "default_deployment",
    "default_endpoint_slice",
    "default_endpoints",
    "default_namespace",
    "default_object",
    "default_pod",
    "default_pod_spec",
    "default_replica_set",
    "default_service",
    "with_namespace",
]

#: The namespace a client puts a namespaced object in when the manifest names none.
DEFAULT_NAMESPACE = "default"
#: ``terminationGracePeriodSeconds`` when unset (``v1.DefaultTerminationGracePeriodSeconds``).
DEFAULT_TERMINATION_GRACE_PERIOD = 30

#: Any resource; the functions below give back the type they were given.
R = TypeVar("R", bound=Resource)


def default_object(resource: R) -> R:
    """Apply the v1 defaults of the resource's kind (a Node has none that we model)."""
    defaulter = _DEFAULTERS.get(type(resource))
    return resource if defaulter is None else cast(R, defaulter(resource))


def with_namespace(resource: R, namespace: str = DEFAULT_NAMESPACE) -> R:
    """Put a namespaced object in ``namespace`` unless its manifest names one.

    This is the client's step (``kubectl apply -n``), not the scheme's. A cluster-scoped
    object (Node, Namespace) has its namespace cleared, as the apiserver does on create.
    """
    meta = resource.metadata
    if not type(resource).NAMESPACED:
        if meta.namespace is None:
            return resource
        return replace(resource, metadata=replace(meta, namespace=None))
    if meta.namespace:
        return resource
    return replace(resource, metadata=replace(meta, namespace=namespace))


def default_service(svc: Service) -> Service:
    """``SetDefaults_Service``: type, affinity, ports, traffic policies, LB node ports, ipMode.

    ``externalTrafficPolicy`` is defaulted only for externally reachable Services (NodePort,
    LoadBalancer, or ClusterIP with ``externalIPs``), ``internalTrafficPolicy`` for every type
    but ExternalName, and a ``sessionAffinity: None`` Service loses any affinity config.
    """
    spec = svc.spec
    affinity = spec.session_affinity or "None"
    timeout = spec.client_ip_timeout_seconds
    if affinity == "None":
        timeout = None
    elif affinity == "ClientIP" and timeout is None:
        timeout = DEFAULT_CLIENT_IP_TIMEOUT
    kind = spec.type or "ClusterIP"
    externally_reachable = kind in ("NodePort", "LoadBalancer") or (
        kind == "ClusterIP" and bool(spec.external_ips)
    )
    etp = spec.external_traffic_policy
    if externally_reachable and not etp:
        etp = "Cluster"
    itp = spec.internal_traffic_policy
    if itp is None and kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        itp = "Cluster"
    allocate = spec.allocate_load_balancer_node_ports
    if kind == "LoadBalancer" and allocate is None:
        allocate = True
    status = svc.status
    if kind == "LoadBalancer":  # the LoadBalancerIPMode gate is GA (on) since v1.32
        ingress = tuple(_default_ingress(i) for i in status.load_balancer_ingress)
        status = replace(status, load_balancer_ingress=ingress)
    spec = replace(
        spec,
        type=kind,
        session_affinity=affinity,
        client_ip_timeout_seconds=timeout,
        ports=tuple(_default_service_port(p) for p in spec.ports),
        external_traffic_policy=etp,
        internal_traffic_policy=itp,
        allocate_load_balancer_node_ports=allocate,
    )
    return replace(svc, spec=spec, status=status)


def _default_service_port(port: ServicePort) -> ServicePort:
    target = port.target_port
    if target is None or target == 0 or target == "":  # Go: IntOrString 0 or ""
        target = port.port
    return replace(port, protocol=port.protocol or "TCP", target_port=target)


def _default_ingress(ingress: LoadBalancerIngress) -> LoadBalancerIngress:
    if ingress.ip and ingress.ip_mode is None:
        return replace(ingress, ip_mode="VIP")
    return ingress


def default_pod(pod: Pod) -> Pod:
    """``SetDefaults_Pod`` and ``SetDefaults_PodSpec``: port protocols, grace period, and
    for ``hostNetwork`` Pods ``hostPort`` = ``containerPort``.

    The host-port rule is the Pod's alone: since v1.28 pod *templates* keep their host ports
    unset (feature gate ``DefaultHostNetworkHostPortsInPodTemplates``, off).
    """
    spec = default_pod_spec(pod.spec)
    if spec.host_network:
        spec = replace(spec, containers=tuple(_host_ports(c) for c in spec.containers))
    return replace(pod, spec=spec)


def default_pod_spec(spec: PodSpec) -> PodSpec:
    """The defaults every pod spec gets, in a Pod or in a Deployment's template."""
    grace = spec.termination_grace_period_seconds
    return replace(
        spec,
        containers=tuple(_default_container(c) for c in spec.containers),
        termination_grace_period_seconds=DEFAULT_TERMINATION_GRACE_PERIOD
        if grace is None
        else grace,
    )


def _default_container(container: Container) -> Container:
    ports = tuple(replace(p, protocol=p.protocol or "TCP") for p in container.ports)
    return replace(container, ports=ports)


def _host_ports(container: Container) -> Container:
    def host(port: ContainerPort) -> ContainerPort:
        return port if port.host_port else replace(port, host_port=port.container_port)

    return replace(container, ports=tuple(host(p) for p in container.ports))


def _default_template(template: PodTemplateSpec) -> PodTemplateSpec:
    return replace(template, spec=default_pod_spec(template.spec))


def default_deployment(deployment: Deployment) -> Deployment:
    """``SetDefaults_Deployment``: 1 replica, RollingUpdate 25%/25%, 10 old ReplicaSets kept.

    ``progressDeadlineSeconds`` (600) is defaulted too by Kubernetes, but is not modelled.
    """
    spec = deployment.spec
    strategy = spec.strategy or DeploymentStrategy()
    if not strategy.type:
        strategy = replace(strategy, type="RollingUpdate")
    if strategy.type == "RollingUpdate":
        strategy = replace(
            strategy,
            max_unavailable="25%" if strategy.max_unavailable is None else strategy.max_unavailable,
            max_surge="25%" if strategy.max_surge is None else strategy.max_surge,
        )
    spec = replace(
        spec,
        replicas=1 if spec.replicas is None else spec.replicas,
        strategy=strategy,
        revision_history_limit=10
        if spec.revision_history_limit is None
        else spec.revision_history_limit,
        template=_default_template(spec.template),
    )
    return replace(deployment, spec=spec)


def default_replica_set(rs: ReplicaSet) -> ReplicaSet:
    """``SetDefaults_ReplicaSet``: 1 replica, and the pod template's defaults."""
    spec = replace(
        rs.spec,
        replicas=1 if rs.spec.replicas is None else rs.spec.replicas,
        template=_default_template(rs.spec.template),
    )
    return replace(rs, spec=spec)


def default_namespace(ns: Namespace) -> Namespace:
    """``SetDefaults_NamespaceStatus``: a new Namespace is ``Active``."""
    return ns if ns.phase else replace(ns, phase="Active")


def default_endpoint_slice(slice_: EndpointSlice) -> EndpointSlice:
    """discovery/v1 ``SetDefaults_EndpointPort``: port name ``""`` and protocol ``TCP``.

    That is why every EndpointSlice port shows ``name: ""`` when the Service port is unnamed.
    """

    def port(p: EndpointPort) -> EndpointPort:
        # Both are pointers in discovery/v1: only an absent value is defaulted.
        name = "" if p.name is None else p.name
        return replace(p, name=name, protocol="TCP" if p.protocol is None else p.protocol)

    return replace(slice_, ports=tuple(port(p) for p in slice_.ports))


def default_endpoints(ep: Endpoints) -> Endpoints:
    """core/v1 ``SetDefaults_Endpoints``: every subset port's protocol is ``TCP`` when unset."""
    subsets = tuple(
        replace(s, ports=tuple(replace(p, protocol=p.protocol or "TCP") for p in s.ports))
        for s in ep.subsets
    )
    return replace(ep, subsets=subsets)


_DEFAULTERS: Mapping[type, Callable[[Any], object]] = {
    Service: default_service,
    Pod: default_pod,
    Deployment: default_deployment,
    ReplicaSet: default_replica_set,
    Namespace: default_namespace,
    EndpointSlice: default_endpoint_slice,
    Endpoints: default_endpoints,
}
