"""Decode one JSON-shaped object into the model, judging it as the apiserver's decoder does.

The apiserver reads a request body with ``sigs.k8s.io/json`` (Go's ``encoding/json`` with
strict decoding) into the structs described in :mod:`~k8s_service_lab.api.schema`. This
module walks the same tables and reports what that decoder reports, in its order:

1. an error from a type with its own decoder (``intstr.IntOrString``, ``metav1.Time``) stops
   everything and is reported at once;
2. otherwise the *first* type mismatch, in key order, wins
   (``json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type
   int32``) — Go goes on decoding but keeps only that one;
3. otherwise every field the API does not have, together:
   ``strict decoding error: unknown field "spec.prots", unknown field "x"``.

Keys are visited in sorted order because that is the order the apiserver sees them: kubectl
turns YAML into JSON through a Go map, and Go writes map keys sorted.

    >>> from k8s_service_lab.api.schema import STRUCTS
    >>> from k8s_service_lab.api.unmarshal import UnmarshalError, unmarshal
    >>> unmarshal({"port": 80, "targetPort": "http"}, STRUCTS["ServicePort"]).target_port
    'http'
    >>> try:
    ...     unmarshal({"port": "abc"}, STRUCTS["ServicePort"], path=("spec", "ports"))
    ... except UnmarshalError as err:
    ...     print(err.message)
    json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

from k8s_service_lab.api.gotime import rfc3339_problem
from k8s_service_lab.api.gotypes import Field, GoType, ListOf, MapOf, Ref, Scalar, Struct
from k8s_service_lab.api.schema import STRUCTS
from k8s_service_lab.field import go_quote

__all__ = ["UnmarshalError", "build", "go_number", "json_word", "unmarshal"]

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


class UnmarshalError(Exception):
    """What the decoder refused, and the 1-based line of the offending field where known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _State:
    """Go's decoder state: the first saved type error and the strict-mode findings."""

    __slots__ = ("first", "unknown")

    def __init__(self) -> None:
        self.first: UnmarshalError | None = None
        self.unknown: list[tuple[str, int | None]] = []

    def mismatch(self, what: str, go: str, where: _Where) -> None:
        if self.first is None:
            self.first = UnmarshalError(_type_error(what, go, where), where.line)


class _Where:
    """Where a value sits: Go's error context (struct, field stack), the strict path, the line."""

    __slots__ = ("fields", "line", "path", "struct")

    def __init__(self, struct: str, fields: tuple[str, ...], path: str, line: int | None):
        self.struct = struct
        self.fields = fields
        self.path = path
        self.line = line


def unmarshal(
    obj: Mapping[str, object],
    struct: Struct,
    *,
    line: int | None = None,
    path: tuple[str, ...] = (),
) -> object:
    """Decode ``obj`` as ``struct`` and build its model object, or raise :class:`UnmarshalError`.

    ``path`` is the JSON path of ``obj`` inside its document (empty for a whole object); it
    only shapes the messages. ``line`` is the document's line, used where ``obj`` (a plain
    dict) carries no line of its own.
    """
    state = _State()
    attrs = _struct(obj, struct, state, _Where(struct.name, path, ".".join(path), line))
    if state.first is not None:
        raise state.first
    if state.unknown:
        found = ", ".join(f"unknown field {go_quote(p)}" for p, _ in state.unknown)
        raise UnmarshalError("strict decoding error: " + found, state.unknown[0][1])
    return build(struct, attrs)


def build(struct: Struct, attrs: Mapping[str, object]) -> object:
    """The model value of a decoded struct: a dataclass, an unwrapped attribute, or the attrs."""
    if struct.unwrap is not None:
        return attrs[struct.unwrap]
    if struct.model is None:
        return dict(attrs)
    return struct.model(**attrs)


def _defaults(struct: Struct) -> dict[str, object]:
    """The attributes of a struct that JSON left out entirely (Go's zero value)."""
    attrs: dict[str, object] = {}
    for f in struct.fields:
        _assign(attrs, f, None)
    return attrs


def _struct(
    obj: Mapping[str, object] | None, struct: Struct, state: _State, where: _Where
) -> dict[str, object]:
    attrs: dict[str, object] = {}
    seen: set[str] = set()
    for key in sorted(obj) if obj is not None else ():
        assert obj is not None
        line = _key_line(obj, key, where.line)
        path = f"{where.path}.{key}" if where.path else key
        f = struct.by_key.get(key)
        if f is None:
            if key not in struct.ignored:
                state.unknown.append((path, line))
            continue
        seen.add(key)
        inner = _Where(struct.name, (*where.fields, key), path, line)
        _assign(attrs, f, _value(obj[key], f.type, state, inner))
    for f in struct.fields:
        if f.key not in seen:
            _assign(attrs, f, None)
    return attrs


def _assign(attrs: dict[str, object], f: Field, value: object) -> None:
    """Store a decoded Go value (``None``: null or absent) as the model wants it."""
    if f.inline:
        assert isinstance(f.type, Ref)
        if value is None:
            value = _defaults(STRUCTS[f.type.key])
        assert isinstance(value, dict)
        attrs.update(value)
    elif f.attr is not None:
        attrs[f.attr] = _canonical(f, value)


