"""Services → ``ServicePortMap``, and the tracker that accumulates Service changes between syncs.

:func:`service_ports` digests one ``v1`` Service for one IP family the way
``ServiceChangeTracker.serviceToServiceMap`` and ``newBaseServiceInfo`` do
(``pkg/proxy/servicechangetracker.go``, ``serviceport.go``); :class:`ServiceChangeTracker`
remembers, per Service, the port map as of the last sync and the newest one, and
:meth:`ServiceChangeTracker.apply` folds them into a new map, naming what changed::

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> svc = Service(ObjectMeta(name="web", namespace="default"),
    ...               ServiceSpec(type="ClusterIP", cluster_ip="10.96.0.20",
    ...                           cluster_ips=("10.96.0.20",), ip_families=("IPv4",),
    ...                           ports=(ServicePort(80, name="http", protocol="TCP"),)))
    >>> tracker = ServiceChangeTracker("IPv4")
    >>> tracker.update(None, svc)
    True
    >>> update = tracker.apply({})
    >>> port = update.changed_ports[0]
    >>> str(port), str(update.service_map[port])
    ('default/web:http', '10.96.0.20:80/TCP')
    >>> service_skip_reason(svc, "IPv6")
    'no IPv6 clusterIP'
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s_service_lab.api.service import (
    CLUSTER_IP_NONE,
    Service,
    ServiceAffinity,
    ServicePort,
    ServiceType,
    TrafficPolicy,
)
from k8s_service_lab.config import IP, Network
from k8s_service_lab.proxy.model import (
    DroppedValue,
    ServiceName,
    ServicePortInfo,
    ServicePortMap,
    ServicePortName,
    ip_family_of,
    parse_cidr_sloppy,
    parse_ip_sloppy,
)

__all__ = [
    "TOPOLOGY_MODE_ANNOTATIONS",
    "ServiceChangeTracker",
    "ServiceMapUpdate",
    "cluster_ip_for_family",
    "service_name",
    "service_ports",
    "service_skip_reason",
]

#: The topology-mode annotation, and its deprecated predecessor (read in that order).
TOPOLOGY_MODE_ANNOTATIONS = (
    "service.kubernetes.io/topology-mode",
    "service.kubernetes.io/topology-aware-hints",
)


def service_name(svc: Service) -> ServiceName:
    return ServiceName(svc.metadata.namespace or "default", svc.metadata.name or "")


def cluster_ip_for_family(svc: Service, family: str) -> str | None:
    """``proxyutil.GetClusterIPByFamily``: ``clusterIPs[i]`` where ``ipFamilies[i]`` matches.

    With no ``ipFamilies`` (a skewed apiserver) the legacy ``clusterIP`` is used if it is of
    the family.
    """
    spec = svc.spec
    if not spec.ip_families:
        if not spec.cluster_ip or spec.cluster_ip == CLUSTER_IP_NONE:
            return None
        ip = parse_ip_sloppy(spec.cluster_ip)
        is_v6 = ip is not None and ip.version == 6
        return spec.cluster_ip if is_v6 == (family == "IPv6") else None
    for i, fam in enumerate(spec.ip_families):
        if fam == family and i < len(spec.cluster_ips):
            return spec.cluster_ips[i]
    return None


def service_skip_reason(svc: Service, family: str) -> str | None:
    """Why this family's proxier ignores ``svc`` entirely, or ``None`` if it proxies it.

    ``proxyutil.ShouldSkipService`` (headless or unset ClusterIP; type ExternalName), then
    ``GetClusterIPByFamily`` (no ClusterIP of this family).
    """
    spec = svc.spec
    if not spec.cluster_ip or spec.cluster_ip == CLUSTER_IP_NONE:
        return f'clusterIP = "{spec.cluster_ip or ""}"'
    if spec.type == ServiceType.EXTERNAL_NAME:
        return "Type=ExternalName"
    if cluster_ip_for_family(svc, family) is None:
        return f"no {family} clusterIP"
    return None


def service_ports(svc: Service | None, family: str) -> dict[ServicePortName, ServicePortInfo]:
    """The ServicePortMap entries of one Service for one family (empty when skipped)."""
    if svc is None or service_skip_reason(svc, family) is not None:
        return {}
    name = service_name(svc)
    out: dict[ServicePortName, ServicePortInfo] = {}
    for port in svc.spec.ports:
        info = _port_info(svc, family, name, port)
        if info is not None:
            out[info.name] = info
    return out


def _port_info(
    svc: Service, family: str, name: ServiceName, port: ServicePort
) -> ServicePortInfo | None:
    spec = svc.spec
    dropped: list[DroppedValue] = []
    cluster_ip_text = cluster_ip_for_family(svc, family) or ""
    cluster_ip = parse_ip_sloppy(cluster_ip_text)
    if cluster_ip is None:
        return None  # the apiserver validated it; a corrupt store is not our business
    protocol = port.protocol or "TCP"
    affinity = spec.session_affinity or ServiceAffinity.NONE
    sticky = None
    if affinity == ServiceAffinity.CLIENT_IP:
        # The apiserver defaults the timeout; 10800 s if a hand-built object lacks it.
        sticky = spec.client_ip_timeout_seconds or 10800

    external_ips = _ips_of_family(spec.external_ips, family, "spec.externalIPs", dropped)
    ranges = _cidrs_of_family(
        [r.strip() for r in spec.load_balancer_source_ranges],
        family,
        "spec.loadBalancerSourceRanges",
        dropped,
    )
    vips: list[IP] = []
    for i, ingress in enumerate(svc.status.load_balancer_ingress):
        # proxyutil.IsVIPMode: an unset ipMode means VIP; Proxy-mode LBs deliver to node
        # ports themselves, so kube-proxy writes no rules for their IPs.
        if not ingress.ip or (ingress.ip_mode is not None and ingress.ip_mode != "VIP"):
            continue
        ip = parse_ip_sloppy(ingress.ip)
        if ip is None:
            where = f"status.loadBalancer.ingress[{i}].ip"
            dropped.append(DroppedValue(where, ingress.ip, "not a valid IP"))
        elif ip_family_of(ip) == family:
            vips.append(ip)

    external_local = _externally_accessible_type(svc) and (
        spec.external_traffic_policy == TrafficPolicy.LOCAL
    )
    health_check = None
    if spec.type == ServiceType.LOAD_BALANCER and external_local:
        health_check = spec.health_check_node_port  # None: upstream logs "no healthcheck nodeport"
    annotations = svc.metadata.annotations
    topology_mode = next(
        (annotations[a] for a in TOPOLOGY_MODE_ANNOTATIONS if a in annotations), None
    )
    return ServicePortInfo(
        name=ServicePortName(name.namespace, name.name, port.name or None, protocol),
        cluster_ip=cluster_ip,
        port=port.port,
        protocol=protocol,
        node_port=port.node_port or None,
        session_affinity=str(affinity),
        sticky_max_age_seconds=sticky,
        external_ips=tuple(external_ips),
        load_balancer_vips=tuple(vips),
        load_balancer_source_ranges=tuple(ranges),
        health_check_node_port=health_check or None,
        external_policy_local=external_local,
        internal_policy_local=spec.internal_traffic_policy == TrafficPolicy.LOCAL,
        traffic_distribution=spec.traffic_distribution,
        topology_mode=topology_mode,
        dropped=tuple(dropped),
    )


def _externally_accessible_type(svc: Service) -> bool:
    """``apiservice.ExternallyAccessible``: LB, NodePort, or ClusterIP with external IPs."""
    kind = svc.spec.type or ServiceType.CLUSTER_IP
    return kind in (ServiceType.LOAD_BALANCER, ServiceType.NODE_PORT) or (
        kind == ServiceType.CLUSTER_IP and bool(svc.spec.external_ips)
    )


def _ips_of_family(
    values: tuple[str, ...], family: str, where: str, dropped: list[DroppedValue]
) -> list[IP]:
    """``proxyutil.MapIPsByIPFamily``, then the family's share; invalid ones are recorded."""
    out = []
    for i, text in enumerate(values):
        ip = parse_ip_sloppy(text)
        if ip is None:
            dropped.append(DroppedValue(f"{where}[{i}]", text, "not a valid IP"))
        elif ip_family_of(ip) == family:
            out.append(ip)
    return out


