"""Requirements and selectors: the parsed form of a label selector, and how it matches.

A :class:`Selector` is an AND of :class:`Requirement` objects, each ``(key, operator,
values)``. Building a requirement validates it the way apimachinery's ``NewRequirement`` does,
and compiles it once into a small test function, so matching a label set costs a dictionary
lookup or two::

    >>> web = Requirement("app", Operator.EQUALS, ("web",))
    >>> canary = Requirement("track", Operator.NOT_IN, ("canary",))
    >>> selector = Selector((web, canary))
    >>> str(selector)
    'app=web,track notin (canary)'
    >>> selector.matches({"app": "web"}), selector.matches({"app": "web", "track": "canary"})
    (True, False)

``Selector.everything()`` matches every label set, ``Selector.nothing()`` none at all.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from k8s_service_lab.errors import SelectorError
from k8s_service_lab.field import ErrorType, FieldError, FieldPath, aggregate, go_quote, invalid
from k8s_service_lab.labels_validation import validate_label_key, validate_label_value

__all__ = [
    "GoJSON",
    "Operator",
    "Requirement",
    "Selector",
    "parse_int64",
    "requirement_errors",
]

LabelTest = Callable[[Mapping[str, str]], bool]


class Operator(enum.Enum):
    """A requirement's operator, valued by the string apimachinery uses for it.

    ``=`` and ``==`` mean the same but are kept apart, because ``String()`` prints each as
    written. The declaration order is upstream's, which its "supported values" message shows.
    """

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GREATER_THAN = "gt"
    LESS_THAN = "lt"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


# Tuples, not sets: membership then is an identity check, while hashing an enum member runs
# Python code (Enum.__hash__), which the parser would pay for on every requirement.
_SET_OPERATORS: Final = (Operator.IN, Operator.NOT_IN)
_EXACT_OPERATORS: Final = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS)
_UNARY_OPERATORS: Final = (Operator.EXISTS, Operator.DOES_NOT_EXIST)
_NUMERIC_OPERATORS: Final = (Operator.GREATER_THAN, Operator.LESS_THAN)

# How each operator sits between key and values in String(); unary ones are special-cased.
_SPELLING: Final = {
    Operator.IN: " in ",
    Operator.NOT_IN: " notin ",
    Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==",
    Operator.NOT_EQUALS: "!=",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}

# NewRequirement's paths are relative to a nil root: "key", "operator", "values[0]".
_KEY_PATH: Final = FieldPath.root("key")
_OPERATOR_PATH: Final = FieldPath.root("operator")
_VALUES_PATH: Final = FieldPath.root("values")

_INT64_RE: Final = re.compile(r"([+-]?)([0-9]+)")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def parse_int64(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 10, 64)``: the number, or ``None`` if it fails.

    An optional sign and ASCII digits only (no spaces, no ``_``), within int64 range. Leading
    zeros are fine (``"01"`` is 1).
    """
    match = _INT64_RE.fullmatch(text)
    if match is None:
        return None
    sign, digits = match.groups()
    digits = digits.lstrip("0") or "0"
    # Checked before int() so that a 5000-digit label value cannot hit Python's digit limit.
    if len(digits) > 19:
        return None
    number = -int(digits) if sign == "-" else int(digits)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


@dataclass(frozen=True, slots=True)
class GoJSON:
    """A bad value that Go renders with ``json.Marshal`` rather than ``%q``.

    apimachinery prints plain ``string`` values with ``%q`` but anything else (string
    slices, and named string types such as an operator) as JSON, whose escaping differs
    (``<`` becomes ``\\u003c``). Wrapping the value here keeps that difference.
    """

    value: str | Sequence[str] | None

    def __str__(self) -> str:
        if self.value is None:
            return "null"
        if isinstance(self.value, str):
            return _json_string(self.value)
        return "[" + ",".join(_json_string(item) for item in self.value) + "]"


