"""Resources out, in the shape ``kubectl get -o yaml`` / ``-o json`` prints them.

Go writes an object back field by field from its struct tags, and the result has habits a
learner should recognise, all reproduced from the tables in :mod:`~k8s_service_lab.api.schema`:

* ``omitempty`` fields are left out when empty, but a plain struct never is: every Service has
  ``status: {loadBalancer: {}}``, every container ``resources: {}``;
* fields without ``omitempty`` are always written, empty or not: an EndpointSlice with no
  endpoints says ``endpoints: null``, a ReplicaSet ``replicas: 0``;
* an int-or-string keeps its form: ``targetPort: 8080`` and ``targetPort: "8080"`` differ;
* keys are sorted at every level (kubectl's YAML and JSON printers both sort), strings that
  would read back as something else are double-quoted (``"80"``, ``"true"``, ``""``), as
  go-yaml does, and several objects print as a ``kind: List``, as kubectl does.

    >>> from k8s_service_lab.api.encode import to_yaml
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> print(to_yaml(Service(ObjectMeta(name="web"), ServiceSpec(ports=(ServicePort(80),)))))
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      ports:
      - port: 80
        targetPort: 0
    status:
      loadBalancer: {}
    <BLANKLINE>

(``targetPort: 0`` is what Go writes for an int-or-string nobody set; the apiserver's
defaulting replaces it with ``port``, see :mod:`~k8s_service_lab.api.defaults`.)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import yaml

from k8s_service_lab.api import KINDS, Resource
from k8s_service_lab.api.gotypes import Field, GoType, ListOf, MapOf, Ref, Scalar, Struct
from k8s_service_lab.api.schema import ROOTS, STRUCTS
from k8s_service_lab.api.yamldoc import IMPLICIT_RESOLVERS
from k8s_service_lab.field import go_html_escape

__all__ = ["list_object", "to_dict", "to_json", "to_yaml"]

_RESOURCE_TYPES: Final = tuple(KINDS.values())
_OMIT: Final = object()


def to_dict(resource: Resource) -> dict[str, object]:
    """The object as JSON-shaped data, keys sorted: ``decode_dict(to_dict(x)) == x``."""
    cls = type(resource)
    body = _struct(resource, ROOTS[cls])
    body.update(apiVersion=cls.API_VERSION, kind=cls.KIND)
    result = _sorted(body)
    assert isinstance(result, dict)
    return result


def list_object(resources: Iterable[Resource]) -> dict[str, object]:
    """A ``kind: List`` holding the objects, as kubectl prints several objects."""
    return {
        "apiVersion": "v1",
        "items": [to_dict(r) for r in resources],
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def to_yaml(resources: Resource | Iterable[Resource], *, as_list: bool = False) -> str:
    """YAML as ``kubectl get -o yaml`` prints it.

    Several objects are separate documents joined by ``---``, or one ``kind: List`` when
    ``as_list`` is true (which is what kubectl itself prints for several objects).
    """
    items = _items(resources)
    if as_list:
        return _dump(list_object(items))
    return "---\n".join(_dump(to_dict(r)) for r in items)


def to_json(resources: Resource | Iterable[Resource], *, as_list: bool = False) -> str:
    """JSON as ``kubectl get -o json`` prints it: 4-space indent, keys sorted, ``<>&`` escaped.

    One object prints as itself; several (or any iterable, or ``as_list``) as a ``kind: List``.
    """
    if isinstance(resources, _RESOURCE_TYPES) and not as_list:
        data: object = to_dict(resources)
    else:
        data = list_object(_items(resources))
    return go_html_escape(json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False)) + "\n"


def _items(resources: Resource | Iterable[Resource]) -> list[Resource]:
    if isinstance(resources, _RESOURCE_TYPES):
        return [resources]
    assert isinstance(resources, Iterable)
    return list(resources)


def _get(source: object, attr: str | None) -> object:
    if source is None or attr is None:
        return None
    if isinstance(source, Mapping):
        return source.get(attr)
    return getattr(source, attr)


def _struct(source: object, struct: Struct) -> dict[str, object]:
    """The JSON object of ``struct``, its attributes read from ``source`` (``None``: all unset)."""
    out: dict[str, object] = {}
    for f in struct.fields:
        if f.inline:
            assert isinstance(f.type, Ref)
            inner = STRUCTS[f.type.key]
            # A pointer to a struct the model flattened away: there only when something is set.
            if f.pointer and not _anything_set(source, inner):
                continue
            out[f.key] = _struct(source, inner)
            continue
        value = _field(f, _get(source, f.attr))
        if value is not _OMIT:
            out[f.key] = value
    for key, value in struct.always:
        out[key] = copy.deepcopy(value)
    return out


def _anything_set(source: object, struct: Struct) -> bool:
    for f in struct.fields:
        if f.inline:
            assert isinstance(f.type, Ref)
            if _anything_set(source, STRUCTS[f.type.key]):
                return True
        elif _get(source, f.attr) not in (None, (), {}):
            return True
    return False


def _field(f: Field, value: object) -> object:
    """One field's JSON value under Go's rules, or ``_OMIT`` when Go leaves it out."""
    t = f.type
    if f.pointer:
        if value is None:
            return _OMIT if f.omitempty else None
        return _value(value, t)
    if isinstance(t, Scalar):
        if t.kind == "intstr":
            # A plain IntOrString is a struct: omitempty cannot drop it, unset it reads 0.
            return 0 if value is None else value
        if value is None or (value == t.zero and type(value) is type(t.zero)):
            return _OMIT if f.omitempty else t.zero
        return value
    if isinstance(t, ListOf | MapOf):
        if not value:
            # Go writes a nil slice or map as null when the field has no omitempty.
            return _OMIT if f.omitempty else None
        return _value(value, t)
    return _value(value, t)  # a plain struct is always written


def _value(value: object, t: GoType) -> object:
    if isinstance(t, Scalar):
        return value
    if isinstance(t, ListOf):
        assert isinstance(value, Iterable)
        return [_value(item, t.item) for item in value]
    if isinstance(t, MapOf):
        assert isinstance(value, Mapping)
        return dict(value)
    struct = STRUCTS[t.key]
    if struct.unwrap is not None:
        return _struct({struct.unwrap: value}, struct)
    return _struct(value, struct)


def _sorted(value: object) -> object:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


class _Dumper(yaml.SafeDumper):
    """PyYAML's emitter with go-yaml v2's choices, so the text reads like kubectl's."""

    yaml_implicit_resolvers = IMPLICIT_RESOLVERS

    def ignore_aliases(self, data: Any) -> bool:
        return True  # kubectl never prints anchors, even for repeated values

    def choose_scalar_style(self) -> str:
        style: str = super().choose_scalar_style()
        event = self.event
        # A string that would read back as another type (80, true, y, "") is quoted by
        # go-yaml with double quotes; PyYAML would use single ones.
        if style == "'" and isinstance(event, yaml.ScalarEvent) and not event.implicit[0]:
            return '"'
        return style


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = None
    if any(char in data for char in "\x85\u2028\u2029"):
        # YAML 1.1 line breaks that libyaml (and so go-yaml) escapes; PyYAML would write them
        # raw, and they would read back as spaces.
        style = '"'
    elif "\n" in data:
        style = "|"  # go-yaml writes multi-line strings as literal blocks
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(data: object) -> str:
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True
    )
