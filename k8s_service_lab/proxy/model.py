"""kube-proxy's digested Service and Endpoint model: what every backend reads, per IP family.

A proxier never looks at a ``v1.Service`` while it writes rules; it reads one
:class:`ServicePortInfo` per Service port (``pkg/proxy/serviceport.go``, BaseServicePortInfo)
and one list of :class:`EndpointInfo` per port name (``pkg/proxy/endpoint.go``), both keyed by
:class:`ServicePortName`::

    >>> from k8s_service_lab.proxy.model import EndpointInfo, ServicePortName
    >>> name = ServicePortName("default", "web", "http", "TCP")
    >>> str(name), str(ServicePortName("default", "web", None, "TCP"))
    ('default/web:http', 'default/web')
    >>> EndpointInfo("fd00:10:244:1::3", 8080, is_local=True).endpoint
    '[fd00:10:244:1::3]:8080'

Everything here is frozen and family-specific: a dual-stack node runs two proxiers, one per
family, and each sees only its family's ClusterIP, external IPs, LB VIPs and endpoints.
Backends wrap these values (chain names live in the backend), they never add fields.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from k8s_service_lab.config import IP, Network

__all__ = [
    "DroppedValue",
    "EndpointInfo",
    "EndpointsMap",
    "ServiceName",
    "ServicePortInfo",
    "ServicePortMap",
    "ServicePortName",
    "ip_family_of",
    "join_host_port",
    "parse_cidr_sloppy",
    "parse_ip_sloppy",
]


@dataclass(frozen=True, slots=True, order=True)
class ServiceName:
    """A Service's ``types.NamespacedName``; what partial syncs are keyed by upstream."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ServicePortName:
    """One load-balanced port of a Service: namespace, name, port *name* and protocol.

    ``str()`` is upstream's ``ServicePortName.String()``: ``ns/svc:port``, or ``ns/svc`` when
    the port is unnamed. The protocol is part of the key but not of the string (the chain-name
    hash appends it separately).
    """

    namespace: str
    name: str
    port_name: str | None
    protocol: str

    @property
    def service(self) -> ServiceName:
        return ServiceName(self.namespace, self.name)

    def sort_key(self) -> tuple[str, str, str, str]:
        """Namespace, name, port name, protocol: the order reports and tests list ports in."""
        return (self.namespace, self.name, self.port_name or "", self.protocol)

    def __str__(self) -> str:
        suffix = f":{self.port_name}" if self.port_name else ""
        return f"{self.namespace}/{self.name}{suffix}"


@dataclass(frozen=True, slots=True)
class DroppedValue:
    """A value kube-proxy ignored while digesting a Service, and why (upstream only logs it)."""

    field: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class ServicePortInfo:
    """One Service port as one family's proxier sees it (upstream ``BaseServicePortInfo``).

    ``None`` means absent: no node port, no health-check node port, no ClientIP affinity.
    """

    name: ServicePortName
    cluster_ip: IP
    port: int
    protocol: str
    node_port: int | None = None
    session_affinity: str = "None"
    #: ClientIP affinity's timeout; ``None`` unless ``session_affinity == "ClientIP"``.
    sticky_max_age_seconds: int | None = None
    external_ips: tuple[IP, ...] = ()
    #: ``status.loadBalancer.ingress[].ip`` of this family whose ipMode is VIP (or unset).
    load_balancer_vips: tuple[IP, ...] = ()
    load_balancer_source_ranges: tuple[Network, ...] = ()
    health_check_node_port: int | None = None
    external_policy_local: bool = False
    internal_policy_local: bool = False
    #: ``spec.trafficDistribution`` and the topology-mode annotation, for explanation only:
    #: kube-proxy trusts endpoint hints whenever they are present (topology.go).
    traffic_distribution: str | None = None
    topology_mode: str | None = None
    #: Values skipped as invalid (upstream logs "Skipping invalid IP" and carries on).
    dropped: tuple[DroppedValue, ...] = ()

    @property
    def externally_accessible(self) -> bool:
        """Reachable other than by ClusterIP: a node port, an LB VIP or an external IP."""
        return (
            self.node_port is not None or bool(self.load_balancer_vips) or bool(self.external_ips)
        )

    @property
    def uses_cluster_endpoints(self) -> bool:
        # eTP=Local still needs the cluster list: pods and the node short-circuit to it.
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (
            self.external_policy_local and self.externally_accessible
        )

    def __str__(self) -> str:
        """Upstream ``BaseServicePortInfo.String()``: ``IP:port/Protocol`` (no brackets)."""
        return f"{self.cluster_ip}:{self.port}/{self.protocol}"


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """One backend of one Service port (upstream ``BaseEndpointInfo``).

    ``ready`` unset in the slice counts as ready and ``serving`` unset as serving; only an
    explicit ``terminating: true`` is terminating (endpointslicecache.go).
    """

    ip: str
    port: int
    is_local: bool = False
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    zone_hints: frozenset[str] = field(default_factory=frozenset)
    node_hints: frozenset[str] = field(default_factory=frozenset)

    @property
    def endpoint(self) -> str:
        """``ip:port`` (``[ip]:port`` for IPv6): the string endpoints are sorted and keyed by."""
        return join_host_port(self.ip, self.port)

    @property
    def address(self) -> IP:
        return ipaddress.ip_address(self.ip)

    def __str__(self) -> str:
        return self.endpoint


#: ``ServicePortMap`` / ``EndpointsMap``: what a sync reads, keyed by port name.
ServicePortMap = Mapping[ServicePortName, ServicePortInfo]
EndpointsMap = Mapping[ServicePortName, tuple[EndpointInfo, ...]]


def join_host_port(host: str, port: int) -> str:
    """Go's ``net.JoinHostPort``: brackets around hosts containing a colon."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_ip_sloppy(text: str) -> IP | None:
    """``netutils.ParseIPSloppy``: like Go's old ``net.ParseIP``, ``None`` if invalid.

    Leading zeros in IPv4 octets are read as *decimal* (``010.0.0.1`` is 10.0.0.1), which
    Python's ``ipaddress`` refuses; an IPv4-mapped IPv6 address is an IPv4 address to Go.
    """
    parts = text.split(".")
    if ":" not in text and len(parts) == 4:
        if not all(p.isascii() and p.isdigit() and len(p) > 0 for p in parts):
            return None
        octets = [int(p) for p in parts]
        if any(o > 255 for o in octets):
            return None
        return ipaddress.IPv4Address(".".join(map(str, octets)))
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            return None  # Go's ParseIP does not take zones
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
    return ip


def parse_cidr_sloppy(text: str) -> Network | None:
    """``netutils.ParseCIDRSloppy``: the *masked* network (``10.0.0.5/24`` → 10.0.0.0/24)."""
    address, slash, prefix = text.partition("/")
    if not slash or not prefix.isascii() or not prefix.isdigit():
        return None
    ip = parse_ip_sloppy(address)
    if ip is None:
        return None
    bits = int(prefix)
    if ":" in address and ip.version == 4:
        # Go reads ::ffff:a.b.c.d/N as IPv4 with N-96 bits (N must reach 96).
        bits -= 96
        if bits < 0:
            return None
    if bits > ip.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{ip}/{bits}", strict=False)


def ip_family_of(ip: IP) -> str:
    """``IPv4`` or ``IPv6``, as ``spec.ipFamilies`` spells them."""
    return "IPv4" if ip.version == 4 else "IPv6"
