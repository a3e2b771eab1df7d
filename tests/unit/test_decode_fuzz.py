"""Fuzzing the decoder: any text, any JSON-like dict either decodes or raises DecodeError.

Nothing else may escape (DESIGN: anything but a ServiceLabError is a bug), and whatever does
decode must survive encoding and decoding again unchanged.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_service_lab.api import KINDS, Resource
from k8s_service_lab.api.decode import decode_dict_entries, decode_text
from k8s_service_lab.api.encode import to_dict
from k8s_service_lab.api.gotypes import GoType, ListOf, MapOf, Scalar
from k8s_service_lab.api.schema import ROOTS, STRUCTS
from k8s_service_lab.errors import DecodeError


def _fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _check(resources: list[Resource]) -> None:
    for resource in resources:
        [again] = decode_dict_entries(to_dict(resource))
        assert again.resource == resource


def _decode_text(text: str) -> None:
    try:
        resources = decode_text(text)
    except DecodeError:
        return
    _check(resources)


def _decode_dict(obj: dict[str, Any]) -> None:
    try:
        entries = decode_dict_entries(obj)
    except DecodeError:
        return
    _check([e.resource for e in entries])


def _json(floats: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | floats
        | st.text(max_size=8)
        | st.sampled_from(["", "0", "None", "TCP", "80", "10.0.0.1", "25%"])
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=12,
    )


#: Any JSON-like value, NaN and infinities included (which JSON cannot hold).
JSON = _json(st.floats())
#: JSON proper.
FINITE_JSON = _json(st.floats(allow_nan=False, allow_infinity=False))

# Text that looks like YAML: its punctuation, indentation and keywords, in random order.
YAML_BITS = st.sampled_from(
    [
        "apiVersion: v1\n",
        "kind: Service\n",
        "kind: List\nitems:\n",
        "---\n",
        "--- x\n",
        "...\n",
        "metadata:\n  name: web\n",
        "spec:\n",
        "  ports:\n",
        "  - port: 80\n",
        "    targetPort: http\n",
        "- ",
        "  ",
        "\t",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "&a ",
        "*a",
        "!!int ",
        "!!binary ",
        "!foo ",
        "<<: ",
        "|\n",
        ">-\n",
        "'",
        '"',
        "#",
        "? ",
        "%YAML 1.1\n",
        "y",
        ".nan",
        "0x1F",
        "1e3",
        "2025-09-01T10:00:00Z",
        "\n",
    ]
)
YAML_TEXT = st.lists(YAML_BITS | st.text(max_size=4), max_size=25).map("".join)


_VALID_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=6),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "bool": st.booleans(),
    "intstr": st.integers(-(2**31), 2**31 - 1) | st.text(max_size=4),
    "time": st.sampled_from(["2025-09-01T10:00:00Z", "2024-02-29T23:59:59.5+05:30"]),
    "any": FINITE_JSON,
}
_WILD_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "int32": st.integers(-(2**31) - 2, 2**31 + 1) | st.floats(-1e10, 1e10),
    "int64": st.integers(-(2**63) - 2, 2**63 + 1),
    "intstr": st.integers(-(2**31) - 2, 2**31 + 1) | st.text(max_size=4) | st.floats(),
    "time": st.sampled_from(["2025-13-01T00:00:00Z", "2025-09-01", "2025-09-31T00:00:00Z"])
    | st.text(max_size=4),
}


def _typed(t: GoType, wild: bool) -> st.SearchStrategy[Any]:
    """Values of Go type ``t``; ``wild`` ones are out of range, or of another type, at times."""
    value: st.SearchStrategy[Any]
    if isinstance(t, Scalar):
        value = _VALID_SCALARS[t.kind]
        if wild:
            value = _WILD_SCALARS.get(t.kind, value)
    elif isinstance(t, ListOf):
        value = st.lists(_typed(t.item, wild), max_size=2)
    elif isinstance(t, MapOf):
        value = st.dictionaries(st.text(max_size=4), st.text(max_size=4) | st.none(), max_size=2)
    else:
        value = _struct(t.key, wild)
    return st.one_of(value, value, value, value, value, JSON) if wild else value


def _struct(key: str, wild: bool) -> st.SearchStrategy[dict[str, Any]]:
    struct = STRUCTS[key]
    optional = {f.key: _typed(f.type, wild) for f in struct.fields}
    ignored = sorted(struct.ignored - {"apiVersion", "kind"})[:3]
    optional.update(dict.fromkeys(ignored, JSON if wild else FINITE_JSON))
    if wild:
        optional["bogusField"] = JSON
    return st.fixed_dictionaries({}, optional=optional)


def _manifests(wild: bool) -> st.SearchStrategy[dict[str, Any]]:
    def build(gvk: tuple[str, str]) -> st.SearchStrategy[dict[str, Any]]:
        body = _struct(ROOTS[KINDS[gvk]].name, wild)
        return body.map(lambda b: {**b, "apiVersion": gvk[0], "kind": gvk[1]})

    return st.sampled_from(sorted(KINDS)).flatmap(build)


WILD_MANIFESTS = _manifests(wild=True)
VALID_MANIFESTS = _manifests(wild=False)


@_fuzz(3500)
@given(st.text())
def test_any_text(text: str) -> None:
    _decode_text(text)


@_fuzz(2500)
@given(YAML_TEXT)
def test_yaml_like_text(text: str) -> None:
    _decode_text(text)


@_fuzz(1500)
@given(st.dictionaries(st.text(max_size=8), JSON, max_size=5))
def test_any_dict(obj: dict[str, Any]) -> None:
    _decode_dict(obj)


@_fuzz(1500)
@given(
    st.fixed_dictionaries(
        {"apiVersion": st.sampled_from(["v1", "apps/v1", "x/y/z", ""]) | JSON},
        optional={
            "kind": st.sampled_from(["List", "Service", "Pod", "ServiceList"]) | JSON,
            "items": JSON | st.lists(JSON, max_size=3),
        },
    )
)
def test_any_envelope(obj: dict[str, Any]) -> None:
    _decode_dict(obj)


@_fuzz(1500)
@given(WILD_MANIFESTS)
def test_manifest_shaped_dicts(obj: dict[str, Any]) -> None:
    _decode_dict(obj)


@_fuzz(1000)
@given(WILD_MANIFESTS)
def test_manifest_shaped_yaml(obj: dict[str, Any]) -> None:
    _decode_text(yaml.safe_dump(obj))


@_fuzz(1500)
@given(VALID_MANIFESTS)
def test_valid_manifests_always_decode(obj: dict[str, Any]) -> None:
    entries = decode_dict_entries(obj)
    _check([e.resource for e in entries])
    [entry] = entries
    assert obj["kind"] == type(entry.resource).KIND
