"""EndpointSlices (``discovery/validation``) and legacy Endpoints: what a backend list may hold.

kube-proxy trusts these objects, so the apiserver refuses addresses that cannot be a real
backend (loopback, link-local, unspecified), caps the sizes (1000 endpoints per slice, 100
addresses per endpoint, 20000 ports since v1.21) and checks each address against the
slice's ``addressType``::

    >>> from k8s_service_lab.api.discovery import Endpoint, EndpointSlice
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.validation.discovery import validate_endpoint_slice
    >>> s = EndpointSlice(ObjectMeta(name="web-abc12", namespace="default"), "IPv4",
    ...                   (Endpoint(("127.0.0.1",)),))
    >>> for e in validate_endpoint_slice(s):
    ...     print(e)  # doctest: +NORMALIZE_WHITESPACE
    endpoints[0].addresses[0]: Invalid value: "127.0.0.1":
        may not be in the loopback range (127.0.0.0/8, ::1/128)

Upstream requires no labels here: ``kubernetes.io/service-name`` is how consumers find a
Service's slices, but a slice without it is valid (it just serves nobody).
"""

from __future__ import annotations

from typing import Final

from k8s_service_lab.api.discovery import (
    Endpoint,
    EndpointHints,
    EndpointPort,
    Endpoints,
    EndpointSlice,
)
from k8s_service_lab.api.validation.ipparse import parse_ip_sloppy
from k8s_service_lab.api.validation.meta import (
    validate_object_meta,
    validate_object_meta_update,
    validate_qualified_name,
)
from k8s_service_lab.api.validation.names import (
    is_valid_ip,
    is_valid_port_num,
    name_is_dns_subdomain,
    validate_dns1123_label,
    validate_endpoint_ip,
    validate_fully_qualified_domain_name,
    validate_ip_for_legacy_field,
)
from k8s_service_lab.api.validation.render import go_typed
from k8s_service_lab.field import (
    FieldError,
    FieldPath,
    duplicate,
    internal,
    invalid,
    not_supported,
    required,
    too_many,
)
from k8s_service_lab.labels import validate_label_value, validate_labels

__all__ = [
    "MAX_ADDRESSES",
    "MAX_ENDPOINTS",
    "MAX_PORTS",
    "validate_endpoint_slice",
    "validate_endpoint_slice_update",
    "validate_endpoints",
]

MAX_ENDPOINTS: Final = 1000
MAX_ADDRESSES: Final = 100
#: Raised from 100 to 20000 in v1.21 (kubernetes#99795) for Services with many ports.
MAX_PORTS: Final = 20000
_MAX_TOPOLOGY_LABELS: Final = 16
_MAX_ZONE_HINTS: Final = 8
_MAX_NODE_HINTS: Final = 8
_ADDRESS_TYPES: Final = ("FQDN", "IPv4", "IPv6")
_PROTOCOLS: Final = ("SCTP", "TCP", "UDP")


def _validate_address(address: str, address_type: str, path: FieldPath, i: int) -> list[FieldError]:
    here = path.index(i)
    if address_type == "IPv4":
        problems = validate_ip_for_legacy_field(address, here)
        if problems:
            return problems
        errors: list[FieldError] = []
        parsed = parse_ip_sloppy(address)
        if parsed is not None and not parsed.is_ipv4:
            # Upstream reports this one at ".addresses", without the index.
            errors.append(invalid(path, address, "must be an IPv4 address"))
        return errors + validate_endpoint_ip(address, here)
    if address_type == "IPv6":
        # IPv6 addresses get the strict, canonical-form IsValidIP (KEP-4858 era source),
        # where IPv4 ones keep the legacy check.
        details = is_valid_ip(address)
        if details:
            return [invalid(here, address, detail) for detail in details]
        errors = []
        parsed = parse_ip_sloppy(address)
        if parsed is not None and not parsed.is_ipv6:
            errors.append(invalid(path, address, "must be an IPv6 address"))
        return errors + validate_endpoint_ip(address, here)
    if address_type == "FQDN":
        return validate_fully_qualified_domain_name(address, here)
    # Unknown types were already reported by the addressType check.
    return []


