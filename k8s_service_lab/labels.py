"""Label selectors as Kubernetes v1.34 reads them: parse, match, validate, print.

A Service's ``spec.selector`` is a label set that pods must carry; Deployments and
NetworkPolicies use the richer structured selector (``matchLabels`` + ``matchExpressions``);
``kubectl -l`` uses the string syntax. All three end up as one :class:`Selector`, an AND of
:class:`Requirement` objects::

    >>> from k8s_service_lab.labels import parse_selector, Selector
    >>> selector = parse_selector("app=web,tier in (fe,be),!canary")
    >>> str(selector)
    'app=web,!canary,tier in (be,fe)'
    >>> selector.matches({"app": "web", "tier": "fe"})
    True
    >>> selector.matches({"app": "web", "tier": "fe", "canary": "yes"})
    False
    >>> Selector.from_set({"app": "web"}).matches({"app": "web", "pod-template-hash": "5d"})
    True

This module is the public entry. The pieces live in ``labels_validation`` (key and value
rules), ``labels_selector`` (requirements, selectors, matching) and ``labels_syntax`` (the
string parser); the structured ``metav1.LabelSelector`` lives here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from k8s_service_lab.errors import SelectorError
from k8s_service_lab.field import (
    FieldError,
    FieldPath,
    aggregate,
    forbidden,
    go_quote,
    invalid,
    required,
)
from k8s_service_lab.labels_selector import (
    GoJSON,
    Operator,
    Requirement,
    Selector,
    requirement_errors,
)
from k8s_service_lab.labels_syntax import parse_selector
from k8s_service_lab.labels_validation import (
    is_qualified_name,
    validate_label_key,
    validate_label_value,
    validate_labels,
)

__all__ = [
    "LabelSelector",
    "LabelSelectorRequirement",
    "Operator",
    "Requirement",
    "Selector",
    "format_labels",
    "is_qualified_name",
    "label_selector_from_string",
    "parse_selector",
    "selector_from_label_selector",
    "validate_label_key",
    "validate_label_selector",
    "validate_label_value",
    "validate_labels",
]

# matchExpressions spell operators in CamelCase and know only these four (no Gt/Lt, no "=").
_STRUCTURED_OPERATORS: Final = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}
_STRUCTURED_NAMES: Final = {op: name for name, op in _STRUCTURED_OPERATORS.items()}


@dataclass(frozen=True, slots=True)
class LabelSelectorRequirement:
    """One ``matchExpressions`` entry: ``{key, operator, values}``.

    ``operator`` stays the raw string from the manifest (``"In"``, ``"NotIn"``, ``"Exists"``,
    ``"DoesNotExist"``), so that a wrong one can still be reported as the user wrote it.
    """

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A list from YAML is welcome; keep a tuple so the object stays immutable.
        object.__setattr__(self, "values", tuple(self.values))


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A structured ``metav1.LabelSelector``: ``matchLabels`` AND ``matchExpressions``.

    ``match_labels=None`` means the field was absent; it behaves like ``{}``. A *missing*
    selector is ``None`` in place of a ``LabelSelector``, and selects nothing.
    """

    match_labels: Mapping[str, str] | None = None
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def __post_init__(self) -> None:
        if self.match_labels is not None:
            frozen = MappingProxyType(dict(self.match_labels))
            object.__setattr__(self, "match_labels", frozen)
        object.__setattr__(self, "match_expressions", tuple(self.match_expressions))

    def __hash__(self) -> int:
        labels = None if self.match_labels is None else tuple(sorted(self.match_labels.items()))
        return hash((labels, self.match_expressions))

    def match_label_pairs(self) -> Iterator[tuple[str, str]]:
        """The ``matchLabels`` pairs in key order (none when the field is absent)."""
        pairs = self.match_labels or {}
        for key in sorted(pairs):
            yield key, pairs[key]


def _new_requirement(
    key: str, operator: Operator, values: tuple[str, ...], *, nil_values: bool = False
) -> Requirement:
    errors = requirement_errors(key, operator, values, nil_values=nil_values)
    if errors:
        raise SelectorError(aggregate(str(error) for error in errors))
    return Requirement(key, operator, values)


