"""Label validators, requirements, selectors and structured selectors, beyond the §1.8 vectors."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from k8s_service_lab import labels as labels_module
from k8s_service_lab.errors import SelectorError
from k8s_service_lab.field import FieldPath
from k8s_service_lab.labels import (
    LabelSelector,
    LabelSelectorRequirement,
    Operator,
    Requirement,
    Selector,
    format_labels,
    is_qualified_name,
    label_selector_from_string,
    parse_selector,
    selector_from_label_selector,
    validate_label_key,
    validate_label_selector,
    validate_label_value,
    validate_labels,
)
from k8s_service_lab.labels_selector import GoJSON, parse_int64
from k8s_service_lab.labels_syntax import Token, tokenize
from tests.unit.upstream_messages import LABEL_VALUE as VALUE_RULE
from tests.unit.upstream_messages import NAME_RULE
from tests.unit.upstream_messages import SUBDOMAIN as PREFIX_RULE

SUPPORTED = 'supported values: "in", "notin", "=", "==", "!=", "gt", "lt", "exists", "!"'
SPEC_SELECTOR = FieldPath.root("spec", "selector")


# --- label keys and values -------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["a", "A", "1", "app", "MyName", "my.name", "123-abc", "a_b", "x" * 63,
     "example.com/MyName", "app.kubernetes.io/name", "0.1.2.domain/99", "a/b",
     "k8s.io/" + "x" * 63, "a" * 253 + "/x"],
)  # fmt: skip
def test_valid_label_keys(key: str) -> None:
    assert validate_label_key(key) == []
    assert is_qualified_name(key) == []


@pytest.mark.parametrize(
    ("key", "problems"),
    [
        ("", ["name part must be non-empty", "name part " + NAME_RULE]),
        ("-a", ["name part " + NAME_RULE]),
        ("a-", ["name part " + NAME_RULE]),
        ("a b", ["name part " + NAME_RULE]),
        ("x" * 64, ["name part must be no more than 63 characters"]),
        # Go counts bytes: 32 two-byte characters are 64 bytes, and not alphanumeric either.
        ("é" * 32, ["name part must be no more than 63 characters", "name part " + NAME_RULE]),
        ("/x", ["prefix part must be non-empty"]),
        ("/", ["prefix part must be non-empty", "name part must be non-empty",
               "name part " + NAME_RULE]),
        ("example.com/", ["name part must be non-empty", "name part " + NAME_RULE]),
        ("Example.com/x", ["prefix part " + PREFIX_RULE]),
        ("-example.com/x", ["prefix part " + PREFIX_RULE]),
        ("a" * 254 + "/x", ["prefix part must be no more than 253 characters"]),
        ("EXAMPLE.com/-x", ["prefix part " + PREFIX_RULE, "name part " + NAME_RULE]),
        (
            "a/b/c",
            ["a qualified name " + NAME_RULE
             + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"],
        ),
        ("x\n", ["name part " + NAME_RULE]),
    ],
)  # fmt: skip
def test_invalid_label_keys(key: str, problems: list[str]) -> None:
    assert validate_label_key(key) == problems
    assert is_qualified_name(key) == problems


@pytest.mark.parametrize(
    "value", ["", "a", "Z", "0", "MyValue", "my_value", "12345", "a.b-c_d", "v" * 63]
)
def test_valid_label_values(value: str) -> None:
    assert validate_label_value(value) == []


@pytest.mark.parametrize(
    ("value", "problems"),
    [
        ("-a", [VALUE_RULE]),
        ("a.", [VALUE_RULE]),
        ("_", [VALUE_RULE]),
        ("a b", [VALUE_RULE]),
        ("a/b", [VALUE_RULE]),
        ("v\n", [VALUE_RULE]),
        ("v" * 64, ["must be no more than 63 characters"]),
        ("-" * 64, ["must be no more than 63 characters", VALUE_RULE]),
        ("ü" * 32, ["must be no more than 63 characters", VALUE_RULE]),
    ],
)
def test_invalid_label_values(value: str, problems: list[str]) -> None:
    assert validate_label_value(value) == problems


def test_validate_labels_reports_every_problem_at_the_map_path() -> None:
    errors = validate_labels({"k": "v v", "a b": "c", "ok": ""}, SPEC_SELECTOR)
    assert [str(e) for e in errors] == [
        f'spec.selector: Invalid value: "a b": name part {NAME_RULE}',
        f'spec.selector: Invalid value: "v v": {VALUE_RULE}',
    ]


def test_validate_labels_gives_one_error_per_message() -> None:
    errors = validate_labels({"example.com/": "-" * 64}, SPEC_SELECTOR)
    assert [str(e) for e in errors] == [
        'spec.selector: Invalid value: "example.com/": name part must be non-empty',
        f'spec.selector: Invalid value: "example.com/": name part {NAME_RULE}',
        f'spec.selector: Invalid value: "{"-" * 64}": must be no more than 63 characters',
        f'spec.selector: Invalid value: "{"-" * 64}": {VALUE_RULE}',
    ]


def test_validate_labels_accepts_valid_and_empty_maps() -> None:
    assert validate_labels({}, SPEC_SELECTOR) == []
    assert validate_labels({"app": "web", "app.kubernetes.io/name": ""}, SPEC_SELECTOR) == []


# --- requirements ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "operator", "values", "message"),
    [
        ("x", Operator.IN, (), "values: Invalid value: []: "
         "for 'in', 'notin' operators, values set can't be empty"),
        ("x", Operator.NOT_IN, (), "values: Invalid value: []: "
         "for 'in', 'notin' operators, values set can't be empty"),
        ("x", Operator.EQUALS, ("a", "b"), 'values: Invalid value: ["a","b"]: '
         "exact-match compatibility requires one single value"),
        ("x", Operator.NOT_EQUALS, (), "values: Invalid value: []: "
         "exact-match compatibility requires one single value"),
        ("x", Operator.EXISTS, ("a",), 'values: Invalid value: ["a"]: '
         "values set must be empty for exists and does not exist"),
        ("x", Operator.GREATER_THAN, (), "values: Invalid value: []: "
         "for 'Gt', 'Lt' operators, exactly one value is required"),
        ("x", Operator.LESS_THAN, ("1", "b"), '[values: Invalid value: ["1","b"]: '
         "for 'Gt', 'Lt' operators, exactly one value is required, "
         "values[1]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer]"),
        ("x", "Foo", (), f'operator: Unsupported value: "Foo": {SUPPORTED}'),
        # A typed Go string renders through json.Marshal, which escapes "<".
        ("x", "<", (), f'operator: Unsupported value: "\\u003c": {SUPPORTED}'),
        ("a b", Operator.EXISTS, (), f'key: Invalid value: "a b": name part {NAME_RULE}'),
        ("a b", Operator.EQUALS, ("c d",), f'[key: Invalid value: "a b": name part {NAME_RULE}, '
         f'values[0][a b]: Invalid value: "c d": {VALUE_RULE}]'),
    ],
)  # fmt: skip
def test_requirement_construction_errors(
    key: str, operator: Operator | str, values: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SelectorError) as caught:
        Requirement(key, operator, values)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_requirement_normalises_values_and_operator() -> None:
    requirement = Requirement("x", "in", ["b", "a", "a"])  # type: ignore[arg-type]
    assert requirement.operator is Operator.IN
    assert requirement.values == ("a", "b")
    assert str(requirement) == "x in (a,b)"
    assert requirement == parse_selector("x in (b,a)").requirements[0]
    assert hash(requirement) == hash(Requirement("x", Operator.IN, ("a", "b")))


def test_requirement_is_frozen() -> None:
    requirement = Requirement("x", Operator.EXISTS)
    with pytest.raises(AttributeError):
        requirement.key = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("requirement", "text"),
    [
        (Requirement("x", Operator.EXISTS), "x"),
        (Requirement("x", Operator.DOES_NOT_EXIST), "!x"),
        (Requirement("x", Operator.EQUALS, ("",)), "x="),
        (Requirement("x", Operator.DOUBLE_EQUALS, ("a",)), "x==a"),
        (Requirement("x", Operator.NOT_EQUALS, ("a",)), "x!=a"),
        (Requirement("x", Operator.IN, ("",)), "x in ()"),
        (Requirement("x", Operator.NOT_IN, ("", "a")), "x notin (,a)"),
        (Requirement("x", Operator.GREATER_THAN, ("01",)), "x>01"),
        (Requirement("x", Operator.LESS_THAN, ("7",)), "x<7"),
    ],
)
def test_requirement_string(requirement: Requirement, text: str) -> None:
    assert str(requirement) == text


@pytest.mark.parametrize(
    ("value", "greater_than_4"),
    [("5", True), ("+5", True), ("05", True), ("4", False), ("-5", False), (" 5", False),
     ("5 ", False), ("1_0", False), ("٥", False), ("9223372036854775807", True),
     ("9223372036854775808", False), ("", False)],
)  # fmt: skip
def test_numeric_matching_parses_like_go(value: str, greater_than_4: bool) -> None:
    assert Requirement("x", Operator.GREATER_THAN, ("4",)).matches({"x": value}) is greater_than_4


@pytest.mark.parametrize(
    ("text", "number"),
    [("0", 0), ("01", 1), ("+5", 5), ("-5", -5), ("-9223372036854775808", -(2**63)),
     ("9223372036854775807", 2**63 - 1), ("0" * 5000 + "1", 1), ("9223372036854775808", None),
     ("-9223372036854775809", None), ("9" * 5000, None), ("", None), ("+", None),
     ("1_000", None), (" 1", None), ("1.0", None), ("0x10", None), ("١", None)],
)  # fmt: skip
def test_parse_int64(text: str, number: int | None) -> None:
    assert parse_int64(text) == number


# --- selectors -------------------------------------------------------------------------------


def test_everything() -> None:
    everything = Selector.everything()
    assert everything.empty
    assert everything.selectable
    assert everything.requirements == ()
    assert str(everything) == ""
    assert everything.matches({})
    assert everything.matches({"x": "y"})
    assert everything == parse_selector("")


def test_nothing() -> None:
    nothing = Selector.nothing()
    assert not nothing.empty
    assert not nothing.selectable
    assert nothing.requirements == ()
    assert str(nothing) == ""
    assert not nothing.matches({})
    assert not nothing.matches({"x": "y"})
    assert nothing.add(Requirement("x", Operator.EXISTS)) is nothing
    assert nothing != Selector.everything()


def test_nothing_cannot_hold_requirements() -> None:
    with pytest.raises(SelectorError):
        Selector((Requirement("x", Operator.EXISTS),), selectable=False)


def test_selector_sorts_requirements_by_key_stably() -> None:
    b = Requirement("b", Operator.EXISTS)
    a_in = Requirement("a", Operator.IN, ("1",))
    a_absent = Requirement("a", Operator.DOES_NOT_EXIST)
    selector = Selector((b, a_in, a_absent))
    assert selector.requirements == (a_in, a_absent, b)
    assert str(selector) == "a in (1),!a,b"


def test_add_returns_a_new_sorted_selector() -> None:
    base = parse_selector("m=1")
    added = base.add(Requirement("z", Operator.EXISTS), Requirement("a", Operator.EXISTS))
    assert str(base) == "m=1"
    assert str(added) == "a,m=1,z"
    assert not added.empty
    assert added.matches({"a": "", "m": "1", "z": "q"})
    assert not added.matches({"m": "1", "z": "q"})


@pytest.mark.parametrize("size", [2, 3, 8, 9, 50, 5000])
def test_every_requirement_counts_however_many_there_are(size: int) -> None:
    keys = [f"k{i}" for i in range(size)]
    selector = parse_selector(",".join(keys))
    assert len(selector.requirements) == size
    everything = dict.fromkeys(keys, "")
    assert selector.matches(everything)
    for missing in (keys[0], keys[size // 2], keys[-1]):
        assert not selector.matches({k: v for k, v in everything.items() if k != missing})


def test_matcher_is_the_compiled_test() -> None:
    selector = parse_selector("a,b=1,c!=2,d notin (x)")
    match = selector.matcher
    for labels in ({"a": "", "b": "1"}, {"b": "1"}, {"a": "", "b": "1", "c": "2"}, {}):
        assert match(labels) is selector.matches(labels)


@pytest.mark.parametrize(
    ("key", "value"),
    [("a", "1"), ("b", "x"), ("c", None), ("d", None), ("e", "q"), ("missing", None)],
)
def test_requires_exact_match(key: str, value: str | None) -> None:
    selector = parse_selector("a=1,b in (x),c in (x,y),d!=z,e==q")
    assert selector.requires_exact_match(key) == value


def test_from_set() -> None:
    selector = Selector.from_set({"tier": "fe", "app": "web"})
    assert str(selector) == "app=web,tier=fe"
    assert selector.matches({"app": "web", "tier": "fe", "pod-template-hash": "abc"})
    assert not selector.matches({"app": "web"})
    assert all(r.operator is Operator.EQUALS for r in selector.requirements)


def test_from_empty_set_is_everything() -> None:
    assert Selector.from_set({}) == Selector.everything()
    assert Selector.from_set({}).empty


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"a b": "c"}, f'key: Invalid value: "a b": name part {NAME_RULE}'),
        ({"a": "x y"}, f'values[0][a]: Invalid value: "x y": {VALUE_RULE}'),
        ({"ok": "fine", "a": "-"}, f'values[0][a]: Invalid value: "-": {VALUE_RULE}'),
    ],
)
def test_from_set_validates(labels: dict[str, str], message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        Selector.from_set(labels)
    assert str(caught.value) == message


def test_selector_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="found '\\(', expected"):
        parse_selector("(")


# --- lexer -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(Token.END, "")]),
        ("~", [(Token.IDENTIFIER, "~"), (Token.END, "")]),
        ("||", [(Token.IDENTIFIER, "||"), (Token.END, "")]),
        ("!=", [(Token.NOT_EQUALS, "!="), (Token.END, "")]),
        ("!==", [(Token.NOT_EQUALS, "!="), (Token.EQUALS, "="), (Token.END, "")]),
        ("== != (), = notin", [(Token.DOUBLE_EQUALS, "=="), (Token.NOT_EQUALS, "!="),
                               (Token.OPEN_PAREN, "("), (Token.CLOSE_PAREN, ")"),
                               (Token.COMMA, ","), (Token.EQUALS, "="),
                               (Token.NOT_IN, "notin"), (Token.END, "")]),
        ("key>2", [(Token.IDENTIFIER, "key"), (Token.GREATER_THAN, ">"),
                   (Token.IDENTIFIER, "2"), (Token.END, "")]),
        ("a\vb", [(Token.IDENTIFIER, "a\vb"), (Token.END, "")]),
        # A NUL ends the input where a token would start, and is skipped after a token.
        ("x\x00y", [(Token.IDENTIFIER, "x"), (Token.IDENTIFIER, "y"), (Token.END, "")]),
        ("x \x00y", [(Token.IDENTIFIER, "x"), (Token.END, "")]),
        ("=\x00=", [(Token.EQUALS, "="), (Token.EQUALS, "="), (Token.END, "")]),
    ],
)  # fmt: skip
def test_tokenize(text: str, expected: list[tuple[Token, str]]) -> None:
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (" \x00x", ""),
        ("x=\x00y", "x=y"),
        ("!in", "!in"),
        ("x,in", "in,x"),
        ("x in (,a,b)", "x in (,a,b)"),
        ("x in (a,,b)", "x in (,a,b)"),
        ("x in (,,a)", "x in (,a)"),
        ("x in (,)", "x in ()"),
        # An odd run of commas before ")" ends on the ",)" rule; an even one fails (below).
        ("x in (a,,,)", "x in (,a)"),
    ],
)
def test_parser_corners_that_parse(text: str, canonical: str) -> None:
    assert str(parse_selector(text)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x in (a,=)", "found '=', expected: ',', or identifier"),
        ("x in (a,,)", "found ')', expected: ',', or identifier"),
        ("x in", "found '' expected: '('"),
        ("!", "found '', expected: identifier"),
        ("x\x00y", "found 'y', expected: in, notin, =, ==, !=, gt, lt"),
        ("x>a.", "[values[0]: Invalid value: \"a.\": for 'Gt', 'Lt' operators, the value must "
         f"be an integer, values[0][x]: Invalid value: \"a.\": {VALUE_RULE}]"),
    ],
)  # fmt: skip
def test_parser_corners_that_fail(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert str(caught.value) == "unable to parse requirement: " + message


# --- structured selectors --------------------------------------------------------------------


def test_label_selector_is_immutable_and_hashable() -> None:
    source = {"a": "b"}
    selector = LabelSelector(source, [LabelSelectorRequirement("c", "In", ["d"])])  # type: ignore[arg-type]
    source["a"] = "changed"
    assert selector.match_labels == {"a": "b"}
    assert isinstance(selector.match_labels, MappingProxyType)
    assert list(LabelSelector({"b": "2", "a": "1"}).match_label_pairs()) == [("a", "1"), ("b", "2")]
    assert list(LabelSelector().match_label_pairs()) == []
    assert selector.match_expressions == (LabelSelectorRequirement("c", "In", ("d",)),)
    assert hash(selector) == hash(
        LabelSelector({"a": "b"}, (LabelSelectorRequirement("c", "In", ("d",)),))
    )
    with pytest.raises(TypeError):
        selector.match_labels["a"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        (LabelSelector({"z": "1"}, (LabelSelectorRequirement("a", "Exists"),)), "a,z=1"),
        (LabelSelector(None, (LabelSelectorRequirement("a", "DoesNotExist"),)), "!a"),
        (LabelSelector(None, (LabelSelectorRequirement("x", "In", ("b", "a")),)), "x in (a,b)"),
        (LabelSelector({"b": "2", "a": "1"}), "a=1,b=2"),
        (LabelSelector({}), ""),
        (LabelSelector(), ""),
    ],
)
def test_selector_from_label_selector(selector: LabelSelector, text: str) -> None:
    assert str(selector_from_label_selector(selector)) == text


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (LabelSelector(None, (LabelSelectorRequirement("a", "Foo"),)),
         '"Foo" is not a valid label selector operator'),
        (LabelSelector(None, (LabelSelectorRequirement("a", "in", ("x",)),)),
         '"in" is not a valid label selector operator'),
        (LabelSelector(None, (LabelSelectorRequirement("a", "Gt", ("1",)),)),
         '"Gt" is not a valid label selector operator'),
        (LabelSelector(None, (LabelSelectorRequirement("a", "NotIn"),)),
         "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"),
        (LabelSelector(None, (LabelSelectorRequirement("a", "Exists", ("x",)),)),
         'values: Invalid value: ["x"]: values set must be empty for exists and does not exist'),
        (LabelSelector({"a": "b c"}),
         f'values[0][a]: Invalid value: "b c": {VALUE_RULE}'),
        (LabelSelector({"a b": "c"}),
         f'key: Invalid value: "a b": name part {NAME_RULE}'),
    ],
)  # fmt: skip
def test_selector_from_label_selector_errors(selector: LabelSelector, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        selector_from_label_selector(selector)
    assert str(caught.value) == message


def test_validate_label_selector_reports_everything_in_order() -> None:
    selector = LabelSelector(
        {"a b": "c"},
        (
            LabelSelectorRequirement("k", "Foo"),
            LabelSelectorRequirement("Bad Key", "Exists", ("v",)),
            LabelSelectorRequirement("x", "In", ("ok", "b@d")),
            LabelSelectorRequirement("y", "<"),
        ),
    )
    expected = [
        f'spec.selector.matchLabels: Invalid value: "a b": name part {NAME_RULE}',
        'spec.selector.matchExpressions[0].operator: Invalid value: "Foo": not a valid selector operator',
        "spec.selector.matchExpressions[1].values: Forbidden: "
        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        f'spec.selector.matchExpressions[1].key: Invalid value: "Bad Key": name part {NAME_RULE}',
        f'spec.selector.matchExpressions[2].values[1]: Invalid value: "b@d": {VALUE_RULE}',
        'spec.selector.matchExpressions[3].operator: Invalid value: "\\u003c": not a valid selector operator',
    ]
    assert [str(e) for e in validate_label_selector(selector, SPEC_SELECTOR)] == expected
    relaxed = validate_label_selector(selector, SPEC_SELECTOR, allow_invalid_label_value=True)
    assert [str(e) for e in relaxed] == expected[:4] + expected[5:]


def test_validate_label_selector_accepts_valid_and_absent_selectors() -> None:
    assert validate_label_selector(None, SPEC_SELECTOR) == []
    assert validate_label_selector(LabelSelector(), SPEC_SELECTOR) == []
    good = LabelSelector({"app": "web"}, (LabelSelectorRequirement("tier", "NotIn", ("db",)),))
    assert validate_label_selector(good, SPEC_SELECTOR) == []


def test_validate_label_selector_with_a_nil_path() -> None:
    selector = LabelSelector(None, (LabelSelectorRequirement("x", "NotIn"),))
    assert [str(e) for e in validate_label_selector(selector, FieldPath.nil())] == [
        "matchExpressions[0].values: Required value: "
        "must be specified when `operator` is 'In' or 'NotIn'"
    ]


def test_label_selector_from_string() -> None:
    selector = label_selector_from_string("app=web,tier in (fe,be),!canary,x,y==z,w notin (a)")
    assert selector == LabelSelector(
        {"app": "web", "y": "z"},
        (
            LabelSelectorRequirement("canary", "DoesNotExist"),
            LabelSelectorRequirement("tier", "In", ("be", "fe")),
            LabelSelectorRequirement("w", "NotIn", ("a",)),
            LabelSelectorRequirement("x", "Exists"),
        ),
    )
    assert (
        str(selector_from_label_selector(selector))
        == "app=web,!canary,tier in (be,fe),w notin (a),x,y=z"
    )


def test_label_selector_from_string_keeps_the_last_equal_value() -> None:
    assert label_selector_from_string("x=a,x=b") == LabelSelector({"x": "b"})


def test_label_selector_from_empty_string_selects_everything() -> None:
    selector = label_selector_from_string("")
    assert selector == LabelSelector({}, ())
    assert selector_from_label_selector(selector).empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x>1", "\"gt\" isn't supported in label selectors"),
        ("x<1", "\"lt\" isn't supported in label selectors"),
        ("x!=1", '"!=" is not a valid label selector operator'),
        ("x in (a b)", "couldn't parse the selector string \"x in (a b)\": "
         "unable to parse requirement: found 'b', expected: ',' or ')'"),
    ],
)  # fmt: skip
def test_label_selector_from_string_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        label_selector_from_string(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("labels", "text"),
    [({}, "<none>"), ({"b": "2", "a": "1"}, "a=1,b=2"), ({"": ""}, "="), ({"x": ""}, "x=")],
)
def test_format_labels(labels: dict[str, str], text: str) -> None:
    assert format_labels(labels) == text


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (None, "null"),
        ((), "[]"),
        (("a", "b"), '["a","b"]'),
        ("<a&b>", '"\\u003ca\\u0026b\\u003e"'),
        ('tab\t"q"\\', '"tab\\t\\"q\\"\\\\"'),
        ("\u2028", '"\\u2028"'),
        ("é", '"é"'),
    ],
)
def test_go_json_rendering(value: str | tuple[str, ...] | None, rendered: str) -> None:
    assert str(GoJSON(value)) == rendered


def test_public_api_is_complete() -> None:
    for name in labels_module.__all__:
        assert hasattr(labels_module, name), name
    assert {"Selector", "parse_selector"} <= set(labels_module.__all__)
