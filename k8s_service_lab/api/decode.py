"""Manifests in, typed resources out: files, directories, YAML text, dicts, client objects.

This is what ``kubectl apply -f`` and the apiserver do to a manifest before anything is
defaulted or validated, with their error messages, each pinned to a file and line:

* the file is cut into YAML documents and each one turned into JSON
  (``error converting YAML to JSON: yaml: line 3: mapping values are not allowed in this
  context``; see :mod:`~k8s_service_lab.api.yamldoc`);
* ``kind`` and ``apiVersion`` pick the resource (``Object 'Kind' is missing in '{...}'``,
  ``no matches for kind "Servce" in version "v1"``); ``kind: List`` (or any ``*List``)
  unpacks its ``items``;
* the object is decoded strictly, as the apiserver does by default
  (``Service in version "v1" cannot be handled as a Service: strict decoding error: unknown
  field "spec.prots"``; see :mod:`~k8s_service_lab.api.unmarshal`).

Nothing is defaulted here: ``targetPort`` stays ``None`` until
:func:`~k8s_service_lab.api.defaults.default_object`, and ``targetPort: "8080"`` stays the
string ``"8080"`` so that validation can refuse it in the apiserver's words.

    >>> from k8s_service_lab.api.decode import decode_text
    >>> [svc] = decode_text('''
    ... apiVersion: v1
    ... kind: Service
    ... metadata: {name: web}
    ... spec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}
    ... ''')
    >>> svc.metadata.name, svc.spec.ports[0].target_port
    ('web', 'http')
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from k8s_service_lab.api import KINDS, Resource
from k8s_service_lab.api.schema import ROOTS, UNMODELLED_KINDS
from k8s_service_lab.api.unmarshal import UnmarshalError, json_word, unmarshal
from k8s_service_lab.api.yamldoc import (
    YamlError,
    go_json,
    load_document,
    split_documents,
    to_json_value,
)
from k8s_service_lab.errors import DecodeError
from k8s_service_lab.field import go_quote

__all__ = [
    "MANIFEST_SUFFIXES",
    "Manifest",
    "decode_dict",
    "decode_dict_entries",
    "decode_object",
    "decode_objects",
    "decode_text",
    "decode_text_entries",
    "load_manifest_entries",
    "load_manifests",
]

#: The files kubectl reads from a directory (``kubectl apply -f DIR``, without ``-R``).
MANIFEST_SUFFIXES = (".json", ".yaml", ".yml")

# Go's own words when a document is not an object at all: kubectl decodes its type meta into
# this anonymous struct first.
_TYPE_META_STRUCT = (
    'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
    'Kind string "json:\\"kind,omitempty\\"" }'
)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A decoded resource and where it came from: ``source`` file, 1-based ``line`` of the
    object, and ``index``, its position among the objects of that source (List items count
    one by one)."""

    resource: Resource
    source: str
    line: int | None
    index: int


def load_manifests(*paths: str | os.PathLike[str]) -> list[Resource]:
    """The resources of these files and directories, in order, like ``kubectl apply -f``."""
    return [entry.resource for entry in load_manifest_entries(*paths)]


def load_manifest_entries(*paths: str | os.PathLike[str]) -> list[Manifest]:
    """Like :func:`load_manifests`, keeping each resource's file and line.

    A directory contributes its ``*.yaml``, ``*.yml`` and ``*.json`` files, sorted by name and
    not recursively (kubectl without ``-R``); a file named on its own is read whatever its name.
    """
    entries: list[Manifest] = []
    for path in paths:
        for file in _expand(os.fspath(path)):
            entries.extend(decode_text_entries(_read(file), source=file))
    return entries


def decode_text(text: str, source: str = "<string>") -> list[Resource]:
    """The resources of a YAML (or JSON) text: several documents, Lists, empty documents."""
    return [entry.resource for entry in decode_text_entries(text, source)]


