"""EndpointSlices → ``EndpointsMap``: kube-proxy's EndpointSliceCache and its change tracker.

A Service's endpoints may be spread over many slices, and an endpoint may sit in two slices
for a moment while the controller moves it. kube-proxy therefore caches slices per Service
and slice name, and rebuilds a Service's endpoint lists from all of its slices whenever one
changes (``pkg/proxy/endpointslicecache.go``, ``endpointschangetracker.go``)::

    >>> from k8s_service_lab.api.discovery import (Endpoint, EndpointConditions,
    ...     EndpointPort, EndpointSlice)
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> meta = ObjectMeta(name="web-abc12", namespace="default",
    ...                   labels={"kubernetes.io/service-name": "web"})
    >>> eps = (Endpoint(("10.244.1.10",), EndpointConditions(None), node_name="kind-worker"),
    ...        Endpoint(("10.244.2.2",), EndpointConditions(False), node_name="kind-worker2"))
    >>> s = EndpointSlice(meta, "IPv4", eps, (EndpointPort("http", "TCP", 8080),))
    >>> tracker = EndpointsChangeTracker("kind-worker", "IPv4")
    >>> tracker.update(s)
    True
    >>> update = tracker.apply({})
    >>> [(e.endpoint, e.is_local, e.ready) for e in update.endpoints_map[update.changed_ports[0]]]
    [('10.244.1.10:8080', True, True), ('10.244.2.2:8080', False, False)]

Lists are sorted by the endpoint *string*, as upstream sorts them (``10.0.0.10:80`` comes
before ``10.0.0.2:80``): chain order, and so probabilities, follow from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from k8s_service_lab.api.discovery import EndpointSlice
from k8s_service_lab.proxy.model import (
    EndpointInfo,
    EndpointsMap,
    ServiceName,
    ServicePortName,
    ip_family_of,
    parse_ip_sloppy,
)

__all__ = [
    "SERVICE_NAME_LABEL",
    "EndpointsChangeTracker",
    "EndpointsMapUpdate",
    "endpoints_from_slices",
    "slice_service_name",
]

#: ``discovery.LabelServiceName``: how a slice names its Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: EndpointSlice address types kube-proxy handles (FQDN slices are ignored).
SUPPORTED_ADDRESS_TYPES = frozenset({"IPv4", "IPv6"})


def slice_service_name(endpoint_slice: EndpointSlice) -> ServiceName | None:
    """``endpointSliceCacheKeys``: the owning Service, or ``None`` without the label."""
    meta = endpoint_slice.metadata
    service = meta.labels.get(SERVICE_NAME_LABEL)
    if not service or not meta.namespace or not meta.name:
        return None
    return ServiceName(meta.namespace, service)


def endpoints_from_slices(
    slices: Iterable[EndpointSlice],
    node_name: str,
    family: str,
    *,
    node_hints: bool = True,
) -> dict[ServicePortName, tuple[EndpointInfo, ...]]:
    """Merge one Service's slices into its per-port endpoint lists.

    ``EndpointSliceCache.endpointInfoByServicePort`` / ``addEndpoints``: ports without a
    name or with no port number are ignored; only ``addresses[0]`` counts; the same
    ``ip:port`` from two slices is kept once, a non-terminating copy winning over a
    terminating one. Slices are read in name order (upstream walks a Go map; the result
    differs only when two non-terminating copies disagree, which upstream calls undefined).
    ``node_hints`` is the PreferSameTrafficDistribution gate (beta, on, in v1.34).
    """
    by_port: dict[ServicePortName, dict[str, EndpointInfo]] = {}
    for endpoint_slice in sorted(slices, key=lambda s: s.metadata.name or ""):
        service = slice_service_name(endpoint_slice)
        if service is None:
            continue
        for port in endpoint_slice.ports:
            if port.name is None or not port.port:
                continue
            name = ServicePortName(
                service.namespace, service.name, port.name or None, port.protocol or "TCP"
            )
            found = by_port.setdefault(name, {})
            for info in _endpoints(endpoint_slice, port.port, node_name, family, node_hints):
                if info.endpoint not in found or not info.terminating:
                    found[info.endpoint] = info
    return {
        name: tuple(sorted(found.values(), key=lambda e: e.endpoint))
        for name, found in by_port.items()
        if found
    }


def _endpoints(
    endpoint_slice: EndpointSlice, port: int, node_name: str, family: str, node_hints: bool
) -> Iterable[EndpointInfo]:
    for endpoint in endpoint_slice.endpoints:
        if not endpoint.addresses:
            continue
        ip = parse_ip_sloppy(endpoint.addresses[0])
        if ip is None or ip_family_of(ip) != family:
            continue  # upstream emits a KubeProxyIncorrectIPVersion event and skips it
        conditions = endpoint.conditions
        hints = endpoint.hints
        yield EndpointInfo(
            ip=str(ip),
            port=port,
            is_local=bool(node_name) and endpoint.node_name == node_name,
            ready=conditions.ready is None or conditions.ready,
            serving=conditions.serving is None or conditions.serving,
            terminating=conditions.terminating is True,
            zone_hints=frozenset(hints.for_zones) if hints else frozenset(),
            node_hints=frozenset(hints.for_nodes) if hints and node_hints else frozenset(),
        )


@dataclass(frozen=True, slots=True)
class EndpointsMapUpdate:
    """What :meth:`EndpointsChangeTracker.apply` produced (upstream UpdateEndpointsMapResult).

    ``updated_services`` are the Services with any slice change since the last apply (even
    one that left their endpoints as they were, as upstream); ``changed_ports`` are their
    port names before and after, sorted.
    """

    endpoints_map: EndpointsMap
    updated_services: frozenset[ServiceName]
    changed_ports: tuple[ServicePortName, ...]


@dataclass(frozen=True, slots=True)
class _Pending:
    endpoint_slice: EndpointSlice
    remove: bool


class EndpointsChangeTracker:
    """EndpointSliceCache + EndpointsChangeTracker: applied and pending slices per Service."""

    def __init__(self, node_name: str, family: str, *, node_hints: bool = True) -> None:
        self.node_name = node_name
        self.family = family
        self.node_hints = node_hints
        self._applied: dict[ServiceName, dict[str, EndpointSlice]] = {}
        self._pending: dict[ServiceName, dict[str, _Pending]] = {}

    def update(self, endpoint_slice: EndpointSlice, remove: bool = False) -> bool:
        """``EndpointSliceUpdate``: ``True`` if this slice event needs a sync.

        Slices of the other family or of an unsupported address type, and slices without
        the service-name label, are ignored; an event equal to what is already pending (or
        applied, when nothing is pending) is not a change.
        """
        if endpoint_slice.address_type not in SUPPORTED_ADDRESS_TYPES:
            return False
        if endpoint_slice.address_type != self.family:
            return False
        service = slice_service_name(endpoint_slice)
        if service is None:
            return False
        key = str(endpoint_slice.metadata.name)
        entry = _Pending(endpoint_slice, remove)
        pending = self._pending.get(service, {})
        applied = self._applied.get(service, {})
        if key in pending:
            changed = pending[key] != entry
        elif key in applied:
            changed = _Pending(applied[key], False) != entry
        else:
            changed = not remove
        if changed:
            self._pending.setdefault(service, {})[key] = entry
        return changed

    def pending(self) -> frozenset[ServiceName]:
        return frozenset(name for name, slices in self._pending.items() if slices)

    def apply(self, endpoints_map: EndpointsMap) -> EndpointsMapUpdate:
        """``EndpointsMap.Update``: check out pending slices, rebuild those Services' lists."""
        new = dict(endpoints_map)
        changed: set[ServicePortName] = set()
        for service, pending in self._pending.items():
            applied = self._applied.setdefault(service, {})
            previous = self._build(applied.values())
            for key, entry in pending.items():
                if entry.remove:
                    applied.pop(key, None)
                else:
                    applied[key] = entry.endpoint_slice
            current = self._build(applied.values())
            if not applied:
                del self._applied[service]
            for port in previous:
                new.pop(port, None)
            new.update(current)
            changed.update(previous, current)
        update = EndpointsMapUpdate(
            new,
            frozenset(self._pending),
            tuple(sorted(changed, key=ServicePortName.sort_key)),
        )
        self._pending = {}
        return update

    def _build(
        self, slices: Iterable[EndpointSlice]
    ) -> dict[ServicePortName, tuple[EndpointInfo, ...]]:
        return endpoints_from_slices(
            slices, self.node_name, self.family, node_hints=self.node_hints
        )
