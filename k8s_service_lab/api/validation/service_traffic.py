"""Traffic policies of a Service: who may set them, and to what.

``externalTrafficPolicy`` only means something where traffic enters from outside the
cluster (NodePort, LoadBalancer, or a ClusterIP with ``externalIPs``), so upstream rejects it
elsewhere, even the harmless ``Cluster``. ``healthCheckNodePort`` exists only for a
LoadBalancer with ``externalTrafficPolicy: Local``: the cloud load balancer probes it to
learn which nodes have local endpoints::

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServiceSpec
    >>> from k8s_service_lab.api.validation.service_traffic import validate_traffic_policies
    >>> svc = Service(ObjectMeta(name="s"), ServiceSpec(type="ClusterIP",
    ...     internal_traffic_policy="Cluster", traffic_distribution="PreferSameNode"))
    >>> validate_traffic_policies(svc)
    []
"""

from __future__ import annotations

from typing import Final

from k8s_service_lab.api.service import Service
from k8s_service_lab.api.validation.names import is_valid_port_num
from k8s_service_lab.api.validation.render import go_typed
from k8s_service_lab.field import (
    ErrorType,
    FieldError,
    FieldPath,
    go_quote,
    invalid,
    not_supported,
    required,
)

__all__ = [
    "SUPPORTED_TRAFFIC_DISTRIBUTIONS",
    "externally_accessible",
    "needs_health_check",
    "validate_traffic_policies",
]

_TRAFFIC_POLICIES: Final = ("Cluster", "Local")
#: In upstream's (unsorted) order: PreferSameZone/PreferSameNode are beta and on in v1.34.
SUPPORTED_TRAFFIC_DISTRIBUTIONS: Final = ("PreferClose", "PreferSameZone", "PreferSameNode")
_SPEC: Final = FieldPath.root("spec")


def externally_accessible(service: Service) -> bool:
    """``apiservice.ExternallyAccessible``: NodePort, LoadBalancer, or ClusterIP + externalIPs."""
    kind = service.spec.type
    return kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(service.spec.external_ips)
    )


def needs_health_check(service: Service) -> bool:
    """``apiservice.NeedsHealthCheck``: a LoadBalancer with ``externalTrafficPolicy: Local``."""
    return service.spec.type == "LoadBalancer" and service.spec.external_traffic_policy == "Local"


def validate_traffic_policies(service: Service) -> list[FieldError]:
    """External and internal traffic policy, ``healthCheckNodePort`` and ``trafficDistribution``.

    Upstream's ``validateServiceExternalTrafficPolicy``, ``validateServiceInternalTraffic
    FieldsValue`` and ``validateServiceTrafficDistribution``, in that order.
    """
    spec = service.spec
    errors: list[FieldError] = []
    etp_path = _SPEC.child("externalTrafficPolicy")
    etp = spec.external_traffic_policy or ""
    if not externally_accessible(service):
        if etp:
            detail = "may only be set for externally-accessible services"
            errors.append(invalid(etp_path, go_typed(etp), detail))
    elif not etp:
        errors.append(required(etp_path))
    elif etp not in _TRAFFIC_POLICIES:
        errors.append(not_supported(etp_path, go_typed(etp), _TRAFFIC_POLICIES))

    hc_path = _SPEC.child("healthCheckNodePort")
    hc_port = spec.health_check_node_port or 0
    if not needs_health_check(service):
        if hc_port:
            detail = (
                "may only be set when `type` is 'LoadBalancer' and "
                "`externalTrafficPolicy` is 'Local'"
            )
            errors.append(invalid(hc_path, hc_port, detail))
    elif not hc_port:
        errors.append(required(hc_path))
    else:
        errors.extend(invalid(hc_path, hc_port, d) for d in is_valid_port_num(hc_port))

    itp_path = _SPEC.child("internalTrafficPolicy")
    itp = spec.internal_traffic_policy
    if itp is None:
        # Not forbidden on ExternalName: upstream never checked it and keeps stored objects valid.
        if spec.type in ("NodePort", "LoadBalancer", "ClusterIP"):
            errors.append(required(itp_path))
    elif itp not in _TRAFFIC_POLICIES:
        errors.append(not_supported(itp_path, go_typed(itp), _TRAFFIC_POLICIES))

    distribution = spec.traffic_distribution
    if distribution is not None and distribution not in SUPPORTED_TRAFFIC_DISTRIBUTIONS:
        # Upstream lists these unsorted, so build the detail rather than use not_supported().
        listed = ", ".join(go_quote(v) for v in SUPPORTED_TRAFFIC_DISTRIBUTIONS)
        errors.append(
            FieldError(
                _SPEC.child("trafficDistribution"),
                ErrorType.NOT_SUPPORTED,
                distribution,
                f"supported values: {listed}",
            )
        )
    return errors
