"""``ValidateService``: every rule a v1.34 apiserver applies to a Service, in its order.

The apiserver runs these checks *after* defaulting and after the allocators filled
``clusterIPs`` and node ports, and reports every problem at once, in source order::

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> from k8s_service_lab.api.validation.service import validate_service
    >>> svc = Service(ObjectMeta(name="s", namespace="default"), ServiceSpec(
    ...     type="ClusterIP", session_affinity="None", internal_traffic_policy="Cluster",
    ...     cluster_ip="10.96.0.10", cluster_ips=("10.96.0.10",), ip_families=("IPv4",),
    ...     ip_family_policy="SingleStack",
    ...     ports=(ServicePort(port=0, protocol="TCP", target_port=80),)))
    >>> [str(e) for e in validate_service(svc)]
    ['spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive']

The cluster-IP and IP-family rules live in :mod:`.service_ips`, the traffic policies in
:mod:`.service_traffic`, update-only rules and ``status`` in :mod:`.service_update`.
Messages, paths and value rendering are upstream's, quirks included:
``spec.LoadBalancerSourceRanges`` is capitalised, a LoadBalancer without
``allocateLoadBalancerNodePorts`` is reported at a path without ``spec.``, and a duplicate
``(protocol, port)`` pair shows the whole internal ``ServicePort`` struct as JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from k8s_service_lab.api.service import Service, ServicePort
from k8s_service_lab.api.validation.meta import (
    validate_object_meta,
    validate_qualified_name,
)
from k8s_service_lab.api.validation.names import (
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns1035_label,
    validate_cidr_for_legacy_field,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_endpoint_ip,
    validate_ip_for_legacy_field,
)
from k8s_service_lab.api.validation.render import GoValue, go_json, go_typed
from k8s_service_lab.api.validation.service_ips import (
    is_headless,
    validate_cluster_ips_related_fields,
)
from k8s_service_lab.api.validation.service_traffic import (
    externally_accessible,
    needs_health_check,
    validate_traffic_policies,
)
from k8s_service_lab.field import (
    FieldError,
    FieldPath,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from k8s_service_lab.labels import validate_labels

__all__ = [
    "ANNOTATION_LB_SOURCE_RANGES",
    "ANNOTATION_TOPOLOGY_AWARE_HINTS",
    "ANNOTATION_TOPOLOGY_MODE",
    "externally_accessible",
    "needs_health_check",
    "validate_load_balancer_class",
    "validate_service",
    "validate_service_port",
]

ANNOTATION_TOPOLOGY_MODE: Final = "service.kubernetes.io/topology-mode"
ANNOTATION_TOPOLOGY_AWARE_HINTS: Final = "service.kubernetes.io/topology-aware-hints"
ANNOTATION_LB_SOURCE_RANGES: Final = "service.beta.kubernetes.io/load-balancer-source-ranges"

_PROTOCOLS: Final = ("SCTP", "TCP", "UDP")
_SESSION_AFFINITIES: Final = ("ClientIP", "None")
_SERVICE_TYPES: Final = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_MAX_CLIENT_IP_TIMEOUT: Final = 86400

_SPEC: Final = FieldPath.root("spec")


def _service_port_struct(protocol: str, port: int) -> GoValue:
    # The duplicate-port key is an internal core.ServicePort{Protocol, Port}: no JSON tags,
    # so json.Marshal writes Go field names in declaration order, zero values included.
    return go_json(
        {
            "Name": "",
            "Protocol": protocol,
            "AppProtocol": None,
            "Port": port,
            "TargetPort": 0,
            "NodePort": 0,
        }
    )


def validate_service_port(
    port: ServicePort, require_name: bool, seen_names: set[str], path: FieldPath
) -> list[FieldError]:
    """``validateServicePort``: name, port, protocol, targetPort and appProtocol of one port.

    A name is required once a Service has two ports, is a DNS-1123 *label* (not the
    15-character IANA rule that container port names follow) and must be unique. A string
    ``targetPort`` names a container port, so it follows the IANA rule; targetPorts of
    headless Services are accepted although ignored (upstream keeps tolerating them).
    """
    errors: list[FieldError] = []
    name = port.name or ""
    if require_name and not name:
        errors.append(required(path.child("name")))
    elif name:
        errors.extend(validate_dns1123_label(name, path.child("name")))
        if name in seen_names:
            errors.append(duplicate(path.child("name"), name))
        else:
            seen_names.add(name)
    errors.extend(invalid(path.child("port"), port.port, d) for d in is_valid_port_num(port.port))
    if not port.protocol:
        errors.append(required(path.child("protocol")))
    elif port.protocol not in _PROTOCOLS:
        errors.append(not_supported(path.child("protocol"), go_typed(port.protocol), _PROTOCOLS))
    target = port.target_port
    target_path = path.child("targetPort")
    if isinstance(target, str):
        errors.extend(invalid(target_path, target, d) for d in is_valid_port_name(target))
    else:
        # An unset IntOrString is the integer 0 in Go, which is not a port.
        number = 0 if target is None else target
        errors.extend(invalid(target_path, number, d) for d in is_valid_port_num(number))
    if port.app_protocol is not None:
        errors.extend(validate_qualified_name(port.app_protocol, path.child("appProtocol")))
    return errors


def _validate_type_specific(service: Service) -> list[FieldError]:
    spec = service.spec
    errors: list[FieldError] = []
    first_ip = _SPEC.child("clusterIPs").index(0)
    if spec.type in ("LoadBalancer", "NodePort") and is_headless(service):
        detail = f"may not be set to 'None' for {spec.type} services"
        errors.append(invalid(first_ip, spec.cluster_ips[0], detail))
    elif spec.type == "ExternalName":
        # The registry derives clusterIPs from clusterIP, so checking clusterIPs covers both.
        if spec.cluster_ips:
            errors.append(
                forbidden(_SPEC.child("clusterIPs"), "may not be set for ExternalName services")
            )
        if spec.ip_families:
            errors.append(
                forbidden(_SPEC.child("ipFamilies"), "may not be set for ExternalName services")
            )
        if spec.ip_family_policy is not None:
            errors.append(
                forbidden(_SPEC.child("ipFamilyPolicy"), "may not be set for ExternalName services")
            )
        # A CNAME may end with one dot to mark it fully qualified.
        cname = (spec.external_name or "").removesuffix(".")
        if cname:
            errors.extend(validate_dns1123_subdomain(cname, _SPEC.child("externalName")))
        else:
            errors.append(required(_SPEC.child("externalName")))
    return errors


def _validate_session_affinity(service: Service) -> list[FieldError]:
    spec = service.spec
    errors: list[FieldError] = []
    path = _SPEC.child("sessionAffinity")
    if not spec.session_affinity:
        errors.append(required(path))
    elif spec.session_affinity not in _SESSION_AFFINITIES:
        errors.append(not_supported(path, go_typed(spec.session_affinity), _SESSION_AFFINITIES))
    config_path = _SPEC.child("sessionAffinityConfig")
    timeout = spec.client_ip_timeout_seconds
    if spec.session_affinity == "ClientIP":
        # Our model folds sessionAffinityConfig.clientIP.timeoutSeconds into one field, so
        # "no timeout" is reported as upstream reports a missing sessionAffinityConfig.
        if timeout is None:
            errors.append(required(config_path, "when session affinity type is ClientIP"))
        elif timeout <= 0 or timeout > _MAX_CLIENT_IP_TIMEOUT:
            errors.append(
                invalid(
                    config_path.child("clientIP", "timeoutSeconds"),
                    timeout,
                    f"must be greater than 0 and less than {_MAX_CLIENT_IP_TIMEOUT}",
                )
            )
    elif spec.session_affinity == "None" and timeout is not None:
        errors.append(forbidden(config_path, "must not be set when session affinity is None"))
    return errors


def _validate_external_ips(
    service: Service, old: Service | None, strict_ip: bool
) -> list[FieldError]:
    errors: list[FieldError] = []
    existing = old.spec.external_ips if old is not None else ()
    for i, ip in enumerate(service.spec.external_ips):
        path = _SPEC.child("externalIPs").index(i)
        problems = validate_ip_for_legacy_field(ip, path, strict=strict_ip, valid_old=existing)
        # For historical reasons externalIPs get the EndpointSlice address rules.
        errors.extend(problems or validate_endpoint_ip(ip, path))
    return errors


def _validate_ports_against_type(service: Service) -> list[FieldError]:
    errors: list[FieldError] = []
    ports = service.spec.ports
    ports_path = _SPEC.child("ports")
    if service.spec.type == "ClusterIP":
        for i, port in enumerate(ports):
            if port.node_port:
                errors.append(
                    forbidden(
                        ports_path.index(i).child("nodePort"),
                        "may not be used when `type` is 'ClusterIP'",
                    )
                )
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        if not port.node_port:
            continue
        node_key = (port.protocol or "", port.node_port)
        if node_key in node_ports:
            errors.append(duplicate(ports_path.index(i).child("nodePort"), port.node_port))
        node_ports.add(node_key)
    port_keys: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (port.protocol or "", port.port)
        if key in port_keys:
            errors.append(duplicate(ports_path.index(i), _service_port_struct(*key)))
        port_keys.add(key)
    return errors


def _validate_source_ranges(
    service: Service, old: Service | None, strict_ip: bool
) -> list[FieldError]:
    errors: list[FieldError] = []
    is_lb = service.spec.type == "LoadBalancer"
    only_lb = "may only be used when `type` is 'LoadBalancer'"
    ranges = service.spec.load_balancer_source_ranges
    annotations = service.metadata.annotations
    if ranges:
        # Upstream's path really is capitalised like the Go field.
        path = _SPEC.child("LoadBalancerSourceRanges")
        if not is_lb:
            errors.append(forbidden(path, only_lb))
        existing: Sequence[str] = ()
        if old is not None:
            existing = [value.strip() for value in old.spec.load_balancer_source_ranges]
        for i, value in enumerate(ranges):
            # Space padding is tolerated: a leftover from the annotation days.
            errors.extend(
                validate_cidr_for_legacy_field(
                    value.strip(), path.index(i), strict=strict_ip, valid_old=existing
                )
            )
    elif ANNOTATION_LB_SOURCE_RANGES in annotations:
        value = annotations[ANNOTATION_LB_SOURCE_RANGES]
        path = FieldPath.root("metadata", "annotations").key(ANNOTATION_LB_SOURCE_RANGES)
        if not is_lb:
            errors.append(forbidden(path, only_lb))
        old_value = (
            None if old is None else old.metadata.annotations.get(ANNOTATION_LB_SOURCE_RANGES)
        )
        if old is None or old_value != value:
            value = value.strip()
            for cidr in value.split(",") if value else ():
                errors.extend(validate_cidr_for_legacy_field(cidr.strip(), path, strict=strict_ip))
    return errors


def validate_load_balancer_class(service: Service, old: Service | None = None) -> list[FieldError]:
    """``validateLoadBalancerClassField``: only for LoadBalancers, a qualified name, and
    immutable while the Service stays a LoadBalancer (setting it later counts as a change).
    """
    errors: list[FieldError] = []
    path = _SPEC.child("loadBalancerClass")
    new_class = service.spec.load_balancer_class
    is_lb = service.spec.type == "LoadBalancer"
    stays_lb = old is not None and old.spec.type == "LoadBalancer" and is_lb
    if stays_lb and old is not None and old.spec.load_balancer_class != new_class:
        errors.append(invalid(path, go_typed(new_class), "may not change once set"))
    if is_lb:
        if new_class is not None:
            errors.extend(validate_qualified_name(new_class, path))
    elif new_class is not None:
        errors.append(forbidden(path, "may only be used when `type` is 'LoadBalancer'"))
    return errors


def _skip_name(name: str, prefix: bool) -> list[str]:
    return []


def validate_service(
    service: Service, old: Service | None = None, *, strict_ip: bool = False
) -> list[FieldError]:
    """Every ``ValidateService`` error for ``service``, in upstream order.

    ``old`` is the stored object on an update: then the name is not re-checked (it cannot
    change) and IPs/CIDRs the old object already held pass even if invalid by today's
    rules. ``strict_ip`` is the ``StrictIPCIDRValidation`` feature gate (off in v1.34).
    Update-only rules are in :func:`~.service_update.validate_service_update`.
    """
    spec = service.spec
    meta_path = FieldPath.root("metadata")
    name_fn = name_is_dns1035_label if old is None else _skip_name
    errors = validate_object_meta(service.metadata, namespaced=True, name_fn=name_fn)

    annotations = service.metadata.annotations
    mode = annotations.get(ANNOTATION_TOPOLOGY_MODE)
    hints = annotations.get(ANNOTATION_TOPOLOGY_AWARE_HINTS)
    if mode is not None and hints is not None and mode != hints:
        detail = (
            f"must match annotations[{ANNOTATION_TOPOLOGY_AWARE_HINTS}] when both are specified"
        )
        path = meta_path.child("annotations").key(ANNOTATION_TOPOLOGY_MODE)
        errors.append(invalid(path, mode, detail))

    if not spec.ports and not is_headless(service) and spec.type != "ExternalName":
        errors.append(required(_SPEC.child("ports")))
    errors.extend(_validate_type_specific(service))

    seen_names: set[str] = set()
    for i, port in enumerate(spec.ports):
        path = _SPEC.child("ports").index(i)
        errors.extend(validate_service_port(port, len(spec.ports) > 1, seen_names, path))

    if spec.selector is not None:
        errors.extend(validate_labels(spec.selector, _SPEC.child("selector")))
    errors.extend(_validate_session_affinity(service))
    errors.extend(validate_cluster_ips_related_fields(service, old, strict=strict_ip))
    errors.extend(_validate_external_ips(service, old, strict_ip))

    type_path = _SPEC.child("type")
    if not spec.type:
        errors.append(required(type_path))
    elif spec.type not in _SERVICE_TYPES:
        errors.append(not_supported(type_path, go_typed(spec.type), _SERVICE_TYPES))

    errors.extend(_validate_ports_against_type(service))
    errors.extend(_validate_source_ranges(service, old, strict_ip))

    is_lb = spec.type == "LoadBalancer"
    if spec.allocate_load_balancer_node_ports is not None and not is_lb:
        errors.append(
            forbidden(
                _SPEC.child("allocateLoadBalancerNodePorts"),
                "may only be used when `type` is 'LoadBalancer'",
            )
        )
    if is_lb and spec.allocate_load_balancer_node_ports is None:
        # Upstream builds this path without "spec."; defaulting makes it unreachable via v1.
        errors.append(required(FieldPath.root("allocateLoadBalancerNodePorts")))

    errors.extend(validate_load_balancer_class(service))
    errors.extend(validate_traffic_policies(service))
    return errors
