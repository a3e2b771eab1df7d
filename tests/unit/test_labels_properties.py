"""Properties of the label-selector parser and matcher, checked on generated input.

(a) a valid selector survives ``str()`` and ``parse_selector()`` unchanged, matching and all;
(b) any text either parses or raises :class:`SelectorError`, never anything else;
(c) matching agrees with a reference written straight from the §1.4 table.

Keys and values are drawn mostly from small pools, so that generated label sets actually hit
the generated requirements, with fully random valid keys and values mixed in.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.errors import SelectorError
from k8s_service_lab.labels import Operator, Requirement, Selector, parse_selector

PROPERTY = settings(max_examples=10_000, deadline=None, database=None)

ALNUM = "abcxyzABZ019"
INNER = ALNUM + "-_."
KEY_POOL = ["a", "b", "x", "in", "notin", "app", "k8s.io/app", "a.b-c_d", "1", "z/Z"]
VALUE_POOL = ["", "a", "b", "in", "notin", "web", "0", "1", "01", "7", "9223372036854775807"]
LABEL_VALUE_POOL = [*VALUE_POOL, "-1", "+5", " 1", "x y", "9223372036854775808", "1_0", "é"]


def as_name(text: str) -> str:
    """Make any non-empty run of name characters valid: alphanumeric at both ends."""
    if text[0] in ALNUM and text[-1] in ALNUM:
        return text
    return "a" + text + "0"


def as_prefix(text: str) -> str:
    """Make a run of ``[a-z0-9.-]`` a DNS subdomain: no empty labels, no '-' at label ends."""
    return ".".join(label.strip("-") or "a" for label in text.split("."))


# Plain text mapped onto valid forms, rather than composites of many small draws: every draw
# costs Hypothesis time, and these tests run 10,000 examples each.
names = st.text(INNER, min_size=1, max_size=6).map(as_name)
prefixes = st.text("abz09.-", min_size=1, max_size=6).map(as_prefix)
random_keys = st.builds(lambda p, n: n if p is None else f"{p}/{n}", st.none() | prefixes, names)
pool_keys = st.sampled_from(KEY_POOL)
pool_values = st.sampled_from(VALUE_POOL)
integers = st.builds(
    lambda zeros, n: "0" * zeros + str(n), st.integers(0, 2), st.integers(0, 2**63 - 1)
)
operators = st.sampled_from(list(Operator))
bounds = st.sampled_from(["0", "1", "01", "7"]) | integers


def requirements(
    keys: st.SearchStrategy[str], values: st.SearchStrategy[str]
) -> st.SearchStrategy[Requirement]:
    """Valid requirements: the operator decides how many values, and of what kind."""

    value_lists = st.lists(values, min_size=1, max_size=4)

    @st.composite
    def build(draw: st.DrawFn) -> Requirement:
        key = draw(keys)
        op = draw(operators)
        if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            chosen: list[str] = []
        elif op in (Operator.GREATER_THAN, Operator.LESS_THAN):
            chosen = [draw(bounds)]
        elif op in (Operator.IN, Operator.NOT_IN):
            chosen = draw(value_lists)
        else:
            chosen = [draw(values)]
        return Requirement(key, op, tuple(chosen))

    return build()


# Pool-only requirements and label sets, so that matches are frequent and cheap to generate.
pool_requirements = requirements(pool_keys, pool_values)
varied_requirements = requirements(pool_keys | random_keys, pool_values | names)


def decode_labels(code: int) -> dict[str, str]:
    """Read ``code`` as one digit per pool key, in base ``2 * len(LABEL_VALUE_POOL)``.

    A digit below ``len(LABEL_VALUE_POOL)`` leaves the key out (so about half the keys are
    absent); a digit d above gives it ``LABEL_VALUE_POOL[d - len(LABEL_VALUE_POOL)]``. A whole
    label set is thus a single draw (cheap), and shrinking towards 0 shrinks towards ``{}``.
    """
    labels = {}
    size = len(LABEL_VALUE_POOL)
    for key in KEY_POOL:
        code, digit = divmod(code, 2 * size)
        if digit >= size:
            labels[key] = LABEL_VALUE_POOL[digit - size]
    return labels


label_sets = st.integers(0, (2 * len(LABEL_VALUE_POOL)) ** len(KEY_POOL) - 1).map(decode_labels)
selectors = st.lists(varied_requirements, max_size=3).map(lambda reqs: Selector(tuple(reqs)))


@PROPERTY
@given(selector=selectors, samples=st.lists(label_sets, max_size=2))
def test_canonical_string_round_trips(selector: Selector, samples: list[dict[str, str]]) -> None:
    text = str(selector)
    reparsed = parse_selector(text)
    assert str(reparsed) == text
    assert reparsed == selector
    for labels in samples:
        assert reparsed.matches(labels) is selector.matches(labels)


def check_parses_or_refuses(text: str) -> None:
    try:
        selector = parse_selector(text)
    except SelectorError:
        return
    # Whatever parsed must print as a selector that parses back to itself.
    assert str(parse_selector(str(selector))) == str(selector)


@PROPERTY
@given(text=st.text())
def test_any_text_parses_or_raises_selector_error(text: str) -> None:
    check_parses_or_refuses(text)


FRAGMENTS = [
    "=", "==", "!=", "!", "(", ")", ",", ">", "<", " ", "\t", "\n", "\r", "\x00", "\v",
    "in", "notin", " in ", " notin ", "x", "a", "k8s.io/app", "/", "-", "_", ".", "|", "01",
    "-1", "9223372036854775808", "é", "A-b", "(a,b)", "()",
]  # fmt: skip


@PROPERTY
@given(parts=st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=2), max_size=8))
def test_grammar_like_text_parses_or_raises_selector_error(parts: list[str]) -> None:
    check_parses_or_refuses("".join(parts))


INT64 = re.compile(r"[+-]?[0-9]+")


def reference_int(text: str) -> int | None:
    if not INT64.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def reference_match(requirement: Requirement, labels: dict[str, str]) -> bool:
    """The §1.4 table, row by row."""
    op, key, wanted = requirement.operator, requirement.key, set(requirement.values)
    present = key in labels
    if op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
        return present and labels[key] in wanted
    if op in (Operator.NOT_EQUALS, Operator.NOT_IN):
        return not present or labels[key] not in wanted
    if op is Operator.EXISTS:
        return present
    if op is Operator.DOES_NOT_EXIST:
        return not present
    if not present:
        return False
    have, bound = reference_int(labels[key]), reference_int(requirement.values[0])
    assert bound is not None
    if have is None:
        return False
    return have > bound if op is Operator.GREATER_THAN else have < bound


@PROPERTY
@given(reqs=st.lists(pool_requirements, max_size=3), samples=st.lists(label_sets, max_size=3))
def test_matching_agrees_with_the_reference(
    reqs: list[Requirement], samples: list[dict[str, str]]
) -> None:
    selector = Selector(tuple(reqs))
    for labels in samples:
        expected = all(reference_match(r, labels) for r in reqs)
        assert selector.matches(labels) is expected
        for requirement in reqs:
            assert requirement.matches(labels) is reference_match(requirement, labels)