def _json_string(text: str) -> str:
    # Go's encoder is HTML-safe by default and also escapes the JavaScript line separators.
    out = json.dumps(text, ensure_ascii=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        out = out.replace(raw, escaped)
    return out


def _as_operator(operator: object) -> Operator | None:
    if isinstance(operator, Operator):
        return operator
    if isinstance(operator, str):
        try:
            return Operator(operator)
        except ValueError:
            return None
    return None


def requirement_errors(
    key: str, operator: object, values: Sequence[str], *, nil_values: bool = False
) -> list[FieldError]:
    """Everything ``NewRequirement(key, operator, values)`` would object to, in its order.

    Paths are relative (``key``, ``operator``, ``values``, ``values[0]``, ``values[0][KEY]``).
    ``nil_values`` renders an empty value list as Go's ``null`` instead of ``[]``: that is
    what a structured selector's missing ``values`` becomes on its way to NewRequirement.
    """
    errors: list[FieldError] = []
    key_problems = validate_label_key(key)
    if key_problems:
        errors.append(invalid(_KEY_PATH, key, "; ".join(key_problems)))
    op = _as_operator(operator)
    count_problem = None
    if op is None:
        # Upstream lists the operators in declaration order, unsorted, so no not_supported().
        supported = ", ".join(go_quote(o.value) for o in Operator)
        errors.append(
            FieldError(
                _OPERATOR_PATH,
                ErrorType.NOT_SUPPORTED,
                GoJSON(str(operator)),
                f"supported values: {supported}",
            )
        )
    elif op in _SET_OPERATORS:
        if not values:
            count_problem = "for 'in', 'notin' operators, values set can't be empty"
    elif op in _EXACT_OPERATORS:
        if len(values) != 1:
            count_problem = "exact-match compatibility requires one single value"
    elif op in _UNARY_OPERATORS:
        if values:
            count_problem = "values set must be empty for exists and does not exist"
    elif len(values) != 1:
        count_problem = "for 'Gt', 'Lt' operators, exactly one value is required"
    if count_problem is not None:
        shown = GoJSON(None if nil_values and not values else tuple(values))
        errors.append(FieldError(_VALUES_PATH, ErrorType.INVALID, shown, count_problem))
    if op in _NUMERIC_OPERATORS:
        for i, value in enumerate(values):
            if parse_int64(value) is None:
                detail = "for 'Gt', 'Lt' operators, the value must be an integer"
                errors.append(invalid(_VALUES_PATH.index(i), value, detail))
    for i, value in enumerate(values):
        value_problems = validate_label_value(value)
        if value_problems:
            path = _VALUES_PATH.index(i).key(key)
            errors.append(invalid(path, value, "; ".join(value_problems)))
    return errors


def _compile(key: str, op: Operator, values: tuple[str, ...]) -> LabelTest:
    """Turn one requirement into a test on a label set, chosen once instead of per match.

    ``labels.get(key)`` is ``None`` when the key is absent, which no value equals: that one
    lookup gives upstream's rules for free (``!=`` and ``notin`` match an absent key,
    ``=`` and ``in`` do not, and ``x=`` needs ``x`` present with an empty value).
    """
    if op in _UNARY_OPERATORS:
        if op is Operator.EXISTS:
            return lambda labels: key in labels
        return lambda labels: key not in labels
    if op in _NUMERIC_OPERATORS:
        bound = parse_int64(values[0])
        if bound is None:  # construction has already rejected it
            raise SelectorError(f"internal: {values[0]!r} is not an int64")
        greater = op is Operator.GREATER_THAN

        def compare(labels: Mapping[str, str]) -> bool:
            have = labels.get(key)
            number = None if have is None else parse_int64(have)
            if number is None:
                return False
            return number > bound if greater else number < bound

        return compare
    negate = op in (Operator.NOT_IN, Operator.NOT_EQUALS)
    if len(values) == 1:
        (only,) = values
        if negate:
            return lambda labels: labels.get(key) != only
        return lambda labels: labels.get(key) == only
    wanted = frozenset(values)
    if negate:
        return lambda labels: labels.get(key) not in wanted
    return lambda labels: labels.get(key) in wanted


@dataclass(frozen=True, slots=True)
class Requirement:
    """One condition on a label set: ``key``, an :class:`Operator` and its ``values``.

    Construction validates like upstream ``NewRequirement`` and raises
    :class:`~k8s_service_lab.errors.SelectorError` with the apiserver's message, e.g.
    ``values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty``.
    ``operator`` may also be given as its string (``"notin"``); ``values`` are stored sorted
    and de-duplicated, since a requirement's values are a set.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()
    _test: LabelTest = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        given: object = self.operator
        values = tuple(self.values)
        errors = requirement_errors(self.key, given, values)
        if errors:
            raise SelectorError(aggregate(str(error) for error in errors))
        op = _as_operator(given)
        if op is None:  # requirement_errors has reported it
            raise SelectorError(f"internal: unsupported operator {given!r}")
        unique = tuple(sorted(set(values)))
        object.__setattr__(self, "operator", op)
        object.__setattr__(self, "values", unique)
        object.__setattr__(self, "_test", _compile(self.key, op, unique))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfies this requirement (case-sensitive, like upstream)."""
        return self._test(labels)

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(self.values)
        if self.operator in _SET_OPERATORS:
            joined = f"({joined})"
        return self.key + _SPELLING[self.operator] + joined


def _always(labels: Mapping[str, str]) -> bool:
    return True


def _never(labels: Mapping[str, str]) -> bool:
    return False


def _conjunction(tests: Sequence[LabelTest]) -> LabelTest:
    """One callable for the AND of ``tests``.

    Real selectors hold one to a few requirements; for those a chain of ``and`` beats driving
    a loop. Long ones (a generated selector can hold thousands) use ``all()``, so that the
    chain never nests deep enough to hit Python's recursion limit.
    """
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]
    if len(tests) > _CHAIN_LIMIT:
        chained = tuple(tests)
        return lambda labels: all(test(labels) for test in chained)
    first, rest = tests[0], _conjunction(tests[1:])
    return lambda labels: first(labels) and rest(labels)