def _validate_hints(hints: EndpointHints, path: FieldPath) -> list[FieldError]:
    errors: list[FieldError] = []
    zones_path = path.child("forZones")
    if len(hints.for_zones) > _MAX_ZONE_HINTS:
        return [too_many(zones_path, len(hints.for_zones), _MAX_ZONE_HINTS)]
    seen: list[str] = []
    for i, zone in enumerate(hints.for_zones):
        zone_path = zones_path.index(i).child("name")
        if zone in seen:
            errors.append(duplicate(zone_path, zone))
        else:
            seen.append(zone)
        errors.extend(invalid(zone_path, zone, d) for d in validate_label_value(zone))
    nodes_path = path.child("forNodes")
    if len(hints.for_nodes) > _MAX_NODE_HINTS:
        return [*errors, too_many(nodes_path, len(hints.for_nodes), _MAX_NODE_HINTS)]
    seen = []
    for i, node in enumerate(hints.for_nodes):
        node_path = nodes_path.index(i).child("name")
        if node in seen:
            errors.append(duplicate(node_path, node))
        else:
            seen.append(node)
        errors.extend(invalid(node_path, node, d) for d in name_is_dns_subdomain(node, False))
    return errors


def _validate_endpoint(endpoint: Endpoint, address_type: str, path: FieldPath) -> list[FieldError]:
    errors: list[FieldError] = []
    addresses_path = path.child("addresses")
    if not endpoint.addresses:
        errors.append(required(addresses_path, "must contain at least 1 address"))
    elif len(endpoint.addresses) > MAX_ADDRESSES:
        errors.append(too_many(addresses_path, len(endpoint.addresses), MAX_ADDRESSES))
    for i, address in enumerate(endpoint.addresses):
        errors.extend(_validate_address(address, address_type, addresses_path, i))
    if endpoint.node_name is not None:
        node_path = path.child("nodeName")
        errors.extend(
            invalid(node_path, endpoint.node_name, d)
            for d in name_is_dns_subdomain(endpoint.node_name, False)
        )
    topology = endpoint.deprecated_topology
    topology_path = path.child("deprecatedTopology")
    if len(topology) > _MAX_TOPOLOGY_LABELS:
        errors.append(too_many(topology_path, len(topology), _MAX_TOPOLOGY_LABELS))
    errors.extend(validate_labels(topology, topology_path))
    if "topology.kubernetes.io/zone" in topology:
        # v1 moves this label into .zone during conversion, so it cannot survive to here.
        key_path = topology_path.key("topology.kubernetes.io/zone")
        errors.append(internal(key_path, "reserved key was not removed in conversion"))
    if endpoint.hostname is not None:
        errors.extend(validate_dns1123_label(endpoint.hostname, path.child("hostname")))
    if endpoint.hints is not None:
        errors.extend(_validate_hints(endpoint.hints, path.child("hints")))
    return errors


def _validate_slice_ports(ports: tuple[EndpointPort, ...], path: FieldPath) -> list[FieldError]:
    if len(ports) > MAX_PORTS:
        return [too_many(path, len(ports), MAX_PORTS)]
    errors: list[FieldError] = []
    names: list[str] = []
    for i, port in enumerate(ports):
        here = path.index(i)
        # v1 defaults a missing name to "", so "" is a name like any other (one per slice).
        name = port.name or ""
        if name:
            errors.extend(validate_dns1123_label(name, here.child("name")))
        if name in names:
            errors.append(duplicate(here.child("name"), go_typed(name)))
        else:
            names.append(name)
        errors.extend(_protocols(port, here, pointer=True))
    return errors


def _protocols(port: EndpointPort, here: FieldPath, *, pointer: bool) -> list[FieldError]:
    """``protocol`` (required, TCP/UDP/SCTP) and ``appProtocol`` (a qualified name).

    A slice's protocol is a pointer, so only an absent one is "required" and ``""`` is an
    unsupported value; the legacy Endpoints field is a plain string, so ``""`` is missing.
    """
    errors: list[FieldError] = []
    if port.protocol is None or (not pointer and not port.protocol):
        errors.append(required(here.child("protocol")))
    elif port.protocol not in _PROTOCOLS:
        errors.append(not_supported(here.child("protocol"), go_typed(port.protocol), _PROTOCOLS))
    if port.app_protocol is not None:
        errors.extend(validate_qualified_name(port.app_protocol, here.child("appProtocol")))
    return errors


