"""Go's JSON vocabulary: how the apiserver's Go structs read and write a manifest.

A Kubernetes object on the wire is JSON decoded into Go structs. Three facts of that decoding
shape everything a learner sees, and this module names them so that the field tables in
:mod:`~k8s_service_lab.api.schema` can state them per field:

* **types** — a field is a Go scalar (``int32``, ``string``, a named string type such as
  ``v1.Protocol``), a list, a ``map[string]string`` or another struct; a mismatch is reported
  as ``json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type
  int32``, naming exactly these Go types;
* **pointers** — ``*bool`` can say "not set" apart from ``false``; a plain ``bool`` cannot, so
  its zero value *is* "not set";
* **omitempty** — whether an empty value is left out when the object is written back (plain
  structs never are: that is why every Service shows ``status: {loadBalancer: {}}``).

    >>> from k8s_service_lab.api.gotypes import INT32, ListOf, Ref
    >>> ListOf(Ref("ServicePort")).go
    '[]v1.ServicePort'
    >>> INT32.zero
    0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = [
    "ANY",
    "BOOL",
    "INT32",
    "INT64",
    "INT_OR_STRING",
    "POINTER",
    "STRING",
    "TIME",
    "UID",
    "WRITTEN",
    "Field",
    "GoType",
    "ListOf",
    "MapOf",
    "Ref",
    "Scalar",
    "Struct",
    "entry",
    "named",
]

#: How a scalar is spelt in JSON: the checks the decoder applies.
ScalarKind: TypeAlias = Literal["string", "int32", "int64", "bool", "intstr", "time", "any"]


@dataclass(frozen=True, slots=True)
class Scalar:
    """A Go scalar: ``kind`` says what JSON it takes, ``go`` how Go names it in errors."""

    kind: ScalarKind
    go: str

    @property
    def zero(self) -> object:
        """Go's zero value, as the model holds it (``0``, ``""``, ``False``)."""
        return _ZEROS[self.kind]


_ZEROS: Mapping[str, object] = {
    "string": "",
    "int32": 0,
    "int64": 0,
    "bool": False,
    "intstr": 0,
    "time": None,
    "any": None,
}

STRING = Scalar("string", "string")
INT32 = Scalar("int32", "int32")
INT64 = Scalar("int64", "int64")
BOOL = Scalar("bool", "bool")
#: ``intstr.IntOrString`` (``targetPort``, ``maxSurge``): an int *or* a string, kept as written.
INT_OR_STRING = Scalar("intstr", "intstr.IntOrString")
#: ``metav1.Time``: an RFC 3339 string (``2024-05-01T10:00:00Z``).
TIME = Scalar("time", "v1.Time")
#: ``types.UID``: a string, but Go calls it by its own name in errors.
UID = Scalar("string", "types.UID")
#: A real field we accept and ignore: any JSON at all.
ANY = Scalar("any", "interface {}")


def named(go: str) -> Scalar:
    """A named string type, e.g. ``named("v1.Protocol")`` for ``protocol``."""
    return Scalar("string", go)


@dataclass(frozen=True, slots=True)
class Ref:
    """A struct, by the key of its table entry (``"ServicePort"``, ``"discovery.EndpointPort"``).

    The Go name in errors is the part after the last dot, prefixed ``v1.``: every struct we
    model lives in a ``v1`` package (core, apps, discovery or meta).
    """

    key: str

    @property
    def go(self) -> str:
        return "v1." + self.key.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class ListOf:
    """A Go slice, ``[]T``."""

    item: Scalar | Ref

    @property
    def go(self) -> str:
        return "[]" + self.item.go


@dataclass(frozen=True, slots=True)
class MapOf:
    """``map[string]string`` (labels, annotations, selectors): the only map we model."""

    go: str = "map[string]string"


GoType: TypeAlias = Scalar | Ref | ListOf | MapOf


@dataclass(frozen=True, slots=True)
class Field:
    """One JSON key of a Go struct and where it lands in the model.

    ``attr`` is the model attribute (``None``: nothing of it is kept, e.g. a struct that only
    groups other fields). ``nullable`` says the model keeps ``None`` for Go's empty value
    where it would otherwise keep ``{}`` — Service selectors, ``matchLabels`` — or for an empty
    plain struct such as a Deployment's ``strategy: {}``. ``inline`` marks a struct the model
    flattens into its parent (``sessionAffinityConfig.clientIP.timeoutSeconds`` is
    ``ServiceSpec.client_ip_timeout_seconds``).
    """

    key: str
    type: GoType
    attr: str | None = None
    omitempty: bool = True
    pointer: bool = False
    nullable: bool = False
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Struct:
    """A Go struct: its modelled fields, the real ones we ignore, and how to build the model.

    ``name`` is Go's type name (``ServicePort``), shown in type errors. ``model`` is the frozen
    dataclass built from the decoded attributes; ``None`` for structs that only exist on the
    wire: an ``inline`` one adds its attributes to the parent, and an ``unwrap`` one (``PodIP``,
    ``{ip: ...}``) stands for its single attribute. ``ignored`` lists real fields of the v1 API
    that we accept and drop, so ``livenessProbe`` is fine and ``livenessProbes`` is not;
    ``always`` are such fields that Go writes back even when unset (``resources: {}``).
    """

    name: str
    fields: tuple[Field, ...]
    model: type | None = None
    unwrap: str | None = None
    ignored: frozenset[str] = frozenset()
    always: tuple[tuple[str, object], ...] = ()
    by_key: Mapping[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {f.key: f for f in self.fields})


#: Table shorthand: ``Field(..., **WRITTEN)`` for a field without ``omitempty``.
WRITTEN: Mapping[str, bool] = {"omitempty": False}
#: Table shorthand: ``Field(..., **POINTER)`` for a pointer field (``*int32``, ``*bool`` ...).
POINTER: Mapping[str, bool] = {"pointer": True}


def entry(
    key: str,
    model: type | None,
    *fields: Field,
    ignored: str = "",
    always: tuple[tuple[str, object], ...] = (),
    unwrap: str | None = None,
) -> tuple[str, Struct]:
    """One table row: ``(key, Struct)``; ``ignored`` is a whitespace-separated list of keys.

    The key may carry a package (``core.EndpointPort``) where two packages define a struct of
    the same name; Go's error messages name the type alone, so ``name`` drops the package.
    """
    name = key.rsplit(".", 1)[-1]
    return key, Struct(name, fields, model, unwrap, frozenset(ignored.split()), always)