_CHAIN_LIMIT: Final = 8


@dataclass(frozen=True, slots=True)
class Selector:
    """An AND of requirements, kept sorted by key (stably) so ``str()`` is canonical.

    ``selectable=False`` is upstream's internal ``nothingSelector``: it matches no label set,
    has no requirements and prints as ``""``, just like ``Selector.everything()`` does; tell
    them apart with :attr:`empty`.
    """

    requirements: tuple[Requirement, ...] = ()
    selectable: bool = True
    _match: LabelTest = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.requirements, key=_by_key))
        if not self.selectable and ordered:
            raise SelectorError("a selector that selects nothing cannot have requirements")
        object.__setattr__(self, "requirements", ordered)
        if not self.selectable:
            object.__setattr__(self, "_match", _never)
        else:
            object.__setattr__(self, "_match", _conjunction([r._test for r in ordered]))

    @classmethod
    def everything(cls) -> Selector:
        """The selector with no requirements: it matches every label set, even ``{}``."""
        return cls()

    @classmethod
    def nothing(cls) -> Selector:
        """The selector that matches no label set (a ``nil`` structured selector)."""
        return cls((), selectable=False)

    @classmethod
    def from_set(cls, labels: Mapping[str, str]) -> Selector:
        """Equality requirements for every pair, validated (upstream ``ValidatedSelectorFromSet``).

        ``{}`` gives :meth:`everything`. The first invalid pair, in key order, raises
        :class:`~k8s_service_lab.errors.SelectorError` with NewRequirement's message.
        """
        return cls(tuple(Requirement(k, Operator.EQUALS, (labels[k],)) for k in sorted(labels)))

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (``everything()``)."""
        return self.selectable and not self.requirements

    @property
    def matcher(self) -> LabelTest:
        """The compiled test itself, for hot loops that want to skip a method call."""
        return self._match

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every requirement holds for ``labels``."""
        return self._match(labels)

    def add(self, *requirements: Requirement) -> Selector:
        """A new selector with ``requirements`` added (``nothing()`` stays nothing)."""
        if not self.selectable:
            return self
        return Selector(self.requirements + requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The one value ``key`` must have, if the first requirement on ``key`` pins it.

        Mirrors upstream ``RequiresExactMatch``: ``=``, ``==`` or a one-value ``in``.
        """
        for requirement in self.requirements:
            if requirement.key == key:
                pinned = requirement.operator in (
                    Operator.EQUALS,
                    Operator.DOUBLE_EQUALS,
                    Operator.IN,
                )
                if pinned and len(requirement.values) == 1:
                    return requirement.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def _by_key(requirement: Requirement) -> str:
    return requirement.key
