"""What a Service's EndpointSlices should say: Pod → endpoint, target ports, labels, hints.

Mirrors upstream ``k8s.io/endpointslice`` ``utils.go`` (podToEndpoint, getEndpointPorts,
FindPort, setEndpointSliceLabels, getAddressTypesForService), ``util/controller_utils.go``
(ShouldPodBeInEndpoints, EndpointsEqualBeyondHash) and ``trafficdist/trafficdist.go``::

    >>> from k8s_service_lab.api import ObjectMeta, Pod, Service
    >>> from k8s_service_lab.api.pod import PodCondition, PodSpec, PodStatus
    >>> from k8s_service_lab.api.service import ServicePort, ServiceSpec
    >>> spec = ServiceSpec(selector={"app": "web"}, ports=(ServicePort(80, target_port=8080),))
    >>> svc = Service(ObjectMeta(name="web", namespace="default", uid="u1"), spec)
    >>> pod = Pod(ObjectMeta(name="web-0", namespace="default", uid="p1"), PodSpec(node_name="n1"),
    ...           PodStatus(pod_ip="10.244.1.5", conditions=(PodCondition("Ready", "True"),)))
    >>> ep = pod_to_endpoint(pod, None, svc, "IPv4")
    >>> ep.addresses, ep.conditions.ready, ep.conditions.serving, ep.conditions.terminating
    (('10.244.1.5',), True, True, False)
    >>> [(p.name, p.port, p.protocol) for p in endpoint_ports(svc, pod)]
    [('', 8080, 'TCP')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from k8s_service_lab.api import EndpointSlice, Node, Pod, Service
from k8s_service_lab.api.discovery import (
    Endpoint,
    EndpointConditions,
    EndpointHints,
    EndpointPort,
    ObjectReference,
)
from k8s_service_lab.api.service import CLUSTER_IP_NONE, ServicePort, TrafficDistribution

__all__ = [
    "ANNOTATION_TRIGGER_TIME",
    "CONTROLLER_NAME",
    "LABEL_HEADLESS",
    "LABEL_MANAGED_BY",
    "LABEL_SERVICE_NAME",
    "LABEL_ZONE",
    "EndpointKey",
    "PortKey",
    "address_types",
    "apply_hints",
    "endpoint_key",
    "endpoint_ports",
    "endpoints_equal_beyond_key",
    "find_port",
    "hints_need_update",
    "is_pod_ready",
    "pod_in_endpoints",
    "pod_ips",
    "pod_to_endpoint",
    "port_key",
    "reconcile_hints",
    "should_set_hostname",
    "slice_labels",
    "topology_hints_annotated",
]

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_ZONE = "topology.kubernetes.io/zone"
ANNOTATION_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
_TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
_TOPOLOGY_AWARE_HINTS = "service.kubernetes.io/topology-aware-hints"
_RESERVED_LABELS = frozenset({LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS})
_CLOSE = frozenset(t.value for t in TrafficDistribution)
#: The eight condition combinations, built once: endpoints share them (they are frozen).
_CONDITIONS = {
    (r, s, t): EndpointConditions(r, s, t)
    for r in (False, True)
    for s in (False, True)
    for t in (False, True)
}

#: An endpoint's identity within a port group: sorted addresses, hostname, Pod namespace/name
#: (upstream ``util/endpointset.go`` hashEndpoint).
EndpointKey = tuple[tuple[str, ...], str | None, str | None, str | None]
#: A port list's identity regardless of order (upstream ``NewPortMapKey``).
PortKey = tuple[tuple[str, int, str, str], ...]


def is_pod_ready(pod: Pod) -> bool:
    return pod.status.ready


def pod_ips(pod: Pod) -> tuple[str, ...]:
    """``status.podIPs``, falling back to ``status.podIP`` when only that one is written."""
    if pod.status.pod_ips:
        return pod.status.pod_ips
    return (pod.status.pod_ip,) if pod.status.pod_ip else ()


def pod_in_endpoints(pod: Pod, *, include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: not Succeeded/Failed, has an IP, terminating only if asked."""
    if pod.status.phase in ("Succeeded", "Failed"):
        return False
    if not pod_ips(pod):
        return False
    return include_terminating or pod.metadata.deletion_timestamp is None


