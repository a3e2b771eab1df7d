"""EndpointSlices (``discovery.k8s.io/v1``) and legacy Endpoints (``v1``, read-only here).

    >>> from k8s_service_lab.api.discovery import Endpoint, EndpointConditions, EndpointSlice
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> s = EndpointSlice(ObjectMeta(name="web-abc12", namespace="default"), "IPv4",
    ...                   (Endpoint(("10.244.1.3",), EndpointConditions(True, True, False)),))
    >>> s.endpoints[0].conditions.ready
    True

kube-proxy reads EndpointSlices, never Endpoints; Endpoints are kept because real clusters
still serve them (deprecated since v1.33) and learners meet them in ``kubectl get ep``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from k8s_service_lab.api.meta import ObjectMeta

__all__ = [
    "Endpoint",
    "EndpointAddress",
    "EndpointConditions",
    "EndpointHints",
    "EndpointPort",
    "EndpointSlice",
    "EndpointSubset",
    "Endpoints",
    "ObjectReference",
]


@dataclass(frozen=True, slots=True)
class ObjectReference:
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    api_version: str | None = None
    resource_version: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointConditions:
    """``ready`` / ``serving`` / ``terminating``; ``None`` means unknown (consumers read ready)."""

    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


@dataclass(frozen=True, slots=True)
class EndpointHints:
    for_zones: tuple[str, ...] = ()
    for_nodes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoint:
    addresses: tuple[str, ...]
    conditions: EndpointConditions = field(default_factory=EndpointConditions)
    hostname: str | None = None
    target_ref: ObjectReference | None = None
    node_name: str | None = None
    zone: str | None = None
    hints: EndpointHints | None = None
    deprecated_topology: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EndpointPort:
    """``ports[]`` of a slice; ``port`` ``None`` means "all ports" (rare; selectorless)."""

    name: str | None = None
    protocol: str | None = None
    port: int | None = None
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    API_VERSION: ClassVar[str] = "discovery.k8s.io/v1"
    KIND: ClassVar[str] = "EndpointSlice"
    GROUP_KIND: ClassVar[str] = "EndpointSlice.discovery.k8s.io"
    RESOURCE: ClassVar[str] = "endpointslices"
    NAMESPACED: ClassVar[bool] = True

    metadata: ObjectMeta
    address_type: str
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[EndpointPort, ...] = ()


@dataclass(frozen=True, slots=True)
class EndpointAddress:
    ip: str
    hostname: str | None = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


@dataclass(frozen=True, slots=True)
class EndpointSubset:
    addresses: tuple[EndpointAddress, ...] = ()
    not_ready_addresses: tuple[EndpointAddress, ...] = ()
    ports: tuple[EndpointPort, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Legacy ``v1`` Endpoints: one object per Service, subsets of addresses × ports."""

    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Endpoints"
    GROUP_KIND: ClassVar[str] = "Endpoints"
    RESOURCE: ClassVar[str] = "endpoints"
    NAMESPACED: ClassVar[bool] = True

    metadata: ObjectMeta
    subsets: tuple[EndpointSubset, ...] = ()
