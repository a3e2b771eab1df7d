"""The label-selector string syntax: apimachinery's lexer and parser, error for error.

``kubectl get pods -l 'app=web,tier in (fe,be)'`` sends this syntax to the apiserver, which
reads it with ``labels.Parse``. The grammar::

    selector    := "" | requirement ("," requirement)*
    requirement := ["!"] KEY [ set | exact ]
    set         := ("in" | "notin") "(" values ")"
    exact       := ("=" | "==" | "!=" | ">" | "<") [VALUE]
    values      := entries separated by ","; an empty entry means ""

Upstream's quirks are kept because they are observable: ``x in ()`` means ``x in ("")``,
``x=`` means "x present and empty", ``in``/``notin`` are keywords only where an operator may
stand, a ``|`` is just another identifier character, and a NUL character ends the input
where a token would start. Errors carry upstream's exact words::

    >>> str(parse_selector(" x = a , tier in (b, a, a) "))
    'tier in (a,b),x=a'
    >>> parse_selector("x in a")
    Traceback (most recent call last):
      ...
    k8s_service_lab.errors.SelectorError: unable to parse requirement: found 'a' expected: '('
"""

from __future__ import annotations

import enum
import re
from typing import Final

from k8s_service_lab.errors import SelectorError
from k8s_service_lab.field import go_quote
from k8s_service_lab.labels_selector import Operator, Requirement, Selector
from k8s_service_lab.labels_validation import validate_label_key

__all__ = ["Token", "parse_selector", "tokenize"]


class Token(enum.Enum):
    """The lexer's token kinds (upstream's, minus its unused ErrorToken)."""

    END = "end of string"
    CLOSE_PAREN = ")"
    COMMA = ","
    NOT = "!"
    DOUBLE_EQUALS = "=="
    EQUALS = "="
    GREATER_THAN = ">"
    IDENTIFIER = "identifier"
    IN = "in"
    LESS_THAN = "<"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    OPEN_PAREN = "("


_LITERALS: Final = {
    ")": Token.CLOSE_PAREN,
    ",": Token.COMMA,
    "!": Token.NOT,
    "==": Token.DOUBLE_EQUALS,
    "=": Token.EQUALS,
    ">": Token.GREATER_THAN,
    "in": Token.IN,
    "<": Token.LESS_THAN,
    "!=": Token.NOT_EQUALS,
    "notin": Token.NOT_IN,
    "(": Token.OPEN_PAREN,
}
_SPECIAL: Final = frozenset("=!(),><")
# Only these four bytes are whitespace to upstream: no \v, \f or Unicode spaces.
_WHITESPACE: Final = frozenset(" \t\r\n")
# Go reads a NUL byte as "no more input" (its read() returns 0 for both).
_NUL: Final = "\x00"
_IDENTIFIER_RE: Final = re.compile(r"[^ \t\r\n=!(),<>\x00]+")

_OPERATOR_OF: Final = {
    Token.IN: Operator.IN,
    Token.NOT_IN: Operator.NOT_IN,
    Token.EQUALS: Operator.EQUALS,
    Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    Token.NOT_EQUALS: Operator.NOT_EQUALS,
    Token.GREATER_THAN: Operator.GREATER_THAN,
    Token.LESS_THAN: Operator.LESS_THAN,
}
_BINARY_OPERATORS: Final = "in, notin, =, ==, !=, gt, lt"
_KEYWORDS: Final = (Token.IN, Token.NOT_IN)

Item = tuple[Token, str]


def tokenize(text: str) -> list[Item]:
    """Split ``text`` into ``(token, literal)`` pairs, always ending with ``(END, "")``.

    Special characters form the longest of ``!=``, ``==`` or a single character; any run of
    other non-blank characters is an identifier (``in`` and ``notin`` become keywords).
    """
    items: list[Item] = []
    pos = 0
    size = len(text)
    while True:
        while pos < size and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= size or text[pos] == _NUL:
            items.append((Token.END, ""))
            return items
        if text[pos] in _SPECIAL:
            pair = text[pos : pos + 2]
            literal = pair if pair in ("!=", "==") else text[pos]
        else:
            match = _IDENTIFIER_RE.match(text, pos)
            assert match is not None  # text[pos] is neither blank, special nor NUL
            literal = match.group()
        items.append((_LITERALS.get(literal, Token.IDENTIFIER), literal))
        pos += len(literal)
        # Upstream's scanners swallow a NUL that ends a token, then carry on after it.
        if pos < size and text[pos] == _NUL:
            pos += 1


