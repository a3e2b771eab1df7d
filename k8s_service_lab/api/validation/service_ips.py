"""Cluster IPs and IP families: ``ValidateServiceClusterIPsRelatedFields`` and its update rules.

Dual-stack made ``clusterIP`` a list (``clusterIPs``) with a family per entry
(``ipFamilies``) and a policy (``ipFamilyPolicy``). These checks keep the three consistent;
choosing families and allocating addresses is the allocator's job, not validation's::

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServiceSpec
    >>> from k8s_service_lab.api.validation.service_ips import (
    ...     validate_cluster_ips_related_fields)
    >>> svc = Service(ObjectMeta(name="s"), ServiceSpec(type="ClusterIP",
    ...     cluster_ip="fd00::1", cluster_ips=("fd00::1",), ip_families=("IPv4",)))
    >>> for e in validate_cluster_ips_related_fields(svc):
    ...     print(e)  # doctest: +NORMALIZE_WHITESPACE
    spec.clusterIPs[0]: Invalid value: "fd00::1":
        expected an IPv4 value as indicated by `ipFamilies[0]`

Once an address in ``clusterIPs`` is invalid the family checks stop, as upstream's do:
a bad address would only make them say misleading things.
"""

from __future__ import annotations

from typing import Final

from k8s_service_lab.api.service import Service
from k8s_service_lab.api.validation.ipparse import parse_ip_sloppy
from k8s_service_lab.api.validation.names import validate_ip_for_legacy_field
from k8s_service_lab.api.validation.render import go_list, go_typed
from k8s_service_lab.field import (
    FieldError,
    FieldPath,
    duplicate,
    go_quote,
    internal,
    invalid,
    not_supported,
    required,
)

__all__ = [
    "is_headless",
    "validate_cluster_ips_related_fields",
    "validate_upgrade_downgrade_cluster_ips",
    "validate_upgrade_downgrade_ip_families",
]

_IP_FAMILIES: Final = ("IPv4", "IPv6")
_IP_FAMILY_POLICIES: Final = ("PreferDualStack", "RequireDualStack", "SingleStack")
_SPEC: Final = FieldPath.root("spec")
_CLUSTER_IPS: Final = _SPEC.child("clusterIPs")
_IP_FAMILIES_PATH: Final = _SPEC.child("ipFamilies")
_POLICY_PATH: Final = _SPEC.child("ipFamilyPolicy")


def is_headless(service: Service | None) -> bool:
    """Upstream ``isHeadlessService``: exactly ``clusterIPs: ["None"]``."""
    return service is not None and service.spec.cluster_ips == ("None",)


def _is_ipv6_string(ip: str) -> bool:
    parsed = parse_ip_sloppy(ip)
    return parsed is not None and parsed.is_ipv6


def validate_cluster_ips_related_fields(
    service: Service, old: Service | None = None, *, strict: bool = False
) -> list[FieldError]:
    """Every consistency rule between ``clusterIP``, ``clusterIPs``, ``ipFamilies`` and the policy.

    ExternalName Services are skipped: ``ValidateService`` already forbids all four there.
    Addresses the ``old`` object held pass unchanged (upstream's ratcheting).
    """
    spec = service.spec
    if spec.type == "ExternalName":
        return []
    errors: list[FieldError] = []
    ips = spec.cluster_ips
    # clusterIP and clusterIPs[0] must agree; the registry normally syncs them.
    if spec.cluster_ip:
        if not ips:
            errors.append(required(_CLUSTER_IPS))
        elif ips[0] != spec.cluster_ip:
            errors.append(invalid(_CLUSTER_IPS, go_list(ips), "first value must match `clusterIP`"))
    elif ips:
        detail = "must be empty when `clusterIP` is not specified"
        errors.append(invalid(_CLUSTER_IPS, go_list(ips), detail))

    seen: set[str] = set()
    for i, family in enumerate(spec.ip_families):
        path = _IP_FAMILIES_PATH.index(i)
        if family not in _IP_FAMILIES:
            errors.append(not_supported(path, go_typed(family), _IP_FAMILIES))
        # Rejecting duplicates is also what keeps a two-entry list dual-stack.
        if family in seen:
            errors.append(duplicate(path, go_typed(family)))
        seen.add(family)

    policy = spec.ip_family_policy
    if policy is not None and policy not in _IP_FAMILY_POLICIES:
        errors.append(not_supported(_POLICY_PATH, go_typed(policy), _IP_FAMILY_POLICIES))

    existing = old.spec.cluster_ips if old is not None else ()
    has_invalid_ips = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                has_invalid_ips = True
                detail = "'None' must be the first and only value"
                errors.append(invalid(_CLUSTER_IPS, go_list(ips), detail))
            continue
        problems = validate_ip_for_legacy_field(
            ip, _CLUSTER_IPS.index(i), strict=strict, valid_old=existing
        )
        has_invalid_ips = has_invalid_ips or bool(problems)
        errors.extend(problems)

    if len(ips) > 2:
        errors.append(invalid(_CLUSTER_IPS, go_list(ips), "may only hold up to 2 values"))
    if has_invalid_ips:
        return errors

    if len(ips) > 1:
        errors.extend(_dual_stack_errors(ips))

    if not is_headless(service) and ips and spec.ip_families:
        for i, ip in enumerate(ips[: len(spec.ip_families)]):
            family = spec.ip_families[i]
            if family == "IPv4" and _is_ipv6_string(ip):
                detail = f"expected an IPv4 value as indicated by `ipFamilies[{i}]`"
                errors.append(invalid(_CLUSTER_IPS.index(i), ip, detail))
            if family == "IPv6" and not _is_ipv6_string(ip):
                detail = f"expected an IPv6 value as indicated by `ipFamilies[{i}]`"
                errors.append(invalid(_CLUSTER_IPS.index(i), ip, detail))
    return errors


