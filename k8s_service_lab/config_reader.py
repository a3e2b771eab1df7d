"""Reading a kind config strictly, as kind's own decoder does (gopkg.in/yaml.v3, KnownFields).

Unknown fields, wrong types and duplicate keys are errors that name the file, the line and the
field path, before any of kind's defaulting happens; :mod:`k8s_service_lab.config` then derives
the cluster from what was read::

    >>> from k8s_service_lab.config_reader import load_yaml
    >>> text = "kind: Cluster\\nnetworking:\\n  podSubnet: 10.244.0.0/16\\n"
    >>> data, lines = load_yaml(text, "k.yaml")
    >>> lines["networking.podSubnet"]
    3
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from k8s_service_lab.config import (
    API_VERSION,
    ClusterConfig,
    Mount,
    Networking,
    NodeConfig,
    PatchJSON6902,
    PortMapping,
    PortRange,
    where,
)
from k8s_service_lab.errors import ConfigError

__all__ = ["ConfigReader", "load_yaml"]

_T = TypeVar("_T")


#: Known fields per object: camelCase name -> how to read the value. The dataclass attribute
#: is the snake_case form of the name.
_SCHEMAS: dict[type, dict[str, str]] = {
    Mount: {
        "containerPath": "str",
        "hostPath": "str",
        "readOnly": "bool",
        "selinuxRelabel": "bool",
        "propagation": "str",
    },
    PortMapping: {
        "containerPort": "int",
        "hostPort": "int",
        "listenAddress": "str",
        "protocol": "str",
    },
    PatchJSON6902: {"group": "str", "version": "str", "kind": "str", "patch": "str"},
    NodeConfig: {
        "role": "str",
        "image": "str",
        "labels": "str_map",
        "extraMounts": "mounts",
        "extraPortMappings": "port_mappings",
        "gpus": "str",
        "kubeadmConfigPatches": "strs",
        "kubeadmConfigPatchesJSON6902": "patches",
    },
    Networking: {
        "ipFamily": "str",
        "apiServerAddress": "str",
        "apiServerPort": "int",
        "podSubnet": "str",
        "serviceSubnet": "str",
        "disableDefaultCNI": "bool",
        "kubeProxyMode": "str",
        "dnsSearch": "strs",
    },
    ClusterConfig: {
        "kind": "skip",
        "apiVersion": "skip",
        "name": "str",
        "nodes": "nodes",
        "networking": "networking",
        "featureGates": "bool_map",
        "runtimeConfig": "str_map",
        "kubeadmConfigPatches": "strs",
        "kubeadmConfigPatchesJSON6902": "patches",
        "containerdConfigPatches": "strs",
        "containerdConfigPatchesJSON6902": "strs",
    },
}
_KINDS: dict[str, tuple[type, str]] = {
    "str": (str, "a string"),
    "text": (str, "a string"),
    "int": (int, "an integer"),
    "bool": (bool, "true or false"),
}
_LIST_OF = {
    "mounts": Mount,
    "port_mappings": PortMapping,
    "patches": PatchJSON6902,
    "nodes": NodeConfig,
}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def load_yaml(text: str, source: str) -> tuple[object, dict[str, int]]:
    """Parse YAML, remembering the line of every mapping key, refusing duplicate keys."""
    import yaml  # here, not at the top: `ksl --help` must not pay for PyYAML

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        if node is None:
            return None, lines
        _walk(node, "", lines, source)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: malformed YAML: {err.problem or err.context}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: malformed YAML: {err}") from err
    finally:
        loader.dispose()


def _walk(node: object, path: str, lines: dict[str, int], source: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            line = key_node.start_mark.line + 1
            if child in lines:  # yaml.v3 refuses these; PyYAML would silently keep the last
                raise ConfigError(
                    f'{source}:{line}: {child}: mapping key "{key_node.value}" '
                    f"already defined at line {lines[child]}"
                )
            lines[child] = line
            _walk(value_node, child, lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[f"{path}[{i}]"] = item.start_mark.line + 1
            _walk(item, f"{path}[{i}]", lines, source)


def _show(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return f'"{value}"' if isinstance(value, str) else str(value)


class ConfigReader:
    """Turns decoded YAML into config objects, stopping at the first structural problem."""

    def __init__(self, source: str | None, lines: Mapping[str, int]):
        self.source = source
        self.lines = lines

    def fail(self, path: str, detail: str) -> ConfigError:
        return ConfigError(where(self.source, self.lines, path, detail))

    def cluster(self, data: object, node_port_range: PortRange) -> ClusterConfig:
        if not isinstance(data, dict):
            raise self.fail(
                "", f"expected a kind Cluster config (a YAML mapping), got {_show(data)}"
            )
        # kind's loader looks at apiVersion first, then at kind.
        if data.get("apiVersion") != API_VERSION:
            raise self.fail(
                "apiVersion",
                f'unknown apiVersion {_show(data.get("apiVersion"))}, expected "{API_VERSION}"',
            )
        if data.get("kind") != "Cluster":
            raise self.fail(
                "kind",
                f"unknown kind {_show(data.get('kind'))} for apiVersion "
                f'{API_VERSION}, expected "Cluster"',
            )
        return self.struct(
            ClusterConfig,
            data,
            "",
            node_port_range=node_port_range,
            source=self.source,
            lines=self.lines,
        )

    def struct(self, cls: type[_T], value: object, path: str, **extra: Any) -> _T:
        schema = _SCHEMAS[cls]
        raw = self.mapping(value, path)
        kwargs: dict[str, Any] = dict(extra)
        for key, item in raw.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in schema:
                hint = [k for k in schema if k.lower() == str(key).lower()]
                raise self.fail(
                    child,
                    "unknown field"
                    + (
                        f' (did you mean "{hint[0]}"?)'
                        if hint
                        else f" (known fields: {', '.join(sorted(schema))})"
                    ),
                )
            how = schema[key]
            if item is not None and how != "skip":  # null means "not set", as in Go
                kwargs[_snake(key)] = self.value(how, item, child)
        if cls is ClusterConfig and not kwargs.get("nodes"):
            kwargs.pop("nodes", None)  # `nodes: []` is kind's one control-plane node too
        return cls(**kwargs)

    def value(self, how: str, item: object, path: str) -> object:
        if how == "networking":
            return self.struct(Networking, item, path)
        if how in _LIST_OF:
            return tuple(
                self.struct(_LIST_OF[how], v, f"{path}[{i}]")
                for i, v in enumerate(self.items(item, path))
            )
        if how == "strs":
            return tuple(
                self.value("str", v, f"{path}[{i}]") for i, v in enumerate(self.items(item, path))
            )
        if how in ("str_map", "bool_map"):
            inner = "text" if how == "str_map" else "bool"
            pairs = self.mapping(item, path).items()
            return {str(k): self.value(inner, v, f"{path}.{k}") for k, v in pairs}
        if how == "text" and isinstance(item, int | float):
            return _show(item)  # an unquoted `tier: 1` or `x: true` is its text, as Go decodes it
        want, words = _KINDS[how]
        if not isinstance(item, want) or (how == "int" and isinstance(item, bool)):
            raise self.fail(path, f"expected {words}, got {_show(item)}")
        return item

    def mapping(self, value: object, path: str) -> dict[object, object]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping, got {_show(value)}")
        return value

    def items(self, value: object, path: str) -> list[object]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {_show(value)}")
        return value