def _validate_slice_head(endpoint_slice: EndpointSlice) -> list[FieldError]:
    errors: list[FieldError] = []
    address_type = endpoint_slice.address_type
    type_path = FieldPath.root("addressType")
    if not address_type:
        errors.append(required(type_path))
    elif address_type not in _ADDRESS_TYPES:
        errors.append(not_supported(type_path, go_typed(address_type), _ADDRESS_TYPES))
    errors.extend(_validate_slice_ports(endpoint_slice.ports, FieldPath.root("ports")))
    return errors


def _validate_slice_endpoints(endpoint_slice: EndpointSlice) -> list[FieldError]:
    path = FieldPath.root("endpoints")
    if len(endpoint_slice.endpoints) > MAX_ENDPOINTS:
        return [too_many(path, len(endpoint_slice.endpoints), MAX_ENDPOINTS)]
    errors: list[FieldError] = []
    for i, endpoint in enumerate(endpoint_slice.endpoints):
        errors.extend(_validate_endpoint(endpoint, endpoint_slice.address_type, path.index(i)))
    return errors


def validate_endpoint_slice(endpoint_slice: EndpointSlice) -> list[FieldError]:
    """``ValidateEndpointSliceCreate``: metadata, addressType, ports, then endpoints.

    Note the paths: an EndpointSlice has no ``spec``, so they start at ``addressType``,
    ``ports`` and ``endpoints``.
    """
    errors = validate_object_meta(
        endpoint_slice.metadata, namespaced=True, name_fn=name_is_dns_subdomain
    )
    errors.extend(_validate_slice_head(endpoint_slice))
    errors.extend(_validate_slice_endpoints(endpoint_slice))
    return errors


def validate_endpoint_slice_update(new: EndpointSlice, old: EndpointSlice) -> list[FieldError]:
    """``ValidateEndpointSliceUpdate``: untouched endpoints are not re-judged; type is fixed."""
    errors = validate_object_meta_update(new.metadata, old.metadata)
    errors.extend(_validate_slice_head(new))
    # Endpoints stored under older, laxer rules stay acceptable while untouched.
    if new.endpoints != old.endpoints:
        errors.extend(_validate_slice_endpoints(new))
    if new.address_type != old.address_type:
        errors.append(
            invalid(FieldPath.root("addressType"), go_typed(new.address_type), "field is immutable")
        )
    return errors


def validate_endpoints(endpoints: Endpoints) -> list[FieldError]:
    """``ValidateEndpointsCreate`` for legacy ``v1`` Endpoints (subsets of addresses × ports)."""
    errors = validate_object_meta(
        endpoints.metadata, namespaced=True, name_fn=name_is_dns_subdomain
    )
    for i, subset in enumerate(endpoints.subsets):
        path = FieldPath.root("subsets").index(i)
        if not subset.addresses and not subset.not_ready_addresses:
            errors.append(required(path, "must specify `addresses` or `notReadyAddresses`"))
        for field_name, addresses in (
            ("addresses", subset.addresses),
            ("notReadyAddresses", subset.not_ready_addresses),
        ):
            for j, address in enumerate(addresses):
                here = path.child(field_name).index(j)
                errors.extend(validate_ip_for_legacy_field(address.ip, here.child("ip")))
                if address.hostname:
                    errors.extend(validate_dns1123_label(address.hostname, here.child("hostname")))
                if address.node_name is not None:
                    errors.extend(
                        invalid(here.child("nodeName"), address.node_name, d)
                        for d in name_is_dns_subdomain(address.node_name, False)
                    )
                errors.extend(validate_endpoint_ip(address.ip, here.child("ip")))
        for j, port in enumerate(subset.ports):
            here = path.child("ports").index(j)
            name = port.name or ""
            if len(subset.ports) > 1 and not name:
                errors.append(required(here.child("name")))
            elif name:
                errors.extend(validate_dns1123_label(name, here.child("name")))
            number = port.port or 0
            errors.extend(invalid(here.child("port"), number, d) for d in is_valid_port_num(number))
            errors.extend(_protocols(port, here, pointer=False))
    return errors