def _family(ip: str) -> str:
    # Pod IPs in the model are already canonical text, so a colon is the whole test.
    return "IPv6" if ":" in ip else "IPv4"


def address_types(service: Service) -> tuple[str, ...]:
    """getAddressTypesForService: ``ipFamilies``; else the ClusterIP's family; else both."""
    found = {f for f in service.spec.ip_families if f in ("IPv4", "IPv6")}
    if not found:
        cluster_ip = service.spec.cluster_ip
        if cluster_ip and cluster_ip != CLUSTER_IP_NONE:
            found = {_family(cluster_ip)}
        else:
            # Upstream assumes dual-stack for a headless Service whose families are unknown.
            found = {"IPv4", "IPv6"}
    return tuple(sorted(found))


def find_port(pod: Pod, port: ServicePort) -> int | None:
    """FindPort: an int targetPort as is; a name → the first container port of that name and
    protocol (``None`` when no container has it, so the port is left out for this Pod)."""
    target = port.target_port if port.target_port is not None else port.port
    if isinstance(target, int):
        return target
    protocol = port.protocol or "TCP"
    for container in pod.spec.containers:
        for cport in container.ports:
            if cport.name == target and (cport.protocol or "TCP") == protocol:
                return cport.container_port
    return None


def endpoint_ports(service: Service, pod: Pod) -> tuple[EndpointPort, ...]:
    """getEndpointPorts: one entry per Service port this Pod resolves, in Service order.

    ``name`` is the Service port's name, ``""`` when unnamed: upstream always writes the
    field, so real slices show ``name: ""``.
    """
    ports = []
    for sport in service.spec.ports:
        number = find_port(pod, sport)
        if number is None:
            continue
        ports.append(
            EndpointPort(sport.name or "", sport.protocol or "TCP", number, sport.app_protocol)
        )
    return tuple(ports)


def port_key(ports: Iterable[EndpointPort]) -> PortKey:
    return tuple(
        sorted(
            (
                p.name or "",
                p.port if p.port is not None else -1,
                p.protocol or "",
                p.app_protocol or "",
            )
            for p in ports
        )
    )


def should_set_hostname(pod: Pod, service: Service) -> bool:
    """ShouldSetHostname: ``spec.hostname`` set and ``spec.subdomain`` names this Service.

    Upstream does not ask whether the Service is headless; only DNS cares about that.
    """
    return (
        bool(pod.spec.hostname)
        and pod.spec.subdomain == service.metadata.name
        and pod.metadata.namespace == service.metadata.namespace
    )


def pod_to_endpoint(pod: Pod, node: Node | None, service: Service, address_type: str) -> Endpoint:
    """podToEndpoint: the truth table of control-plane.md §5.3."""
    serving = pod.status.ready
    terminating = pod.metadata.deletion_timestamp is not None
    # Ready never reports a terminating Pod, unless the Service publishes not-ready addresses.
    ready = bool(service.spec.publish_not_ready_addresses) or (serving and not terminating)
    zone = node.metadata.labels.get(LABEL_ZONE) if node is not None else None
    want_v6 = address_type == "IPv6"
    meta = pod.metadata
    return Endpoint(
        tuple(ip for ip in pod_ips(pod) if (":" in ip) == want_v6),
        _CONDITIONS[ready, serving, terminating],
        pod.spec.hostname if pod.spec.hostname and should_set_hostname(pod, service) else None,
        ObjectReference("Pod", meta.namespace, meta.name, meta.uid),
        pod.spec.node_name or None,
        zone or None,
    )


def endpoint_key(endpoint: Endpoint) -> EndpointKey:
    ref = endpoint.target_ref
    return (
        tuple(sorted(endpoint.addresses)),
        endpoint.hostname,
        ref.namespace if ref is not None else None,
        ref.name if ref is not None else None,
    )


def endpoints_equal_beyond_key(a: Endpoint, b: Endpoint) -> bool:
    """EndpointsEqualBeyondHash: nodeName, zone, conditions, targetRef (minus its RV).

    Hints are not compared: the hint pass after packing puts them right.
    """
    if a.node_name != b.node_name or a.zone != b.zone or a.conditions != b.conditions:
        return False
    ref_a, ref_b = a.target_ref, b.target_ref
    if ref_a is None or ref_b is None:
        return ref_a is ref_b
    return replace(ref_a, resource_version=None) == replace(ref_b, resource_version=None)


