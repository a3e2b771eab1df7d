"""Field paths and field errors: the apiserver's vocabulary for "what is wrong, and where".

Every validation problem in Kubernetes is a *field error*: a path into the object
(``spec.ports[0].port``), a type (``Invalid value``, ``Required value`` ...), the bad value
and a detail. This module renders them exactly as apimachinery's ``field.Error`` does in
Kubernetes v1.34, so our messages can be held next to a real apiserver's::

    >>> from k8s_service_lab.field import FieldPath, invalid
    >>> path = FieldPath.root("spec").child("ports").index(0).child("port")
    >>> str(invalid(path, 0, "must be between 1 and 65535, inclusive"))
    'spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive'

Values are rendered the v1.34 way: strings quoted like Go's ``%q``, numbers and booleans
bare, ``None`` as ``null`` and lists or maps as JSON.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "OMIT",
    "ErrorType",
    "FieldError",
    "FieldPath",
    "aggregate",
    "duplicate",
    "forbidden",
    "go_html_escape",
    "go_json",
    "go_quote",
    "internal",
    "invalid",
    "not_supported",
    "render_value",
    "required",
    "too_long",
    "too_many",
]


class _Omit:
    """Marker for "this error shows no value" (apimachinery's ``omitValue``)."""

    _instance: _Omit | None = None

    def __new__(cls) -> _Omit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()


class ErrorType(enum.Enum):
    """The kinds of field error, valued by the word the apiserver prints."""

    INVALID = "Invalid value"
    NOT_SUPPORTED = "Unsupported value"
    DUPLICATE = "Duplicate value"
    REQUIRED = "Required value"
    FORBIDDEN = "Forbidden"
    TOO_LONG = "Too long"
    TOO_MANY = "Too many"
    INTERNAL = "Internal error"
    NOT_FOUND = "Not found"

    @property
    def reason(self) -> str:
        """The ``details.causes[].reason`` an apiserver puts in a 422 response."""
        return _REASONS[self]


_REASONS: Final = {
    ErrorType.INVALID: "FieldValueInvalid",
    ErrorType.NOT_SUPPORTED: "FieldValueNotSupported",
    ErrorType.DUPLICATE: "FieldValueDuplicate",
    ErrorType.REQUIRED: "FieldValueRequired",
    ErrorType.FORBIDDEN: "FieldValueForbidden",
    ErrorType.TOO_LONG: "FieldValueTooLong",
    ErrorType.TOO_MANY: "FieldValueTooMany",
    ErrorType.INTERNAL: "InternalError",
    ErrorType.NOT_FOUND: "FieldValueNotFound",
}


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A path into an object, rendered like ``spec.ports[0].name`` or ``metadata.labels[app]``.

    ``FieldPath.nil()`` is the empty path, which apimachinery prints as ``<nil>`` (you see it in
    label-selector key errors).
    """

    parts: tuple[str, ...] = ()

    @classmethod
    def root(cls, name: str, *more: str) -> FieldPath:
        path = cls((name,))
        for extra in more:
            path = path.child(extra)
        return path

    @classmethod
    def nil(cls) -> FieldPath:
        return cls(())

    def child(self, name: str, *more: str) -> FieldPath:
        parts = [*self.parts, "." + name if self.parts else name]
        parts.extend("." + extra for extra in more)
        return FieldPath(tuple(parts))

    def index(self, i: int) -> FieldPath:
        return FieldPath((*self.parts, f"[{i}]"))

    def key(self, k: str) -> FieldPath:
        return FieldPath((*self.parts, f"[{k}]"))

    def __str__(self) -> str:
        return "".join(self.parts) if self.parts else "<nil>"


def go_quote(text: str) -> str:
    """Quote a string the way Go's ``%q`` does (``strconv.Quote``)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def render_value(value: object) -> str:
    """Render a bad value as a v1.34 apiserver does in a field error."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, enum.Enum):
        return render_value(value.value)
    if isinstance(value, Mapping | Sequence | set | frozenset):
        return go_json(_jsonable(value))
    return str(value)


def go_json(value: object) -> str:
    """JSON as Go's ``json.Marshal`` writes it: compact, with ``<``, ``>``, ``&`` escaped."""
    return go_html_escape(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def go_html_escape(json_text: str) -> str:
    """Escape JSON text as Go's encoder does by default (``<`` → ``\\u003c`` ...)."""
    for raw, escaped in _GO_JSON_ESCAPES:
        json_text = json_text.replace(raw, escaped)
    return json_text


_GO_JSON_ESCAPES: Final = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _jsonable(value: object) -> object:
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v) for v in value)  # type: ignore[type-var]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field: ``FieldError(path, type, value, detail)``.

    ``str()`` gives the full apiserver line; :meth:`body` gives it without the path, which is
    what ``details.causes[].message`` carries.
    """

    path: FieldPath
    type: ErrorType
    value: object = OMIT
    detail: str = ""

    def body(self) -> str:
        if self.type in _VALUELESS or self.value is OMIT:
            text = self.type.value
        else:
            text = f"{self.type.value}: {render_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}"

    def with_prefix(self, prefix: FieldPath) -> FieldError:
        """The same error with its (relative) path placed under ``prefix``."""
        if not prefix.parts:
            return self
        if not self.path.parts:
            return FieldError(prefix, self.type, self.value, self.detail)
        first, *rest = self.path.parts
        first = first if first.startswith("[") else "." + first
        return FieldError(
            FieldPath((*prefix.parts, first, *rest)), self.type, self.value, self.detail
        )


#: Error types whose rendering never shows the bad value (as in apimachinery's ErrorBody).
_VALUELESS: Final = frozenset(
    {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.INTERNAL, ErrorType.TOO_LONG}
)


def invalid(path: FieldPath, value: object, detail: str) -> FieldError:
    return FieldError(path, ErrorType.INVALID, value, detail)


def required(path: FieldPath, detail: str = "") -> FieldError:
    return FieldError(path, ErrorType.REQUIRED, OMIT, detail)


def forbidden(path: FieldPath, detail: str) -> FieldError:
    return FieldError(path, ErrorType.FORBIDDEN, OMIT, detail)


def duplicate(path: FieldPath, value: object) -> FieldError:
    return FieldError(path, ErrorType.DUPLICATE, value)


def internal(path: FieldPath, detail: str) -> FieldError:
    return FieldError(path, ErrorType.INTERNAL, OMIT, detail)


def not_supported(path: FieldPath, value: object, supported: Iterable[str]) -> FieldError:
    """``Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`` (sorted, quoted)."""
    values = ", ".join(go_quote(v) for v in sorted(supported))
    return FieldError(path, ErrorType.NOT_SUPPORTED, value, f"supported values: {values}")


def too_long(path: FieldPath, value: object, max_length: int) -> FieldError:
    return FieldError(path, ErrorType.TOO_LONG, value, f"may not be more than {max_length} bytes")


def too_many(path: FieldPath, actual: int, max_items: int) -> FieldError:
    return FieldError(path, ErrorType.TOO_MANY, actual, f"must have at most {max_items} items")


def aggregate(messages: Iterable[str]) -> str:
    """Join messages like apimachinery's aggregate: de-duplicated, ``[a, b]`` when several."""
    seen: dict[str, None] = {}
    for message in messages:
        seen.setdefault(message, None)
    unique = list(seen)
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"