def _dual_stack_errors(ips: tuple[str, ...]) -> list[FieldError]:
    # netutils.IsDualStackIPStrings: at least one address of each family.
    errors: list[FieldError] = []
    families: set[bool] = set()
    for ip in ips:
        parsed = parse_ip_sloppy(ip)
        if parsed is None:
            # Only reachable for a ratcheted old value that no longer parses.
            detail = f"failed to check for dual stack with error:failed to parse IP: {go_quote(ip)}"
            errors.append(internal(_CLUSTER_IPS, detail))
            families.clear()
            break
        families.add(parsed.is_ipv6)
    if len(families) < 2:
        detail = "may specify no more than one IP for each IP family"
        errors.append(invalid(_CLUSTER_IPS, go_list(ips), detail))
    return errors


def validate_upgrade_downgrade_cluster_ips(old: Service, new: Service) -> list[FieldError]:
    """``validateUpgradeDowngradeClusterIPs``: the primary address never changes.

    A secondary address may be added (upgrade) or released (downgrade, which requires
    ``ipFamilyPolicy: SingleStack``). Headless stays headless; ExternalName is exempt.
    """
    if "ExternalName" in (new.spec.type, old.spec.type):
        return []
    if is_headless(old) and is_headless(new):
        return []
    errors: list[FieldError] = []
    old_ips, new_ips = old.spec.cluster_ips, new.spec.cluster_ips
    changed = "may not change once set"
    if len(old_ips) == len(new_ips):
        for i, ip in enumerate(old_ips):
            if ip != new_ips[i]:
                errors.append(invalid(_CLUSTER_IPS.index(i), go_list(new_ips), changed))
    elif len(old_ips) > len(new_ips):
        if not new_ips:
            detail = "primary clusterIP can not be unset"
            errors.append(invalid(_CLUSTER_IPS.index(0), go_list(new_ips), detail))
        if old_ips and new_ips and new_ips[0] != old_ips[0]:
            errors.append(invalid(_CLUSTER_IPS.index(0), go_list(new_ips), changed))
        if len(new_ips) == 1 and new.spec.ip_family_policy != "SingleStack":
            detail = "must be set to 'SingleStack' when releasing the secondary clusterIP"
            errors.append(invalid(_POLICY_PATH, go_typed(new.spec.ip_family_policy), detail))
    elif old_ips and new_ips[0] != old_ips[0]:
        errors.append(invalid(_CLUSTER_IPS.index(0), go_list(new_ips), changed))
    return errors


def validate_upgrade_downgrade_ip_families(old: Service, new: Service) -> list[FieldError]:
    """``validateUpgradeDowngradeIPFamilies``: the primary family never changes.

    Reproduces upstream's quirks: every changed entry is reported at ``ipFamilies[0]``,
    and the downgrade branches show ``clusterIPs`` as the bad value.
    """
    if "ExternalName" in (new.spec.type, old.spec.type):
        return []
    if is_headless(old) != is_headless(new) or is_headless(new):
        # Switching to or from headless is clusterIPs' business; headless may change family.
        return []
    errors: list[FieldError] = []
    old_families, new_families = old.spec.ip_families, new.spec.ip_families
    first = _IP_FAMILIES_PATH.index(0)
    changed = "may not change once set"
    if len(old_families) == len(new_families):
        for i, family in enumerate(old_families):
            if family != new_families[i]:
                errors.append(invalid(first, go_list(new_families), changed))
    elif len(old_families) > len(new_families):
        if not new.spec.cluster_ips:
            detail = "primary ipFamily can not be unset"
            errors.append(invalid(first, go_list(new_families), detail))
        if new_families and new_families[0] != old_families[0]:
            errors.append(invalid(first, go_list(new.spec.cluster_ips), changed))
        if len(new_families) == 1 and new.spec.ip_family_policy != "SingleStack":
            detail = "must be set to 'SingleStack' when releasing the secondary ipFamily"
            errors.append(invalid(_POLICY_PATH, go_typed(new.spec.ip_family_policy), detail))
    elif old_families and new_families[0] != old_families[0]:
        errors.append(invalid(first, go_list(new.spec.cluster_ips), changed))
    return errors