def decode_text_entries(text: str, source: str = "<string>") -> list[Manifest]:
    """Like :func:`decode_text`, keeping each resource's line in ``text``."""
    entries: list[Manifest] = []
    try:
        documents = split_documents(text)
    except YamlError as err:
        raise DecodeError(err.message, source=source, line=err.line) from None
    for first_line, document in documents:
        try:
            data = load_document(document, first_line)
        except YamlError as err:
            raise DecodeError(err.message, source=source, line=err.line) from None
        # kubectl skips documents that are empty or just "null".
        if data is not None:
            _collect(data, source, getattr(data, "line", first_line), entries)
    return entries


def decode_dict(
    obj: Mapping[str, object], source: str = "<dict>", line: int | None = None
) -> Resource:
    """One resource from a JSON-shaped dict (as ``yaml.safe_load`` or ``json.load`` give).

    A ``kind: List`` holds several objects: use :func:`decode_dict_entries` for those.
    """
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    if isinstance(kind, str) and kind.endswith("List"):
        raise DecodeError(
            f"{go_quote(kind)} holds a list of objects: use decode_dict_entries",
            source=source,
            line=line,
        )
    [entry] = decode_dict_entries(obj, source, line)
    return entry.resource


def decode_dict_entries(
    obj: Mapping[str, object], source: str = "<dict>", line: int | None = None
) -> list[Manifest]:
    """Every resource of a JSON-shaped dict: one, or the items of a List."""
    try:
        data = to_json_value(obj)
    except YamlError as err:
        raise DecodeError(err.message, source=source, line=line) from None
    entries: list[Manifest] = []
    _collect(data, source, line, entries)
    return entries


def decode_object(obj: object) -> Resource:
    """One resource from a ``kubernetes`` client model (``V1Service``, ``V1Pod`` ...).

    The client leaves ``kind`` and ``apiVersion`` unset on objects built by hand and on the
    items of a list it read; they are filled in from the model's class.
    """
    resources = decode_objects(obj)
    if len(resources) != 1:
        raise DecodeError(
            f"{type(obj).__name__} holds {len(resources)} objects: use decode_objects",
            source=_client_source(obj),
        )
    return resources[0]


def decode_objects(*objs: object) -> list[Resource]:
    """The resources of ``kubernetes`` client models, list models (``V1PodList``) unpacked."""
    resources: list[Resource] = []
    for obj in objs:
        data = _client_dict(obj)
        kind, api_version = _client_kind(obj)
        _fill_type_meta(data, kind, api_version)
        items = data.get("items")
        if kind.endswith("List") and isinstance(items, list):
            for item in items:
                _fill_type_meta(item, kind.removesuffix("List"), api_version)
        entries = decode_dict_entries(data, source=_client_source(obj))
        resources.extend(entry.resource for entry in entries)
    return resources


def _collect(data: object, source: str, line: int | None, out: list[Manifest]) -> None:
    """Decode one document (or List item) into ``out``, unpacking Lists."""
    if not isinstance(data, Mapping):
        message = f"json: cannot unmarshal {json_word(data)} into Go value of type "
        raise DecodeError(message + _TYPE_META_STRUCT, source=source, line=line)
    api_version, kind = _type_meta(data, source, line)
    if kind.endswith("List"):
        items = data.get("items")
        if items is not None and not isinstance(items, list):
            message = f"json: cannot unmarshal {json_word(items)} into Go struct field "
            message += ".items of type []interface {}"
            raise DecodeError(message, source=source, line=_line_of(data, "items", line))
        lines = getattr(items, "item_lines", None)
        for i, item in enumerate(items or ()):
            _collect(item, source, lines[i] if lines else line, out)
        return
    cls = _resource_class(api_version, kind, source, _line_of(data, "kind", line))
    try:
        resource = unmarshal(data, ROOTS[cls], line=line)
    except UnmarshalError as err:
        version = api_version.rsplit("/", 1)[-1]
        message = f"{kind} in version {go_quote(version)} cannot be handled as a {kind}: "
        error = DecodeError(message + err.message, source=source, line=err.line or line)
        error.reason = "BadRequest"  # the apiserver answers 400 for a body it cannot decode
        raise error from None
    assert isinstance(resource, cls)
    out.append(Manifest(resource, source, line, len(out)))