def _cidrs_of_family(
    values: list[str], family: str, where: str, dropped: list[DroppedValue]
) -> list[Network]:
    out = []
    for i, text in enumerate(values):
        net = parse_cidr_sloppy(text)
        if net is None:
            dropped.append(DroppedValue(f"{where}[{i}]", text, "not a valid CIDR"))
        elif ip_family_of(net.network_address) == family:
            out.append(net)
    return out


@dataclass(frozen=True, slots=True)
class ServiceMapUpdate:
    """What :meth:`ServiceChangeTracker.apply` produced: the new map and what changed.

    ``updated_services`` is upstream's ``UpdateServiceMapResult.UpdatedServices``;
    ``changed_ports`` names every port of those Services before or after the change (a
    renamed port appears under both names), sorted.
    """

    service_map: ServicePortMap
    updated_services: frozenset[ServiceName]
    changed_ports: tuple[ServicePortName, ...]


class ServiceChangeTracker:
    """Per Service: the port map as of the last apply, and the newest one (KEP-3453).

    A change that ends where it started (add then delete before a sync) cancels out, as
    upstream drops an entry whose previous deep-equals its current.
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self._items: dict[ServiceName, tuple[ServicePortMap, ServicePortMap]] = {}

    def update(self, previous: Service | None, current: Service | None) -> bool:
        """Record one watch event; ``True`` if anything awaits the next sync."""
        svc = current if current is not None else previous
        if svc is None:
            return bool(self._items)
        name = service_name(svc)
        before = (
            self._items[name][0] if name in self._items else service_ports(previous, self.family)
        )
        after = service_ports(current, self.family)
        if before == after:
            self._items.pop(name, None)
        else:
            self._items[name] = (before, after)
        return bool(self._items)

    def pending(self) -> frozenset[ServiceName]:
        return frozenset(self._items)

    def apply(self, service_map: ServicePortMap) -> ServiceMapUpdate:
        """``ServicePortMap.Update``: merge every current, drop previous-minus-current; clear."""
        new = dict(service_map)
        changed: set[ServicePortName] = set()
        for previous, current in self._items.values():
            for port in previous:
                if port not in current:
                    new.pop(port, None)
            new.update(current)
            changed.update(previous, current)
        update = ServiceMapUpdate(
            new, frozenset(self._items), tuple(sorted(changed, key=ServicePortName.sort_key))
        )
        self._items = {}
        return update