def _canonical(f: Field, value: object) -> object:
    """Go's reading of a value: a plain (non-pointer) field cannot tell empty from unset."""
    t = f.type
    if f.pointer:
        return value
    if isinstance(t, ListOf):
        return () if value is None else value
    if isinstance(t, MapOf):
        if not value:
            return None if f.nullable else {}
        return value
    if isinstance(t, Ref):
        struct = STRUCTS[t.key]
        empty = build(struct, _defaults(struct))
        if value is None:
            value = empty
        return None if f.nullable and value == empty else value
    if value is None or (value == t.zero and type(value) is type(t.zero)):
        # omitempty: Go's zero value is "not set" (None); otherwise it is the value itself.
        return None if f.omitempty else t.zero
    return value


def _value(raw: object, t: GoType, state: _State, where: _Where) -> object:
    """Decode one JSON value as Go type ``t``; ``None`` for null (and after a mismatch)."""
    if raw is None:
        return None
    if isinstance(t, Scalar):
        return _scalar(raw, t, state, where)
    if isinstance(t, Ref):
        if not isinstance(raw, Mapping):
            state.mismatch(json_word(raw), t.go, where)
            return None
        struct = STRUCTS[t.key]
        return build(struct, _struct(raw, struct, state, where))
    if isinstance(t, ListOf):
        if not _is_list(raw):
            state.mismatch(json_word(raw), t.go, where)
            return None
        assert isinstance(raw, Sequence)
        items = []
        for i, item in enumerate(raw):
            at = _Where(where.struct, where.fields, f"{where.path}[{i}]", _item_line(raw, i, where))
            value = _value(item, t.item, state, at)
            if value is None:  # a null element is Go's zero value of the element type
                if isinstance(t.item, Ref):
                    struct = STRUCTS[t.item.key]
                    value = build(struct, _defaults(struct))
                else:
                    value = t.item.zero
            items.append(value)
        return tuple(items)
    if not isinstance(raw, Mapping):
        state.mismatch(json_word(raw), t.go, where)
        return None
    out: dict[str, str] = {}
    for key in sorted(raw):
        item = raw[key]
        if item is None or isinstance(item, str):
            out[key] = item or ""
        else:
            at = _Where(where.struct, where.fields, where.path, _key_line(raw, key, where.line))
            state.mismatch(json_word(item), "string", at)
    return out


def _scalar(raw: object, t: Scalar, state: _State, where: _Where) -> object:
    kind = t.kind
    if kind == "any":
        return None
    if kind == "string":
        if isinstance(raw, str):
            return raw
        state.mismatch(json_word(raw), t.go, where)
        return None
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        state.mismatch(json_word(raw), t.go, where)
        return None
    if kind == "time":
        # metav1.Time decodes itself: a wrong type or a bad date ends decoding at once.
        if not isinstance(raw, str):
            raise UnmarshalError(_type_error(json_word(raw), "string", where), where.line)
        problem = rfc3339_problem(raw)
        if problem is not None:
            raise UnmarshalError(problem, where.line)
        return raw
    if kind == "intstr":
        # IntOrString decodes itself too: a string is kept, anything else must be an int32.
        if isinstance(raw, str):
            return raw
        number = _int(raw, "int32")
        if isinstance(number, str):
            raise UnmarshalError(_type_error(number, "int32", where), where.line)
        return number
    number = _int(raw, kind)
    if isinstance(number, str):
        state.mismatch(number, t.go, where)
        return None
    return number


def _int(raw: object, kind: str) -> int | str:
    """``raw`` as a Go integer of ``kind``, or the word Go uses for why it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return json_word(raw)
    low, high = _INT_RANGES[kind]
    # YAML gives 80.0 for "80.0"; kubectl's YAML-to-JSON step writes it as 80, an int.
    if isinstance(raw, float) and not raw.is_integer():
        return "number " + go_number(raw)
    if not low <= int(raw) <= high:
        return "number " + go_number(raw)
    return int(raw)


def _type_error(what: str, go: str, where: _Where) -> str:
    field = ".".join(where.fields)
    return f"json: cannot unmarshal {what} into Go struct field {where.struct}.{field} of type {go}"


def json_word(value: object) -> str:
    """How Go's decoder names a JSON value in a type error: ``string``, ``number`` ..."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if _is_list(value):
        return "array"
    return "null" if value is None else type(value).__name__


def go_number(value: int | float) -> str:
    """A number as Go's JSON encoder writes it (``1.5``, ``0.00001``, ``1e-7``, ``1e+21``)."""
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e21):
        return str(int(value))
    if not math.isfinite(value):
        return repr(value)
    if 1e-6 <= abs(value) < 1e21:
        return format(Decimal(repr(value)), "f")
    mantissa, exponent = repr(value).split("e")
    if exponent.startswith("-0"):
        exponent = "-" + exponent[2:]
    return f"{mantissa}e{exponent}"


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple)


def _key_line(obj: Mapping[str, object], key: str, default: int | None) -> int | None:
    lines = getattr(obj, "key_lines", None)
    return lines.get(key, default) if isinstance(lines, dict) else default


def _item_line(seq: Sequence[object], i: int, where: _Where) -> int | None:
    lines = getattr(seq, "item_lines", None)
    return lines[i] if isinstance(lines, list) and i < len(lines) else where.line