def selector_from_label_selector(selector: LabelSelector | None) -> Selector:
    """Convert a structured selector (upstream ``LabelSelectorAsSelector``).

    ``None`` selects nothing, an empty ``LabelSelector()`` everything. ``matchLabels``
    become ``=`` requirements. An unknown operator raises ``"Foo" is not a valid label
    selector operator``; ``In``/``NotIn`` without values raise NewRequirement's error
    (``values: Invalid value: null: ...``), although the string form ``x in ()`` is legal.
    """
    if selector is None:
        return Selector.nothing()
    if not selector.match_labels and not selector.match_expressions:
        return Selector.everything()
    requirements = [
        _new_requirement(k, Operator.EQUALS, (v,)) for k, v in selector.match_label_pairs()
    ]
    for expression in selector.match_expressions:
        operator = _STRUCTURED_OPERATORS.get(expression.operator)
        if operator is None:
            raise SelectorError(
                f"{go_quote(expression.operator)} is not a valid label selector operator"
            )
        # Upstream copies the values into a fresh nil slice, so "no values" prints as null.
        requirements.append(
            _new_requirement(
                expression.key, operator, expression.values, nil_values=not expression.values
            )
        )
    return Selector(tuple(requirements))


def validate_label_selector(
    selector: LabelSelector | None,
    path: FieldPath,
    *,
    allow_invalid_label_value: bool = False,
) -> list[FieldError]:
    """Every problem with a structured selector, as API validation reports it.

    Upstream ``ValidateLabelSelector``: ``matchLabels`` via :func:`validate_labels` (the path
    does not name the key), then per expression the operator/values rule, the key and each
    value. ``allow_invalid_label_value`` is upstream's ratchet for updating objects that
    already hold invalid values.
    """
    if selector is None:
        return []
    errors = validate_labels(selector.match_labels or {}, path.child("matchLabels"))
    for i, expression in enumerate(selector.match_expressions):
        here = path.child("matchExpressions").index(i)
        values_path = here.child("values")
        if expression.operator in ("In", "NotIn"):
            if not expression.values:
                errors.append(
                    required(values_path, "must be specified when `operator` is 'In' or 'NotIn'")
                )
        elif expression.operator in ("Exists", "DoesNotExist"):
            if expression.values:
                errors.append(
                    forbidden(
                        values_path,
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errors.append(
                invalid(
                    here.child("operator"),
                    GoJSON(expression.operator),
                    "not a valid selector operator",
                )
            )
        key_path = here.child("key")
        errors.extend(
            invalid(key_path, expression.key, m) for m in validate_label_key(expression.key)
        )
        if not allow_invalid_label_value:
            for j, value in enumerate(expression.values):
                value_path = values_path.index(j)
                errors.extend(invalid(value_path, value, m) for m in validate_label_value(value))
    return errors


def label_selector_from_string(text: str) -> LabelSelector:
    """Parse the string syntax into a structured selector (upstream ``ParseToLabelSelector``).

    ``=`` and ``==`` go to ``matchLabels`` (a later duplicate key wins); ``in``, ``notin``,
    exists and ``!`` become expressions. ``>``/``<`` cannot be expressed (``"gt" isn't
    supported in label selectors``) and neither can ``!=``.
    """
    try:
        parsed = parse_selector(text)
    except SelectorError as err:
        raise SelectorError(f'couldn\'t parse the selector string "{text}": {err}') from None
    match_labels: dict[str, str] = {}
    expressions: list[LabelSelectorRequirement] = []
    for requirement in parsed.requirements:
        operator = requirement.operator
        if operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS):
            match_labels[requirement.key] = requirement.values[0]
        elif operator in _STRUCTURED_NAMES:
            name = _STRUCTURED_NAMES[operator]
            expressions.append(LabelSelectorRequirement(requirement.key, name, requirement.values))
        elif operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
            raise SelectorError(f"{go_quote(operator.value)} isn't supported in label selectors")
        else:
            raise SelectorError(
                f"{go_quote(operator.value)} is not a valid label selector operator"
            )
    return LabelSelector(match_labels, tuple(expressions))


def format_labels(labels: Mapping[str, str]) -> str:
    """Labels as kubectl shows them: sorted ``k=v`` joined by ``,``, or ``<none>``."""
    if not labels:
        return "<none>"
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))
