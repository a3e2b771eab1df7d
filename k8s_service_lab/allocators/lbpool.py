"""Where LoadBalancer IPs come from on a kind cluster: MetalLB's pool, or cloud-provider-kind.

Kubernetes itself hands out no LoadBalancer address; an implementation watching the Services
does. Two are common on kind, and a pool models either (``style=``):

- ``"metallb"`` (the default) — MetalLB's allocator (``internal/allocator/allocator.go``): an
  ``IPAddressPool`` of CIDRs or ``first-last`` ranges, the **lowest free** address first; a
  requested address (annotation ``metallb.io/loadBalancerIPs`` or the older
  ``metallb.universe.tf/loadBalancerIPs``, else the deprecated ``spec.loadBalancerIP``) when it
  is in the pool and free; Services with the same ``allow-shared-ip`` key may share an address
  when their ports do not overlap. The status carries only ``ip`` (the apiserver defaults
  ``ipMode: VIP``). The default pool is the range MetalLB's kind guides use,
  ``172.18.255.200-172.18.255.250`` on the kind docker network.
- ``"cloud-provider-kind"`` — one Envoy container per Service on the ``kind`` docker network
  (``pkg/loadbalancer/server.go``): its address is the next free one after the gateway and
  the node containers; requests and sharing are not honoured; the status reports
  ``ipMode: Proxy`` and the Service's ports.

An exhausted pool raises :class:`LoadBalancerPoolError` with MetalLB's words; the Service then
stays ``<pending>`` (``status.loadBalancer: {}``), as on a real cluster::

    >>> from k8s_service_lab.allocators.lbpool import LoadBalancerPool
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> from k8s_service_lab.config import ClusterConfig
    >>> pool = LoadBalancerPool.for_cluster(ClusterConfig.default())
    >>> web = Service(ObjectMeta(name="web", namespace="default"), ServiceSpec(
    ...     type="LoadBalancer", ip_families=("IPv4",), ports=(ServicePort(80, protocol="TCP"),)))
    >>> pool.assign(web), pool.ip_mode
    (('172.18.255.200',), 'VIP')
    >>> kind = LoadBalancerPool.for_cluster(ClusterConfig.default(), style="cloud-provider-kind")
    >>> kind.assign(web), kind.ip_mode           # after 172.18.0.1 (gateway) and .2-.4 (nodes)
    (('172.18.0.5',), 'Proxy')
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from k8s_service_lab.api.service import (
    IPFamilyPolicy,
    LoadBalancerIngress,
    LoadBalancerIPMode,
    PortStatus,
    Service,
)
from k8s_service_lab.config import IP, KIND_NETWORKS, ClusterConfig
from k8s_service_lab.errors import ServiceLabError

__all__ = [
    "DEFAULT_METALLB_RANGES",
    "LB_IPS_ANNOTATIONS",
    "SHARED_IP_ANNOTATIONS",
    "STYLES",
    "AddressRange",
    "LoadBalancerPool",
    "LoadBalancerPoolError",
]

STYLES = ("metallb", "cloud-provider-kind")
#: What MetalLB's kind guides configure, on the kind docker network; the IPv6 range is this
#: project's counterpart at the same offsets of the kind network's IPv6 /64.
DEFAULT_METALLB_RANGES = {
    4: "172.18.255.200-172.18.255.250",
    6: "fc00:f853:ccd:e793::ff:c8-fc00:f853:ccd:e793::ff:fa",
}
#: Requested addresses, newest annotation first (``metallb.universe.tf`` is the old prefix).
LB_IPS_ANNOTATIONS = ("metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs")
SHARED_IP_ANNOTATIONS = ("metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip")


class LoadBalancerPoolError(ServiceLabError):
    """No address for a Service (``no available IPs``, ``"1.2.3.4" is not allowed in config``)."""


@dataclass(frozen=True, slots=True)
class AddressRange:
    """An inclusive address range, written as a CIDR or as ``first-last``."""

    first: IP
    last: IP

    @classmethod
    def parse(cls, text: str) -> AddressRange:
        text = text.strip()
        if "-" in text:
            first, last = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
        else:
            network = ipaddress.ip_network(text, strict=False)
            first, last = network.network_address, network.broadcast_address
        if first.version != last.version or first > last:  # type: ignore[operator]
            raise ValueError(f"invalid address range {text!r}")
        return cls(first, last)

    @property
    def version(self) -> int:
        return self.first.version

    def __contains__(self, ip: object) -> bool:
        return (
            isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
            and ip.version == self.version
            and self.first <= ip <= self.last  # type: ignore[operator]
        )

    def __iter__(self) -> Iterator[IP]:
        at = int(self.first)
        while at <= int(self.last):
            yield ipaddress.ip_address(at)
            at += 1

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


@dataclass(slots=True)
class _Holder:
    """One Service's use of one address: its sharing key and its (protocol, port) pairs."""

    sharing: str | None
    ports: frozenset[tuple[str, int]] = field(default_factory=frozenset)


