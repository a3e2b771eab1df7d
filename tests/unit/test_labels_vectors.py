"""The label-selector test vectors of control-plane.md §1.8, as Kubernetes v1.34 answers them.

Every row is here, every alternative input of a row (the ``/``-separated ones) is its own
case, and every listed match result is asserted. Where the sheet elides a message with
``...`` the full upstream text is spelled out below. Two rows differ from the sheet on
purpose, because the sheet describes newer releases:

* #20 ``x in (a,,a,,a,,a,,)``: v1.34's parser consumes the second comma of ``,,`` and then
  trips over ``)``. kubernetes/kubernetes#133419 fixed that behind a feature gate in v1.35.
* #63 ``a/b/c``: v1.34's ``IsQualifiedName`` says "a qualified name must consist of ...";
  "a valid label key ..." is the v1.35 ``content.IsLabelKey`` wording. Likewise #67/#68 say
  "characters", not "bytes".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from k8s_service_lab.errors import SelectorError
from k8s_service_lab.field import FieldPath
from k8s_service_lab.labels import (
    LabelSelector,
    LabelSelectorRequirement,
    parse_selector,
    selector_from_label_selector,
    validate_label_selector,
)
from tests.unit.upstream_messages import LABEL_VALUE as VALUE_RULE
from tests.unit.upstream_messages import NAME_RULE

# The upstream details, written out in full (note the double spaces before "or").
PREFIX_RULE = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
    "'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
TOO_MANY_SLASHES = (
    "a qualified name " + NAME_RULE + " with an optional DNS subdomain prefix and '/' "
    "(e.g. 'example.com/MyName')"
)
REQ = "unable to parse requirement: "
BINARY_OPS = "in, notin, =, ==, !=, gt, lt"
NOT_INT = "for 'Gt', 'Lt' operators, the value must be an integer"


def value_error(key: str, value: str, detail: str = VALUE_RULE) -> str:
    return f'{REQ}values[0][{key}]: Invalid value: "{value}": {detail}'


def key_error(key: str, detail: str) -> str:
    return f'{REQ}<nil>: Invalid value: "{key}": {detail}'


def gt_error(value: str) -> str:
    return f'{REQ}values[0]: Invalid value: "{value}": {NOT_INT}'


@dataclass(frozen=True)
class Case:
    """One input of a §1.8 row: canonical string or error, and the match results listed."""

    number: int
    text: str
    canonical: str | None = None
    error: str | None = None
    matches: tuple[tuple[dict[str, str], bool], ...] = field(default=())


def ok(number: int, text: str, canonical: str, *matches: tuple[dict[str, str], bool]) -> Case:
    return Case(number, text, canonical=canonical, matches=matches)


def err(number: int, text: str, message: str) -> Case:
    return Case(number, text, error=message)


T, F = True, False
X64 = "x" * 64
A64 = "a" * 64

CASES = [
    ok(1, "", "", ({}, T), ({"x": "y"}, T)),
    ok(2, "   ", "", ({}, T)),
    ok(3, "\rx", "x", ({"x": "z"}, T)),
    ok(4, "x", "x", ({"x": ""}, T), ({"x": "a"}, T), ({}, F)),
    ok(5, "!x", "!x", ({}, T), ({"y": "z"}, T), ({"x": ""}, F)),
    ok(6, "x=", "x=", ({"x": ""}, T), ({}, F), ({"x": "a"}, F)),
    ok(7, "x= ,z= ", "x=,z="),
    ok(8, "x!=", "x!=", ({}, T), ({"x": ""}, F), ({"x": "a"}, T)),
    ok(9, "x==a", "x==a", ({"x": "a"}, T)),
    ok(10, " x = a ", "x=a", ({"x": "a"}, T)),
    ok(11, "x!=a", "x!=a", ({}, T), ({"x": "a"}, F), ({"x": "b"}, T)),
    ok(12, "x=y,z=w", "x=y,z=w", ({"x": "y", "z": "w"}, T), ({"x": "w", "z": "w"}, F)),
    ok(13, "x!=y,z!=w", "x!=y,z!=w", ({"x": "z", "z": "a"}, T), ({"x": "z", "z": "w"}, F)),
    ok(14, "x in ()", "x in ()", ({"x": ""}, T), ({}, F), ({"x": "a"}, F)),
    ok(15, "x notin ()", "x notin ()", ({}, T), ({"x": ""}, F), ({"x": "a"}, T)),
    ok(15, "x notin ( )", "x notin ()", ({}, T), ({"x": ""}, F), ({"x": "a"}, T)),
    ok(16, "x notin (a,b)", "x notin (a,b)", ({}, T), ({"x": "a"}, F), ({"x": "c"}, T)),
    ok(17, "x in (a,b)", "x in (a,b)", ({}, F), ({"x": "b"}, T), ({"x": "A"}, F)),
    ok(18, "x in (b,a,a)", "x in (a,b)", ({"x": "a"}, T)),
    ok(19, "x in (abc,)", "x in (,abc)", ({"x": ""}, T)),
    err(20, "x in (a,,a,,a,,a,,)", f"{REQ}found ')', expected: ',', or identifier"),
    ok(21, "x notin (, a)", "x notin (,a)"),
    ok(22, "x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"),
    ok(23, "a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
    ok(24, "in in (in)", "in in (in)", ({"in": "in"}, T)),
    ok(25, "notin=in", "notin=in", ({"notin": "in"}, T)),
    ok(26, "x=a,x=b", "x=a,x=b", ({"x": "a"}, F), ({"x": "b"}, F)),
    ok(27, "x,!x", "x,!x", ({}, F), ({"x": ""}, F), ({"x": "a"}, F), ({"y": "a"}, F)),
    ok(28, "x=a,y", "x=a,y", ({"x": "a"}, F), ({"x": "a", "y": ""}, T)),
    ok(29, "x,y in (a)", "x,y in (a)"),
    ok(30, "foo  in\t (abc)", "foo in (abc)"),
    ok(30, "x notin\n (abc)", "x notin (abc)"),
    ok(31, "this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
    ok(
        32,
        "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
        "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)",
    ),
    ok(
        33,
        "k8s.io/app=web,tier in (fe,be)",
        "k8s.io/app=web,tier in (be,fe)",
        ({"k8s.io/app": "web", "tier": "fe"}, T),
        ({"app": "web", "tier": "fe"}, F),
    ),
    ok(34, "x>5", "x>5", ({"x": "10"}, T), ({"x": "5"}, F), ({"x": "abc"}, F), ({}, F)),
    ok(35, "x<1", "x<1", ({"x": "0"}, T), ({"x": "2"}, F)),
    ok(36, "x>01", "x>01", ({"x": "2"}, T)),
    ok(37, "x>2,x<5", "x>2,x<5", ({"x": "3"}, T), ({"x": "5"}, F)),
    ok(38, "x>1,z<5", "x>1,z<5"),
    err(39, "x>-1", value_error("x", "-1")),
    err(40, "x>1.5", gt_error("1.5")),
    err(41, "x<a", gt_error("a")),
    err(42, "x>", gt_error("")),
    err(43, "x>9223372036854775808", gt_error("9223372036854775808")),
    err(44, "x=a||y=b", value_error("x", "a||y")),
    err(45, "x==a==b", "found '==', expected: ',' or 'end of string'"),
    err(46, "!x=a", "found '=', expected: ',' or 'end of string'"),
    err(47, "x=a=b", "found '=', expected: ',' or 'end of string'"),
    err(48, "x = a b", "found 'b', expected: ',' or 'end of string'"),
    err(49, "x in (a b)", f"{REQ}found 'b', expected: ',' or ')'"),
    err(49, "a in (xyz abc)", f"{REQ}found 'abc', expected: ',' or ')'"),
    err(50, "x in a", f"{REQ}found 'a' expected: '('"),
    err(51, "x in (a,b", f"{REQ}found '', expected: ',' or ')'"),
    err(52, "a notin(", f"{REQ}found '', expected: ',', ')' or identifier"),
    err(53, "x=(a)", f"{REQ}found '(', expected: identifier"),
    err(54, "x y", f"{REQ}found 'y', expected: {BINARY_OPS}"),
    err(54, "x\ty", f"{REQ}found 'y', expected: {BINARY_OPS}"),
    err(55, "x nott in (y)", f"{REQ}found 'nott', expected: {BINARY_OPS}"),
    err(56, "x!a", f"{REQ}found '!', expected: {BINARY_OPS}"),
    err(57, "a (", f"{REQ}found '(', expected: {BINARY_OPS}"),
    err(58, "(", "found '(', expected: !, identifier, or 'end of string'"),
    err(59, ",x,y", "found ',', expected: !, identifier, or 'end of string'"),
    err(60, "x,,y", "found ',', expected: identifier after ','"),
    err(61, "x,", "found '', expected: identifier after ','"),
    err(61, "a in (xyz),", "found '', expected: identifier after ','"),
    err(61, "x=a,", "found '', expected: identifier after ','"),
    err(62, "a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"),
    err(63, "a/b/c", key_error("a/b/c", TOO_MANY_SLASHES)),
    err(64, "Example.com/x", key_error("Example.com/x", PREFIX_RULE)),
    err(
        65,
        "example.com/",
        key_error("example.com/", "name part must be non-empty; name part " + NAME_RULE),
    ),
    err(66, "/x", key_error("/x", "prefix part must be non-empty")),
    err(67, X64, key_error(X64, "name part must be no more than 63 characters")),
    err(68, "x=" + A64, value_error("x", A64, "must be no more than 63 characters")),
    err(69, "x=_a", value_error("x", "_a")),
    err(69, "x=a-", value_error("x", "a-")),
    err(70, "-x", key_error("-x", "name part " + NAME_RULE)),
    err(70, "x||y", key_error("x||y", "name part " + NAME_RULE)),
]


def case_id(case: Case) -> str:
    alternatives = [c for c in CASES if c.number == case.number]
    if len(alternatives) == 1:
        return f"#{case.number:02d}"
    return f"#{case.number:02d}-{alternatives.index(case) + 1}"


def test_every_row_of_the_sheet_is_covered() -> None:
    assert sorted({case.number for case in CASES}) == list(range(1, 71))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_vector(case: Case) -> None:
    if case.error is not None:
        with pytest.raises(SelectorError) as caught:
            parse_selector(case.text)
        assert str(caught.value) == case.error
        return
    selector = parse_selector(case.text)
    assert str(selector) == case.canonical
    for labels, expected in case.matches:
        assert selector.matches(labels) is expected, labels


@pytest.mark.parametrize(
    ("labels", "expected"),
    [({}, True), ({"x": "y"}, True), ({"app": "web", "tier": "fe"}, True)],
)
def test_structured_empty_selector_matches_everything(
    labels: dict[str, str], expected: bool
) -> None:
    assert selector_from_label_selector(LabelSelector()).matches(labels) is expected


@pytest.mark.parametrize("labels", [{}, {"x": "y"}, {"a": "b", "c": "d"}])
def test_structured_nil_selector_matches_nothing(labels: dict[str, str]) -> None:
    assert selector_from_label_selector(None).matches(labels) is False


@pytest.mark.parametrize(
    ("labels", "expected"),
    [({"a": "b"}, True), ({"a": "b", "c": "d"}, False), ({"a": "b", "c": "e"}, True), ({}, False)],
)
def test_structured_match_labels_and_not_in(labels: dict[str, str], expected: bool) -> None:
    selector = LabelSelector(
        match_labels={"a": "b"},
        match_expressions=(LabelSelectorRequirement("c", "NotIn", ("d",)),),
    )
    assert str(selector_from_label_selector(selector)) == "a=b,c notin (d)"
    assert selector_from_label_selector(selector).matches(labels) is expected


def test_structured_in_without_values_fails_conversion_and_validation() -> None:
    selector = LabelSelector(match_expressions=(LabelSelectorRequirement("c", "In", ()),))
    with pytest.raises(SelectorError) as caught:
        selector_from_label_selector(selector)
    assert str(caught.value) == (
        "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
    )
    errors = validate_label_selector(selector, FieldPath.root("spec", "selector"))
    assert [str(e) for e in errors] == [
        "spec.selector.matchExpressions[0].values: Required value: "
        "must be specified when `operator` is 'In' or 'NotIn'"
    ]