def _type_meta(data: Mapping[str, object], source: str, line: int | None) -> tuple[str, str]:
    """``(apiVersion, kind)``, refused as apimachinery refuses them."""
    for key in ("apiVersion", "kind"):  # Go reads them in this (sorted) order
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            message = f"json: cannot unmarshal {json_word(value)} into Go struct field .{key}"
            where = _line_of(data, key, line)
            raise DecodeError(message + " of type string", source=source, line=where)
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(kind, str) or not kind:
        message = f"Object 'Kind' is missing in '{go_json(data)}'"
        raise DecodeError(message, source=source, line=line)
    if not isinstance(api_version, str) or not api_version:
        message = f"Object 'apiVersion' is missing in '{go_json(data)}'"
        raise DecodeError(message, source=source, line=line)
    if api_version.count("/") > 1:
        message = f"unexpected GroupVersion string: {api_version}"
        raise DecodeError(message, source=source, line=_line_of(data, "apiVersion", line))
    return api_version, kind


def _resource_class(api_version: str, kind: str, source: str, line: int | None) -> type[Resource]:
    cls = KINDS.get((api_version, kind))
    if cls is not None:
        return cls
    if (api_version, kind) in UNMODELLED_KINDS:
        known = ", ".join(sorted(f"{k} ({v})" for v, k in KINDS))
        message = (
            f"kind {go_quote(kind)} in version {go_quote(api_version)} is real but not "
            f"modelled by k8s-service-lab; it reads {known}"
        )
    else:
        message = f"no matches for kind {go_quote(kind)} in version {go_quote(api_version)}"
    raise DecodeError(message, source=source, line=line)


def _line_of(data: Mapping[str, object], key: str, default: int | None) -> int | None:
    lines = getattr(data, "key_lines", None)
    return lines.get(key, default) if isinstance(lines, dict) else default


def _expand(path: str) -> list[str]:
    if not os.path.exists(path):
        raise DecodeError(f"the path {go_quote(path)} does not exist")
    if not os.path.isdir(path):
        return [path]
    names = sorted(os.listdir(path))
    return [
        os.path.join(path, name)
        for name in names
        if os.path.splitext(name)[1] in MANIFEST_SUFFIXES
        and os.path.isfile(os.path.join(path, name))
    ]


def _read(file: str) -> str:
    try:
        data = Path(file).read_bytes()
    except OSError as err:
        raise DecodeError(err.strerror or str(err), source=file) from None
    # kubectl honours a byte-order mark, and reads broken UTF-8 with replacement characters.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8-sig", "replace")


def _client_dict(obj: object) -> dict[str, object]:
    # Imported here: the client is an optional extra and slow to import (DESIGN §9).
    from kubernetes.client import ApiClient

    with ApiClient() as client:
        data = client.sanitize_for_serialization(obj)
    if not isinstance(data, dict):
        raise DecodeError(f"not a kubernetes client model: {type(obj).__name__}")
    return data


_CLIENT_CLASS = re.compile(r"^V1(?P<kind>[A-Za-z]+?)(?P<list>List)?$")


def _client_kind(obj: object) -> tuple[str, str | None]:
    """``(kind, apiVersion)`` for a client model class such as ``V1ServiceList``."""
    match = _CLIENT_CLASS.match(type(obj).__name__)
    if match is None:
        return "", None
    kind = match["kind"]
    versions = [v for v, k in KINDS if k == kind]
    return kind + (match["list"] or ""), versions[0] if versions else None


def _fill_type_meta(data: object, kind: str, api_version: str | None) -> None:
    if isinstance(data, dict):
        if not data.get("kind") and kind:
            data["kind"] = kind
        if not data.get("apiVersion") and api_version:
            data["apiVersion"] = api_version


def _client_source(obj: object) -> str:
    return f"<{type(obj).__name__}>"