class LoadBalancerPool:
    """Addresses for LoadBalancer Services, MetalLB- or cloud-provider-kind-style."""

    def __init__(
        self,
        ranges: Sequence[str],
        *,
        style: str = "metallb",
        reserved: Iterable[IP] = (),
        name: str = "default",
    ) -> None:
        """``ranges``: CIDRs or ``first-last``; ``reserved``: addresses never handed out."""
        if style not in STYLES:
            raise ValueError(f"unknown load-balancer style {style!r}; choose from {STYLES}")
        self.style = style
        self.name = name
        self.ranges = tuple(AddressRange.parse(r) for r in ranges)
        self._reserved = frozenset(reserved)
        self._by_service: dict[str, tuple[IP, ...]] = {}
        self._users: dict[IP, dict[str, _Holder]] = {}

    @classmethod
    def for_cluster(cls, config: ClusterConfig, style: str = "metallb") -> LoadBalancerPool:
        """The pool a fresh kind cluster of ``config`` would have with that implementation."""
        versions = [cidr.version for cidr in config.service_cidrs]
        if style == "metallb":
            return cls([DEFAULT_METALLB_RANGES[v] for v in versions], style=style)
        # Docker's kind network: .1 is the gateway, then one address per node container, and
        # one more for kind's external load balancer when there are several control planes.
        networks = [n for v in versions for n in KIND_NETWORKS if n.version == v]
        taken = len(config.cluster_nodes)
        if sum(node.is_control_plane for node in config.cluster_nodes) > 1:
            taken += 1
        ranges = [f"{n.network_address + 2 + taken}-{n.broadcast_address - 1}" for n in networks]
        reserved = [n.network_address + 1 + i for n in networks for i in range(taken + 1)]
        return cls(ranges, style=style, reserved=reserved)

    @property
    def ip_mode(self) -> str:
        """``VIP`` (MetalLB announces the address itself) or ``Proxy`` (Envoy in front)."""
        if self.style == "metallb":
            return LoadBalancerIPMode.VIP.value
        return LoadBalancerIPMode.PROXY.value

    def used(self) -> frozenset[IP]:
        """Every address held by at least one Service."""
        return frozenset(self._users)

    def assigned(self, namespace: str | None, name: str) -> tuple[str, ...]:
        """The addresses a Service holds (primary family first), or ``()``."""
        return tuple(str(ip) for ip in self._by_service.get(f"{namespace}/{name}", ()))

    def assign(self, svc: Service) -> tuple[str, ...]:
        """Addresses for ``svc``, one per IP family it has; kept when already assigned and
        still valid. Raises :class:`LoadBalancerPoolError` (holding nothing) when it cannot."""
        key = f"{svc.metadata.namespace}/{svc.metadata.name}"
        holder = _Holder(self._sharing_key(svc), _ports_of(svc))
        versions = self._wanted_versions(svc)
        requested = self._requested(svc)
        current = self._by_service.get(key, ())
        keep = [ip.version for ip in current] == versions and (
            not requested or list(current) == requested
        )
        self.release(svc.metadata.namespace, svc.metadata.name or "")
        if keep and all(self._why_not(ip, key, holder) is None for ip in current):
            return self._take(key, current, holder)
        picked: list[IP] = []
        for version in versions:
            wanted = [ip for ip in requested if ip.version == version]
            picked.append(self._pick(key, holder, version, wanted[0] if wanted else None))
        return self._take(key, tuple(picked), holder)

    def release(self, namespace: str | None, name: str) -> tuple[str, ...]:
        """Give back what a Service holds (deleted, or no longer a LoadBalancer)."""
        key = f"{namespace}/{name}"
        ips = self._by_service.pop(key, ())
        for ip in ips:
            users = self._users.get(ip, {})
            users.pop(key, None)
            if not users:
                self._users.pop(ip, None)
        return tuple(str(ip) for ip in ips)

    def ingress(self, svc: Service, ips: Sequence[str]) -> tuple[LoadBalancerIngress, ...]:
        """``status.loadBalancer.ingress`` as this implementation writes it.

        MetalLB writes only ``ip`` (the apiserver then defaults ``ipMode: VIP``);
        cloud-provider-kind writes ``ipMode: Proxy`` and every Service port.
        """
        if self.style == "metallb":
            return tuple(LoadBalancerIngress(ip=ip) for ip in ips)
        ports = tuple(PortStatus(p.port, p.protocol or "TCP") for p in svc.spec.ports)
        return tuple(LoadBalancerIngress(ip=ip, ip_mode=self.ip_mode, ports=ports) for ip in ips)

    # -- internals -----------------------------------------------------------------------

    def _sharing_key(self, svc: Service) -> str | None:
        if self.style != "metallb":
            return None
        return next(
            (
                svc.metadata.annotations[a]
                for a in SHARED_IP_ANNOTATIONS
                if a in svc.metadata.annotations
            ),
            None,
        )

    def _requested(self, svc: Service) -> list[IP]:
        if self.style != "metallb":
            return []  # the container gets whatever address docker gives it
        annotations = svc.metadata.annotations
        text = next((annotations[a] for a in LB_IPS_ANNOTATIONS if a in annotations), None)
        if text is None:
            text = svc.spec.load_balancer_ip or ""
        try:
            return [ipaddress.ip_address(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError as err:
            raise LoadBalancerPoolError(f"invalid IP in {text!r}") from err

    def _wanted_versions(self, svc: Service) -> list[int]:
        """One address per family of the Service that this pool can serve."""
        families = svc.spec.ip_families or ("IPv4",)
        served = {r.version for r in self.ranges}
        versions = [4 if family == "IPv4" else 6 for family in families]
        usable = [v for v in versions if v in served]
        if not usable or (
            len(usable) < len(versions)
            and svc.spec.ip_family_policy != IPFamilyPolicy.PREFER_DUAL_STACK
        ):
            raise LoadBalancerPoolError("no available IPs")
        return usable

    def _pick(self, key: str, holder: _Holder, version: int, requested: IP | None) -> IP:
        if requested is not None:
            if not any(requested in r for r in self.ranges) or requested in self._reserved:
                raise LoadBalancerPoolError(f'"{requested}" is not allowed in config')
            why = self._why_not(requested, key, holder)
            if why is not None:
                raise LoadBalancerPoolError(why)
            return requested
        for address_range in self.ranges:
            if address_range.version != version:
                continue
            for ip in address_range:  # lowest first, as MetalLB's cursor walks the pool
                if ip not in self._reserved and self._why_not(ip, key, holder) is None:
                    return ip
        raise LoadBalancerPoolError("no available IPs")

    def _why_not(self, ip: IP, key: str, holder: _Holder) -> str | None:
        """MetalLB's ``Assign`` checks: a shared address needs the same key, disjoint ports."""
        users = {k: h for k, h in self._users.get(ip, {}).items() if k != key}
        if not users:
            return None
        existing = next(iter(users.values())).sharing
        if existing is None or holder.sharing is None or existing != holder.sharing:
            others = ",".join(sorted(users))
            return f'can\'t change sharing key for "{key}", address also in use by {others}'
        for other in users.values():
            clash = sorted(holder.ports & other.ports)
            if clash:
                protocol, port = clash[0]
                return f'port {protocol}/{port} is already in use on "{ip}"'
        return None

    def _take(self, key: str, ips: tuple[IP, ...], holder: _Holder) -> tuple[str, ...]:
        self._by_service[key] = ips
        for ip in ips:
            self._users.setdefault(ip, {})[key] = holder
        return tuple(str(ip) for ip in ips)


def _ports_of(svc: Service) -> frozenset[tuple[str, int]]:
    return frozenset((p.protocol or "TCP", p.port) for p in svc.spec.ports)