def slice_labels(current: Mapping[str, str], service: Service) -> tuple[dict[str, str], bool]:
    """setEndpointSliceLabels: the Service's labels plus the reserved three, and whether the
    non-reserved labels differ from ``current`` (a change of only the headless label does not
    count, as upstream)."""
    mine = {k: v for k, v in current.items() if k not in _RESERVED_LABELS}
    wanted = {k: v for k, v in service.metadata.labels.items() if k not in _RESERVED_LABELS}
    changed = mine != wanted
    cluster_ip = service.spec.cluster_ip
    if not cluster_ip or cluster_ip == CLUSTER_IP_NONE:
        wanted[LABEL_HEADLESS] = ""
    wanted[LABEL_SERVICE_NAME] = service.metadata.name or ""
    wanted[LABEL_MANAGED_BY] = CONTROLLER_NAME
    return wanted, changed


# -- hints (trafficdist.ReconcileHints) ------------------------------------------------------


def _wanted_hints(endpoint: Endpoint, same_node: bool) -> EndpointHints | None:
    zones = (endpoint.zone,) if endpoint.zone is not None else ()
    nodes = (endpoint.node_name,) if same_node and endpoint.node_name is not None else ()
    return EndpointHints(zones, nodes) if zones or nodes else None


def _heuristic(traffic_distribution: str | None) -> bool | None:
    """``None``: strip hints; ``False``: zone hints; ``True``: zone and node hints."""
    if traffic_distribution not in _CLOSE:
        return None
    return traffic_distribution == TrafficDistribution.PREFER_SAME_NODE


def hints_need_update(slice_: EndpointSlice, traffic_distribution: str | None) -> bool:
    """needsUpdate of the heuristic the Service's trafficDistribution picks."""
    same_node = _heuristic(traffic_distribution)
    for ep in slice_.endpoints:
        if same_node is None:
            if ep.hints is not None:
                return True
        elif ep.conditions.ready and ep.hints != _wanted_hints(ep, same_node):
            return True
    return False


def apply_hints(
    endpoints: tuple[Endpoint, ...], traffic_distribution: str | None
) -> tuple[Endpoint, ...]:
    """update of the heuristic: hints on ready endpoints (their own zone / node), or none.

    Returns ``endpoints`` itself when no endpoint changes.
    """
    same_node = _heuristic(traffic_distribution)
    result = []
    changed = False
    for ep in endpoints:
        if same_node is None:
            hints = None
        elif not ep.conditions.ready:
            hints = ep.hints  # not-ready endpoints keep whatever they had
        else:
            hints = _wanted_hints(ep, same_node)
        if ep.hints != hints:
            ep = replace(ep, hints=hints)
            changed = True
        result.append(ep)
    return tuple(result) if changed else endpoints


def topology_hints_annotated(service: Service) -> bool:
    """hintsEnabled: the deprecated annotation wins over ``topology-mode``; Auto or auto."""
    notes = service.metadata.annotations
    value = notes.get(_TOPOLOGY_AWARE_HINTS, notes.get(_TOPOLOGY_MODE))
    return value in ("Auto", "auto")


def reconcile_hints(
    service: Service,
    creates: list[EndpointSlice],
    updates: list[EndpointSlice],
    unchanged: list[EndpointSlice],
) -> tuple[list[EndpointSlice], list[EndpointSlice], list[EndpointSlice]]:
    """trafficdist.ReconcileHints (or hint removal when no hint mechanism applies).

    The topology-mode annotation needs the CPU-proportional topology cache, which we do not
    model; we take its outcome on a single-zone cluster such as kind's: hints removed.
    """
    distribution = None if topology_hints_annotated(service) else service.spec.traffic_distribution
    kept = []
    for current in unchanged:
        if hints_need_update(current, distribution):
            updates.append(current)
        else:
            kept.append(current)
    return (
        [_hinted(s, distribution) for s in creates],
        [_hinted(s, distribution) for s in updates],
        kept,
    )


def _hinted(slice_: EndpointSlice, distribution: str | None) -> EndpointSlice:
    endpoints = apply_hints(slice_.endpoints, distribution)
    if endpoints is slice_.endpoints:
        return slice_
    return EndpointSlice(slice_.metadata, slice_.address_type, endpoints, slice_.ports)
