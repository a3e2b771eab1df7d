"""Nodes and Namespaces (``v1``): where pods run and where names live.

>>> from k8s_service_lab.api.meta import ObjectMeta
>>> from k8s_service_lab.api.node import Node, NodeAddress, NodeSpec, NodeStatus
>>> node = Node(ObjectMeta(name="kind-worker"), NodeSpec(pod_cidr="10.244.1.0/24"),
...             NodeStatus(addresses=(NodeAddress("InternalIP", "172.18.0.3"),)))
>>> node.internal_ips
('172.18.0.3',)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from k8s_service_lab.api.meta import ObjectMeta

__all__ = [
    "Namespace",
    "Node",
    "NodeAddress",
    "NodeCondition",
    "NodeSpec",
    "NodeStatus",
    "Taint",
]


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    effect: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """``status.addresses[]``: ``InternalIP``, ``ExternalIP``, ``Hostname`` ..."""

    type: str
    address: str


@dataclass(frozen=True, slots=True)
class NodeCondition:
    type: str
    status: str


@dataclass(frozen=True, slots=True)
class NodeSpec:
    pod_cidr: str | None = None
    pod_cidrs: tuple[str, ...] = ()
    taints: tuple[Taint, ...] = ()
    unschedulable: bool | None = None
    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class NodeStatus:
    addresses: tuple[NodeAddress, ...] = ()
    conditions: tuple[NodeCondition, ...] = ()


@dataclass(frozen=True, slots=True)
class Node:
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Node"
    GROUP_KIND: ClassVar[str] = "Node"
    RESOURCE: ClassVar[str] = "nodes"
    NAMESPACED: ClassVar[bool] = False

    metadata: ObjectMeta
    spec: NodeSpec = field(default_factory=NodeSpec)
    status: NodeStatus = field(default_factory=NodeStatus)

    @property
    def internal_ips(self) -> tuple[str, ...]:
        return tuple(a.address for a in self.status.addresses if a.type == "InternalIP")


@dataclass(frozen=True, slots=True)
class Namespace:
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Namespace"
    GROUP_KIND: ClassVar[str] = "Namespace"
    RESOURCE: ClassVar[str] = "namespaces"
    NAMESPACED: ClassVar[bool] = False

    metadata: ObjectMeta
    phase: str | None = None
