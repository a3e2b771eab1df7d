"""What changes a Service may not make, and what its ``status`` may hold.

``ValidateServiceUpdate`` runs the update-only rules first (primary cluster IP and family,
``loadBalancerClass``, ``healthCheckNodePort``) and then the whole of ``ValidateService``
on the new object; ``ValidateServiceStatusUpdate`` guards ``/status`` writes::

    >>> from dataclasses import replace
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> from k8s_service_lab.api.validation.service_update import validate_service_update
    >>> old = Service(ObjectMeta(name="s", namespace="default"), ServiceSpec(
    ...     type="ClusterIP", session_affinity="None", internal_traffic_policy="Cluster",
    ...     cluster_ip="10.96.0.10", cluster_ips=("10.96.0.10",), ip_families=("IPv4",),
    ...     ip_family_policy="SingleStack",
    ...     ports=(ServicePort(port=80, protocol="TCP", target_port=80),)))
    >>> new = replace(old, spec=replace(old.spec, cluster_ip="10.96.0.20",
    ...                                 cluster_ips=("10.96.0.20",)))
    >>> [str(e) for e in validate_service_update(new, old)]
    ['spec.clusterIPs[0]: Invalid value: ["10.96.0.20"]: may not change once set']
"""

from __future__ import annotations

from typing import Final

from k8s_service_lab.api.service import Service
from k8s_service_lab.api.validation.ipparse import parse_ip_sloppy
from k8s_service_lab.api.validation.meta import validate_object_meta_update
from k8s_service_lab.api.validation.names import is_dns1123_subdomain, validate_ip_for_legacy_field
from k8s_service_lab.api.validation.render import go_typed
from k8s_service_lab.api.validation.service import (
    needs_health_check,
    validate_load_balancer_class,
    validate_service,
)
from k8s_service_lab.api.validation.service_ips import (
    validate_upgrade_downgrade_cluster_ips,
    validate_upgrade_downgrade_ip_families,
)
from k8s_service_lab.field import FieldError, FieldPath, forbidden, invalid, not_supported, required

__all__ = ["validate_service_status", "validate_service_update"]

_IP_MODES: Final = ("Proxy", "VIP")


def validate_service_update(
    new: Service, old: Service, *, strict_ip: bool = False
) -> list[FieldError]:
    """``ValidateServiceUpdate``: the update-only rules, then ``ValidateService(new)``.

    Mind that ``loadBalancerClass`` format errors can appear twice (once from the update
    check, once from ``ValidateService``), exactly as upstream; the apiserver's message
    drops the repeat, and so does :class:`~k8s_service_lab.errors.ValidationError`.
    """
    errors = validate_object_meta_update(new.metadata, old.metadata)
    errors.extend(validate_upgrade_downgrade_cluster_ips(old, new))
    errors.extend(validate_upgrade_downgrade_ip_families(old, new))
    errors.extend(validate_load_balancer_class(new, old))
    # While the health check is needed its port stays put: load balancers probe it.
    still_needed = needs_health_check(old) and needs_health_check(new)
    old_port = old.spec.health_check_node_port or 0
    if still_needed and (new.spec.health_check_node_port or 0) != old_port:
        path = FieldPath.root("spec", "healthCheckNodePort")
        errors.append(forbidden(path, "field is immutable"))
    errors.extend(validate_service(new, old, strict_ip=strict_ip))
    return errors


def validate_service_status(
    service: Service, old: Service | None = None, *, strict_ip: bool = False
) -> list[FieldError]:
    """``ValidateServiceStatusUpdate``: ``status.loadBalancer.ingress`` of a Service.

    Ingress entries belong to LoadBalancers only (the ``AllowServiceLBStatusOnNonLB`` gate
    that would lift this is off). Each ``ip`` is a legacy-validated address that needs an
    ``ipMode`` (``VIP`` or ``Proxy``; the ``LoadBalancerIPMode`` gate is GA); a ``hostname``
    is a DNS subdomain that is not also an IP address.
    """
    errors = [] if old is None else validate_object_meta_update(service.metadata, old.metadata)
    ingress_path = FieldPath.root("status", "loadBalancer", "ingress")
    ingresses = service.status.load_balancer_ingress
    if service.spec.type != "LoadBalancer" and ingresses:
        detail = "may only be used when `spec.type` is 'LoadBalancer'"
        return [*errors, forbidden(ingress_path, detail)]
    existing = []
    if old is not None:
        existing = [ing.ip for ing in old.status.load_balancer_ingress if ing.ip]
    for i, ingress in enumerate(ingresses):
        path = ingress_path.index(i)
        if ingress.ip:
            errors.extend(
                validate_ip_for_legacy_field(
                    ingress.ip, path.child("ip"), strict=strict_ip, valid_old=existing
                )
            )
        mode_path = path.child("ipMode")
        if ingress.ip_mode is None:
            if ingress.ip:
                errors.append(required(mode_path, "must be specified when `ip` is set"))
        elif not ingress.ip:
            errors.append(forbidden(mode_path, "may not be specified when `ip` is not set"))
        elif ingress.ip_mode not in _IP_MODES:
            errors.append(not_supported(mode_path, go_typed(ingress.ip_mode), _IP_MODES))
        if ingress.hostname:
            host_path = path.child("hostname")
            errors.extend(
                invalid(host_path, ingress.hostname, detail)
                for detail in is_dns1123_subdomain(ingress.hostname)
            )
            if parse_ip_sloppy(ingress.hostname) is not None:
                detail = "must be a DNS name, not an IP address"
                errors.append(invalid(host_path, ingress.hostname, detail))
    return errors