class _Parser:
    """A recursive-descent parser over the token list, with upstream's two contexts.

    Upstream reads every token either in *values* context, where the keywords ``in`` and
    ``notin`` are plain identifiers, or in *operator* context, where they are operators.
    Only the operator after a key is read in operator context (:meth:`consume_operator`).
    """

    def __init__(self, text: str) -> None:
        self.items = tokenize(text)
        self.as_values = [
            (Token.IDENTIFIER, literal) if token in _KEYWORDS else (token, literal)
            for token, literal in self.items
        ]
        self.position = 0

    def lookahead(self) -> Item:
        return self.as_values[self.position]

    def consume(self) -> Item:
        self.position += 1
        return self.as_values[self.position - 1]

    def consume_operator(self) -> Item:
        self.position += 1
        return self.items[self.position - 1]

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self.lookahead()
            if token is Token.END:
                return requirements
            if token not in (Token.IDENTIFIER, Token.NOT):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            token, literal = self.consume()
            if token is Token.END:
                return requirements
            if token is not Token.COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self.lookahead()
            if token not in (Token.IDENTIFIER, Token.NOT):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = False
        token, key = self.consume()
        if token is Token.NOT:
            negated = True
            token, key = self.consume()
        if token is not Token.IDENTIFIER:
            raise SelectorError(f"found '{key}', expected: identifier")
        problems = validate_label_key(key)
        if problems:
            # The parser checks keys with a nil field path, hence upstream's "<nil>: ".
            raise SelectorError(f"<nil>: Invalid value: {go_quote(key)}: {'; '.join(problems)}")
        if negated:
            # "!x=a" still yields "!x"; the "=" then fails as junk after a requirement.
            return Requirement(key, Operator.DOES_NOT_EXIST)
        if self.lookahead()[0] in (Token.END, Token.COMMA):
            return Requirement(key, Operator.EXISTS)
        token, literal = self.consume_operator()
        operator = _OPERATOR_OF.get(token)
        if operator is None:
            raise SelectorError(f"found '{literal}', expected: {_BINARY_OPERATORS}")
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self.value_set()
        else:
            values = self.exact_value()
        return Requirement(key, operator, tuple(sorted(values)))

    def value_set(self) -> set[str]:
        token, literal = self.consume()
        if token is not Token.OPEN_PAREN:
            # Upstream's message really has no comma before "expected" here.
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self.lookahead()
        if token is Token.CLOSE_PAREN:
            self.consume()
            return {""}
        if token not in (Token.IDENTIFIER, Token.COMMA):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifier_list()
        self.consume()  # the ")" that identifier_list stopped in front of
        return values

    def identifier_list(self) -> set[str]:
        """Comma-separated, possibly empty entries; ``(,``, ``,,`` and ``,)`` each add ``""``."""
        values: set[str] = set()
        while True:
            token, literal = self.consume()
            if token is Token.IDENTIFIER:
                values.add(literal)
                following, seen = self.lookahead()
                if following is Token.CLOSE_PAREN:
                    return values
                if following is not Token.COMMA:
                    raise SelectorError(f"found '{seen}', expected: ',' or ')'")
            elif token is Token.COMMA:
                if not values:
                    values.add("")
                following = self.lookahead()[0]
                if following is Token.CLOSE_PAREN:
                    values.add("")
                    return values
                if following is Token.COMMA:
                    self.consume()
                    values.add("")
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead()[0] in (Token.END, Token.COMMA):
            return {""}
        token, literal = self.consume()
        if token is not Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return {literal}


def parse_selector(text: str) -> Selector:
    """Parse the string form of a label selector (upstream ``labels.Parse``).

    Requirements come back sorted by key. Anything malformed raises
    :class:`~k8s_service_lab.errors.SelectorError` with upstream's exact message; the empty
    string is a valid selector that matches everything.
    """
    return Selector(tuple(_Parser(text).parse()))
