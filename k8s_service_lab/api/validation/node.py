"""Nodes and Namespaces: cluster-scoped objects, named as DNS subdomains and labels.

A Node's name is what ``spec.nodeName`` and EndpointSlice ``nodeName`` point at, so it is a
DNS-1123 subdomain; a Namespace's name becomes a DNS label in every Service's name
(``web.<namespace>.svc``), so it is a DNS-1123 label::

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.node import Namespace
    >>> from k8s_service_lab.api.validation.node import validate_namespace
    >>> [str(e) for e in validate_namespace(Namespace(ObjectMeta(name="team.a")))]
    ['metadata.name: Invalid value: "team.a": must not contain dots']

For a Node, the pod CIDRs are checked too: valid CIDRs, at most one per family.
"""

from __future__ import annotations

from k8s_service_lab.api.node import Namespace, Node
from k8s_service_lab.api.validation.ipparse import parse_cidr_sloppy
from k8s_service_lab.api.validation.meta import validate_object_meta
from k8s_service_lab.api.validation.names import (
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_cidr_for_legacy_field,
)
from k8s_service_lab.api.validation.render import go_list
from k8s_service_lab.field import FieldError, FieldPath, duplicate, invalid

__all__ = ["validate_namespace", "validate_node"]


def _pod_cidrs(node: Node) -> tuple[str, ...]:
    # v1's podCIDR is podCIDRs[0]; conversion fills the list from it when only it is set.
    if node.spec.pod_cidrs:
        return node.spec.pod_cidrs
    return (node.spec.pod_cidr,) if node.spec.pod_cidr else ()


def validate_node(node: Node, *, strict_ip: bool = False) -> list[FieldError]:
    """``ValidateNode`` (naming and ``spec.podCIDRs``).

    Each pod CIDR is a legacy-validated CIDR; two or more must be one IPv4 and one IPv6
    (``may specify no more than one CIDR for each IP family``) and distinct.
    """
    errors = validate_object_meta(node.metadata, namespaced=False, name_fn=name_is_dns_subdomain)
    cidrs = _pod_cidrs(node)
    path = FieldPath.root("spec", "podCIDRs")
    for i, cidr in enumerate(cidrs):
        errors.extend(validate_cidr_for_legacy_field(cidr, path.index(i), strict=strict_ip))
    if len(cidrs) > 1:
        parsed = [parse_cidr_sloppy(cidr) for cidr in cidrs]
        families = {net.ip.is_ipv6 for net in parsed if net is not None}
        dual_stack = None not in parsed and len(families) == 2
        if not dual_stack or len(cidrs) > 2:
            detail = "may specify no more than one CIDR for each IP family"
            errors.append(invalid(path, go_list(cidrs), detail))
        seen: set[str] = set()
        for i, cidr in enumerate(cidrs):
            if cidr in seen:
                errors.append(duplicate(path.index(i), cidr))
            seen.add(cidr)
    return errors


def validate_namespace(namespace: Namespace) -> list[FieldError]:
    """``ValidateNamespace``: a cluster-scoped object whose name is a DNS-1123 label."""
    return validate_object_meta(namespace.metadata, namespaced=False, name_fn=name_is_dns_label)
