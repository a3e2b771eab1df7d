"""Deployments and ReplicaSets (``apps/validation``): the selector must pick the template.

A workload's ``spec.selector`` is how its controller finds "its" pods, so it is required,
may not be empty, and must match the pod template's labels — a Deployment whose selector
misses its own pods would create them forever::

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.pod import Container, PodSpec, PodTemplateSpec
    >>> from k8s_service_lab.api.workloads import Deployment, DeploymentSpec
    >>> from k8s_service_lab.api.validation.workloads import validate_deployment
    >>> template = PodTemplateSpec(ObjectMeta(labels={"app": "x"}),
    ...                            PodSpec(containers=(Container("c", image="nginx"),)))
    >>> d = Deployment(ObjectMeta(name="web", namespace="default"),
    ...                DeploymentSpec(template=template))
    >>> for e in validate_deployment(d):
    ...     print(e)  # doctest: +NORMALIZE_WHITESPACE
    spec.selector: Required value
    spec.template.metadata.labels: Invalid value: {"app":"x"}:
        `selector` does not match template `labels`

(With no selector at all both errors appear: a nil selector selects nothing, so it cannot
match the template either.)
"""

from __future__ import annotations

from collections.abc import Mapping

from k8s_service_lab.api.pod import PodTemplateSpec
from k8s_service_lab.api.validation.meta import validate_object_meta, validate_object_meta_update
from k8s_service_lab.api.validation.names import name_is_dns_subdomain, validate_nonnegative
from k8s_service_lab.api.validation.pod import validate_pod_template
from k8s_service_lab.api.validation.render import GoValue, go_json
from k8s_service_lab.api.workloads import Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec
from k8s_service_lab.errors import SelectorError
from k8s_service_lab.field import FieldError, FieldPath, invalid, required
from k8s_service_lab.labels import (
    LabelSelector,
    selector_from_label_selector,
    validate_label_selector,
)

__all__ = [
    "label_selector_json",
    "validate_deployment",
    "validate_deployment_update",
    "validate_replica_set",
    "validate_replica_set_update",
]

_SPEC = FieldPath.root("spec")


def label_selector_json(selector: LabelSelector | None) -> GoValue:
    """``metav1.LabelSelector`` as ``json.Marshal`` writes it (``omitempty`` on both fields)."""
    if selector is None:
        return go_json(None)
    out: dict[str, object] = {}
    if selector.match_labels:
        out["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        expressions = []
        for expression in selector.match_expressions:
            item: dict[str, object] = {"key": expression.key, "operator": expression.operator}
            if expression.values:
                item["values"] = list(expression.values)
            expressions.append(item)
        out["matchExpressions"] = expressions
    return go_json(out)


def _labels_json(labels: Mapping[str, str]) -> GoValue:
    # A Go map marshals with sorted keys; an absent (nil) map as null.
    return go_json({k: labels[k] for k in sorted(labels)} if labels else None)


def _validate_selector_and_template(
    selector: LabelSelector | None, template: PodTemplateSpec, path: FieldPath
) -> list[FieldError]:
    errors: list[FieldError] = []
    selector_path = path.child("selector")
    if selector is None:
        errors.append(required(selector_path))
    else:
        errors.extend(validate_label_selector(selector, selector_path))
        if not selector.match_labels and not selector.match_expressions:
            # Upstream's wording, shared with ReplicaSets.
            detail = "empty selector is invalid for deployment"
            errors.append(invalid(selector_path, label_selector_json(selector), detail))
    try:
        compiled = selector_from_label_selector(selector)
    except SelectorError:
        errors.append(
            invalid(selector_path, label_selector_json(selector), "invalid label selector")
        )
        return errors
    # ValidatePodTemplateSpecForReplicaSet: an empty selector matches anything, so skip it.
    template_path = path.child("template")
    if not compiled.empty and not compiled.matches(template.metadata.labels):
        detail = "`selector` does not match template `labels`"
        labels_path = template_path.child("metadata", "labels")
        errors.append(invalid(labels_path, _labels_json(template.metadata.labels), detail))
    errors.extend(validate_pod_template(template, template_path))
    return errors


def _deployment_spec(spec: DeploymentSpec) -> list[FieldError]:
    # ValidateDeploymentSpec, in its order.
    errors: list[FieldError] = []
    if spec.replicas is not None:
        errors.extend(validate_nonnegative(spec.replicas, _SPEC.child("replicas")))
    errors.extend(_validate_selector_and_template(spec.selector, spec.template, _SPEC))
    if spec.min_ready_seconds is not None:
        errors.extend(validate_nonnegative(spec.min_ready_seconds, _SPEC.child("minReadySeconds")))
    if spec.revision_history_limit is not None:
        errors.extend(
            validate_nonnegative(spec.revision_history_limit, _SPEC.child("revisionHistoryLimit"))
        )
    return errors


def _replica_set_spec(spec: ReplicaSetSpec) -> list[FieldError]:
    # ValidateReplicaSetSpec checks minReadySeconds before the selector, unlike Deployments.
    errors: list[FieldError] = []
    if spec.replicas is not None:
        errors.extend(validate_nonnegative(spec.replicas, _SPEC.child("replicas")))
    if spec.min_ready_seconds is not None:
        errors.extend(validate_nonnegative(spec.min_ready_seconds, _SPEC.child("minReadySeconds")))
    errors.extend(_validate_selector_and_template(spec.selector, spec.template, _SPEC))
    return errors


def validate_deployment(deployment: Deployment) -> list[FieldError]:
    """``ValidateDeployment``: metadata, ``replicas >= 0``, selector vs template, counters."""
    errors = validate_object_meta(
        deployment.metadata, namespaced=True, name_fn=name_is_dns_subdomain
    )
    return errors + _deployment_spec(deployment.spec)


def validate_replica_set(replica_set: ReplicaSet) -> list[FieldError]:
    """``ValidateReplicaSet``: like a Deployment, with ``minReadySeconds`` checked earlier."""
    errors = validate_object_meta(
        replica_set.metadata, namespaced=True, name_fn=name_is_dns_subdomain
    )
    return errors + _replica_set_spec(replica_set.spec)


def _selector_immutable(new: LabelSelector | None, old: LabelSelector | None) -> list[FieldError]:
    # apps/v1 made the selector immutable (the registry strategy's ValidateUpdate).
    if new == old:
        return []
    return [invalid(_SPEC.child("selector"), label_selector_json(new), "field is immutable")]


def validate_deployment_update(new: Deployment, old: Deployment) -> list[FieldError]:
    """``ValidateDeploymentUpdate`` plus the apps/v1 rule that the selector never changes."""
    errors = validate_object_meta_update(new.metadata, old.metadata)
    errors.extend(_deployment_spec(new.spec))
    errors.extend(_selector_immutable(new.spec.selector, old.spec.selector))
    return errors


def validate_replica_set_update(new: ReplicaSet, old: ReplicaSet) -> list[FieldError]:
    """``ValidateReplicaSetUpdate`` plus the immutable apps/v1 selector."""
    errors = validate_object_meta_update(new.metadata, old.metadata)
    errors.extend(_replica_set_spec(new.spec))
    errors.extend(_selector_immutable(new.spec.selector, old.spec.selector))
    return errors
