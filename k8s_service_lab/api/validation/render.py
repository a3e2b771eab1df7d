"""Bad values that Go prints with ``encoding/json``, not with ``%q``.

apimachinery's ``field.Error`` prints a bad value by its Go type: a plain ``string`` with
``%q``, numbers bare, and *everything else* through ``json.Marshal``. "Everything else"
includes more than lists and maps:

* named string types (``core.Protocol``, ``core.IPFamily`` ...) and pointers to strings,
  whose JSON escapes ``<``, ``>`` and ``&`` where ``%q`` does not;
* structs, whose JSON keeps the *field order* of the Go struct (a Python ``dict`` handed
  to :func:`~k8s_service_lab.field.render_value` would be sorted like a Go map);
* ``nil`` slices and pointers, which print as ``null``.

:class:`GoValue` carries such a value already rendered, so a :class:`FieldError` prints it
verbatim::

    >>> from k8s_service_lab.api.validation.render import go_json, go_typed
    >>> str(go_json({"Name": "", "Protocol": "TCP", "AppProtocol": None, "Port": 80}))
    '{"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80}'
    >>> str(go_typed("HT<TP"))
    '"HT\\\\u003cTP"'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from k8s_service_lab.field import go_json as field_go_json

__all__ = ["GoValue", "go_json", "go_list", "go_typed", "json_string"]


@dataclass(frozen=True, slots=True)
class GoValue:
    """A bad value already rendered the way ``json.Marshal`` would; ``str()`` gives it back."""

    text: str

    def __str__(self) -> str:
        return self.text


def json_string(text: str) -> str:
    """One string as Go's ``json.Marshal`` writes it (HTML-safe escaping included)."""
    return field_go_json(text)


def _encode(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, GoValue):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, Mapping):
        # Insertion order on purpose: callers pass structs in field order, maps pre-sorted.
        items = (f"{json_string(str(k))}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as Go JSON")


def go_json(value: object) -> GoValue:
    """Render ``value`` as Go JSON: mappings keep their order (struct fields), ``None`` is null."""
    return GoValue(_encode(value))


def go_typed(value: str | None) -> GoValue:
    """A named string type or a ``*string``: quoted as JSON, ``None`` (a nil pointer) as null."""
    return GoValue("null" if value is None else json_string(value))


def go_list(values: Sequence[str]) -> GoValue:
    """A ``[]string`` field: a JSON list, or ``null`` when empty (an absent list is Go's nil)."""
    return GoValue(_encode(list(values)) if values else "null")
