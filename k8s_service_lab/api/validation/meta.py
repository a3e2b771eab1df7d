"""``metadata`` checks shared by every kind (apimachinery's ``ValidateObjectMeta``).

Every create runs these first, so their errors lead the apiserver's list: the name (by the
kind's own rule), the namespace, ``generation``, labels, annotations, owner references and
finalizers, in that order::

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.validation.meta import validate_object_meta
    >>> from k8s_service_lab.api.validation.names import name_is_dns1035_label
    >>> [str(e) for e in validate_object_meta(ObjectMeta(namespace="default"),
    ...                                       namespaced=True, name_fn=name_is_dns1035_label)]
    ['metadata.name: Required value: name or generateName is required']

Which rule a name must follow depends on the kind (:data:`NAME_RULES`): a Service name
becomes a DNS label *and* environment variable prefixes, so it must be a DNS-1035 label
(start with a letter); Pods, Deployments, EndpointSlices and Nodes take DNS-1123 subdomains;
Namespaces DNS-1123 labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from k8s_service_lab.api.meta import ObjectMeta, OwnerReference
from k8s_service_lab.api.validation.names import (
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_nonnegative,
)
from k8s_service_lab.api.validation.render import go_json
from k8s_service_lab.field import (
    FieldError,
    FieldPath,
    forbidden,
    invalid,
    required,
    too_long,
)
from k8s_service_lab.labels import is_qualified_name, validate_labels

__all__ = [
    "NAME_RULES",
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "NameFn",
    "validate_annotations",
    "validate_finalizers",
    "validate_object_meta",
    "validate_object_meta_update",
    "validate_owner_references",
    "validate_qualified_name",
]

#: ``name_fn(name, prefix) -> details``: upstream's ``ValidateNameFunc``.
NameFn = Callable[[str, bool], list[str]]

#: 256 KiB for all annotation keys and values together (``TotalAnnotationSizeLimitB``).
TOTAL_ANNOTATION_SIZE_LIMIT: Final = 256 * 1024

#: Kind → the rule its ``metadata.name`` follows (the ``Validate*Name`` variables upstream).
NAME_RULES: Final[Mapping[str, NameFn]] = {
    "Service": name_is_dns1035_label,
    "Pod": name_is_dns_subdomain,
    "Deployment": name_is_dns_subdomain,
    "ReplicaSet": name_is_dns_subdomain,
    "EndpointSlice": name_is_dns_subdomain,
    "Endpoints": name_is_dns_subdomain,
    "Node": name_is_dns_subdomain,
    "Namespace": name_is_dns_label,
}

# Finalizers Kubernetes itself defines without a "/" (IsStandardFinalizerName).
_STANDARD_FINALIZERS: Final = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def validate_qualified_name(value: str, path: FieldPath) -> list[FieldError]:
    """Upstream ``ValidateQualifiedName`` (``appProtocol``, ``loadBalancerClass``)."""
    return [invalid(path, value, detail) for detail in is_qualified_name(value)]


def validate_annotations(annotations: Mapping[str, str], path: FieldPath) -> list[FieldError]:
    """``ValidateAnnotations``: qualified-name keys (any case), 256 KiB in total.

    Keys are checked lower-cased, because annotation keys may use upper case where label
    keys' prefixes may not; the error still shows the key as written. Go walks the map in
    random order; we walk it sorted so the report is stable.
    """
    errors: list[FieldError] = []
    for key in sorted(annotations):
        errors.extend(invalid(path, key, detail) for detail in is_qualified_name(key.lower()))
    total = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errors


def validate_owner_references(meta: ObjectMeta, path: FieldPath) -> list[FieldError]:
    """``ValidateOwnerReferences``: each reference complete, at most one ``controller: true``."""
    errors: list[FieldError] = []
    first_controller = ""
    for ref in meta.owner_references:
        if not _api_version_has_version(ref.api_version):
            errors.append(
                invalid(path.child("apiVersion"), ref.api_version, "version must not be empty")
            )
        if not ref.kind:
            errors.append(invalid(path.child("kind"), ref.kind, "must not be empty"))
        if not ref.name:
            errors.append(invalid(path.child("name"), ref.name, "must not be empty"))
        if not ref.uid:
            errors.append(invalid(path.child("uid"), ref.uid, "must not be empty"))
        if ref.api_version == "v1" and ref.kind == "Event":
            value = go_json(_owner_reference_json(ref))
            errors.append(invalid(path, value, "/v1, Kind=Event is disallowed from being an owner"))
        if ref.controller:
            current = f"{ref.kind}/{ref.name}"
            if first_controller:
                detail = (
                    'Only one reference can have Controller set to true. Found "true" in '
                    f"references for {first_controller} and {current}"
                )
                refs = [_owner_reference_json(r) for r in meta.owner_references]
                errors.append(invalid(path, go_json(refs), detail))
            else:
                first_controller = current
    return errors


def _api_version_has_version(api_version: str) -> bool:
    # schema.ParseGroupVersion: "v1" or "group/version"; more slashes do not parse at all.
    parts = api_version.split("/")
    return len(parts) <= 2 and bool(parts[-1])


def _owner_reference_json(ref: OwnerReference) -> dict[str, object]:
    # metav1.OwnerReference's JSON, in struct field order with its omitempty rules.
    out: dict[str, object] = {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "name": ref.name,
        "uid": ref.uid,
    }
    if ref.controller is not None:
        out["controller"] = ref.controller
    if ref.block_owner_deletion is not None:
        out["blockOwnerDeletion"] = ref.block_owner_deletion
    return out


def validate_finalizers(finalizers: tuple[str, ...], path: FieldPath) -> list[FieldError]:
    """``ValidateFinalizers`` plus core's ``validateKubeFinalizerName`` check.

    A finalizer is a qualified name; one without a ``/`` must be one Kubernetes defines.
    ``orphan`` and ``foregroundDeletion`` contradict each other.
    """
    errors: list[FieldError] = []
    for finalizer in finalizers:
        errors.extend(invalid(path, finalizer, d) for d in is_qualified_name(finalizer))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errors.append(
            invalid(
                path,
                go_json(list(finalizers)),
                "finalizer orphan and foregroundDeletion cannot be both set",
            )
        )
    for i, finalizer in enumerate(finalizers):
        if "/" not in finalizer and finalizer not in _STANDARD_FINALIZERS:
            errors.append(
                invalid(
                    path.index(i),
                    finalizer,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errors


def validate_object_meta(
    meta: ObjectMeta,
    *,
    namespaced: bool,
    name_fn: NameFn,
    path: FieldPath | None = None,
) -> list[FieldError]:
    """``ValidateObjectMeta`` on create, in upstream order; ``path`` defaults to ``metadata``.

    ``generateName`` is checked as a prefix (a trailing ``-`` is fine). A cluster-scoped
    object may not carry a namespace (``Forbidden: not allowed on this type``); note that a
    real apiserver clears that namespace *before* validating, so a cluster never shows it.
    """
    path = path or FieldPath.root("metadata")
    errors: list[FieldError] = []
    if meta.generate_name:
        errors.extend(
            invalid(path.child("generateName"), meta.generate_name, detail)
            for detail in name_fn(meta.generate_name, True)
        )
    if not meta.name:
        errors.append(required(path.child("name"), "name or generateName is required"))
    else:
        errors.extend(invalid(path.child("name"), meta.name, d) for d in name_fn(meta.name, False))
    if namespaced:
        if not meta.namespace:
            errors.append(required(path.child("namespace")))
        else:
            errors.extend(
                invalid(path.child("namespace"), meta.namespace, detail)
                for detail in name_is_dns_label(meta.namespace, False)
            )
    elif meta.namespace:
        errors.append(forbidden(path.child("namespace"), "not allowed on this type"))
    if meta.generation is not None:
        errors.extend(validate_nonnegative(meta.generation, path.child("generation")))
    errors.extend(validate_labels(meta.labels, path.child("labels")))
    errors.extend(validate_annotations(meta.annotations, path.child("annotations")))
    errors.extend(validate_owner_references(meta, path.child("ownerReferences")))
    errors.extend(validate_finalizers(meta.finalizers, path.child("finalizers")))
    return errors


def validate_object_meta_update(
    new: ObjectMeta, old: ObjectMeta, path: FieldPath | None = None
) -> list[FieldError]:
    """The user-visible part of ``ValidateObjectMetaUpdate``.

    ``name`` and ``namespace`` are immutable (``field is immutable``, showing the new
    value), and the new labels, annotations, owner references and finalizers must be valid.
    The server-managed fields (``resourceVersion``, ``uid``, timestamps) are left out: the
    apiserver fills them from the stored object before validating an update.
    """
    path = path or FieldPath.root("metadata")
    errors: list[FieldError] = []
    if new.name != old.name:
        errors.append(invalid(path.child("name"), new.name or "", "field is immutable"))
    if new.namespace != old.namespace:
        errors.append(invalid(path.child("namespace"), new.namespace or "", "field is immutable"))
    errors.extend(validate_labels(new.labels, path.child("labels")))
    errors.extend(validate_annotations(new.annotations, path.child("annotations")))
    errors.extend(validate_owner_references(new, path.child("ownerReferences")))
    errors.extend(validate_finalizers(new.finalizers, path.child("finalizers")))
    return errors
