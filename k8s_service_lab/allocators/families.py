"""Settling a Service's IP families and family policy, on create and on update.

This is the apiserver's ``initIPFamilyFields`` (``pkg/registry/core/service/storage/alloc.go``),
the first thing the allocation step does. It decides ``ipFamilyPolicy`` when unset, checks the
cluster-IP fields loosely (so allocation sees sane input), infers families from requested IPs,
and fills ``ipFamilies`` from the cluster's configuration. Its errors come *alone*, before any
other validation::

    >>> from k8s_service_lab.allocators.families import init_ip_family_fields
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> svc = Service(ObjectMeta(name="s", namespace="default"), ServiceSpec(
    ...     type="ClusterIP", ip_family_policy="PreferDualStack", ports=(ServicePort(80),)))
    >>> done = init_ip_family_fields(svc, None, ("IPv4", "IPv6"), "IPv4")
    >>> done.spec.ip_families, done.spec.ip_family_policy
    (('IPv4', 'IPv6'), 'PreferDualStack')
    >>> init_ip_family_fields(svc, None, ("IPv4",), "IPv4").spec.ip_families  # single-stack
    ('IPv4',)

On update (``old`` given) three more rules apply (control-plane sheet §2.6):

- an unset policy keeps the old one;
- ``SingleStack`` with unchanged ``clusterIPs`` / ``ipFamilies`` is a downgrade: the lists are
  cut to their first entry here, and the secondary IP is released after the update commits;
- shortening those lists under any other policy is refused
  (``must be 'SingleStack' to release the secondary cluster IP``);
- a ``PreferDualStack`` Service whose type, IPs and families did not change is left alone,
  so it is never upgraded or downgraded just because the cluster changed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from k8s_service_lab.allocators.clusterip import family_of, parse_ip
from k8s_service_lab.api.service import (
    CLUSTER_IP_NONE,
    IPFamily,
    IPFamilyPolicy,
    Service,
    ServiceType,
)
from k8s_service_lab.api.validation.service_ips import validate_cluster_ips_related_fields
from k8s_service_lab.errors import ValidationError
from k8s_service_lab.field import FieldError, FieldPath, invalid

__all__ = ["init_ip_family_fields", "is_matching_prefer_dual_stack", "other_family"]

_SPEC = FieldPath.root("spec")
_POLICY = _SPEC.child("ipFamilyPolicy")
_SINGLE = IPFamilyPolicy.SINGLE_STACK.value
_PREFER = IPFamilyPolicy.PREFER_DUAL_STACK.value
_REQUIRE = IPFamilyPolicy.REQUIRE_DUAL_STACK.value
_MUST_BE_DUAL = "must be 'RequireDualStack' or 'PreferDualStack' when"
_IP_TYPES = (ServiceType.CLUSTER_IP, ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)


def other_family(family: str) -> str:
    """``IPv6`` for ``IPv4`` and the other way round."""
    return (IPFamily.IPV6 if family == IPFamily.IPV4 else IPFamily.IPV4).value


def is_matching_prefer_dual_stack(new: Service, old: Service | None) -> bool:
    """``isMatchingPreferDualStackClusterIPFields``: a PreferDualStack update that changes
    neither type nor IPs nor families — nothing to (de)allocate."""
    if old is None or new.spec.ip_family_policy is None:
        return False
    if old.spec.type != new.spec.type or new.spec.type not in _IP_TYPES:
        return False
    if new.spec.ip_family_policy != _PREFER:
        return False
    if old.spec.ip_family_policy not in (None, _PREFER):
        return False
    return (
        old.spec.cluster_ips == new.spec.cluster_ips
        and old.spec.ip_families == new.spec.ip_families
    )


def init_ip_family_fields(
    svc: Service, old: Service | None, configured: Collection[str], default_family: str
) -> Service:
    """``svc`` with ``ipFamilyPolicy`` / ``ipFamilies`` settled (and a downgrade's lists cut).

    ``configured`` names the cluster's families, ``default_family`` the primary one. Raises
    :class:`~k8s_service_lab.errors.ValidationError` with upstream's words.
    """
    spec = svc.spec
    if spec.type == ServiceType.EXTERNAL_NAME or is_matching_prefer_dual_stack(svc, old):
        return svc
    name = svc.metadata.name or ""
    headless_selectorless = spec.cluster_ip == CLUSTER_IP_NONE and not spec.selector
    policy = spec.ip_family_policy
    if policy is None:
        if old is not None and old.spec.ip_family_policy is not None:
            policy = old.spec.ip_family_policy
        else:
            policy = _REQUIRE if headless_selectorless else _SINGLE
    # Upstream's "loose pre-validation", so allocation never sees nonsense; errors come alone.
    svc = replace(svc, spec=replace(spec, ip_family_policy=policy))
    pre = validate_cluster_ips_related_fields(svc)
    if pre:
        raise ValidationError("Service", name, pre)
    cluster_ips = list(svc.spec.cluster_ips)
    families = list(svc.spec.ip_families)
    errors: list[FieldError] = []
    if old is not None:
        errors.extend(_update_prep(old, policy, cluster_ips, families))
    if policy == _SINGLE:
        if len(cluster_ips) == 2:
            errors.append(
                invalid(_POLICY, policy, f"{_MUST_BE_DUAL} multiple cluster IPs are specified")
            )
        if len(families) == 2:
            errors.append(
                invalid(_POLICY, policy, f"{_MUST_BE_DUAL} multiple IP families are specified")
            )
    for i, text in enumerate(cluster_ips):
        if text == CLUSTER_IP_NONE:
            break
        ip = parse_ip(text)
        assert ip is not None  # checked by validate_cluster_ips_related_fields
        family = family_of(ip)
        if i >= len(families):  # an IP without a family says which family it wants
            if family in configured:
                families.append(family.value)
            else:
                detail = f"{family} is not configured on this cluster"
                errors.append(invalid(_SPEC.child("clusterIPs").index(i), cluster_ips, detail))
    if errors:
        raise ValidationError("Service", name, errors)
    if headless_selectorless:
        # Allowed to name both families even on a single-stack cluster: no IP is needed.
        if not families:
            families.append(default_family)
        if len(families) < 2 and policy != _SINGLE:
            families.append(other_family(families[0]))
        return _with(svc, cluster_ips, families)
    if policy == _REQUIRE and len(configured) < 2:
        detail = "this cluster is not configured for dual-stack services"
        errors.append(invalid(_POLICY, policy, detail))
    for i, wanted in enumerate(families):
        if wanted not in configured:
            path = _SPEC.child("ipFamilies").index(i)
            errors.append(invalid(path, wanted, "not configured on this cluster"))
    if errors:
        raise ValidationError("Service", name, errors)
    if not families:
        families.append(default_family)
    if policy != _SINGLE and len(families) == 1 and len(configured) == 2:
        families.append(other_family(families[0]))
    return _with(svc, cluster_ips, families)


def _update_prep(
    old: Service, policy: str, cluster_ips: list[str], families: list[str]
) -> list[FieldError]:
    """The update-only part: SingleStack cuts unchanged lists; other policies may not shrink."""
    if policy == _SINGLE:
        # ClusterIPs[0] is immutable, so keeping it is safe; the secondary is released later.
        if tuple(cluster_ips) == old.spec.cluster_ips and len(cluster_ips) > 1:
            del cluster_ips[1:]
        if tuple(families) == old.spec.ip_families and len(families) > 1:
            del families[1:]
        return []
    errors = []
    if cluster_ips and len(cluster_ips) < len(old.spec.cluster_ips):
        detail = "must be 'SingleStack' to release the secondary cluster IP"
        errors.append(invalid(_POLICY, policy, detail))
    if families and len(families) < len(old.spec.ip_families):
        detail = "must be 'SingleStack' to release the secondary IP family"
        errors.append(invalid(_POLICY, policy, detail))
    return errors


def _with(svc: Service, cluster_ips: list[str], families: list[str]) -> Service:
    spec = replace(svc.spec, cluster_ips=tuple(cluster_ips), ip_families=tuple(families))
    return replace(svc, spec=spec)
