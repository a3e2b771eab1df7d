"""Pods and pod templates (``v1``): the parts that matter for Service networking.

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.pod import Container, ContainerPort, Pod, PodSpec
    >>> http = ContainerPort(8080, name="http")
    >>> pod = Pod(ObjectMeta(name="web-0", namespace="default", labels={"app": "web"}),
    ...           PodSpec(containers=(Container("web", ports=(http,)),)))
    >>> pod.spec.containers[0].ports[0].name
    'http'

A Pod's readiness (the ``Ready`` condition) and its deletion timestamp are what the
EndpointSlice controller turns into ``ready`` / ``serving`` / ``terminating``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from k8s_service_lab.api.meta import ObjectMeta

__all__ = [
    "Container",
    "ContainerPort",
    "Pod",
    "PodCondition",
    "PodSpec",
    "PodStatus",
    "PodTemplateSpec",
    "Toleration",
]


@dataclass(frozen=True, slots=True)
class ContainerPort:
    """``containers[].ports[]``: a port a named ``targetPort`` can resolve to."""

    container_port: int
    name: str | None = None
    protocol: str | None = None
    host_port: int | None = None


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    image: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class PodSpec:
    containers: tuple[Container, ...] = ()
    node_name: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    hostname: str | None = None
    subdomain: str | None = None
    host_network: bool | None = None
    termination_grace_period_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class PodCondition:
    """``status.conditions[]``; ``status`` is ``"True"``, ``"False"`` or ``"Unknown"``."""

    type: str
    status: str


@dataclass(frozen=True, slots=True)
class PodStatus:
    phase: str | None = None
    pod_ip: str | None = None
    pod_ips: tuple[str, ...] = ()
    host_ip: str | None = None
    host_ips: tuple[str, ...] = ()
    conditions: tuple[PodCondition, ...] = ()

    @property
    def ready(self) -> bool:
        """True when the ``Ready`` condition is ``"True"`` (what kubelet's probes decide)."""
        return any(c.type == "Ready" and c.status == "True" for c in self.conditions)


@dataclass(frozen=True, slots=True)
class Pod:
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Pod"
    GROUP_KIND: ClassVar[str] = "Pod"
    RESOURCE: ClassVar[str] = "pods"
    NAMESPACED: ClassVar[bool] = True

    metadata: ObjectMeta
    spec: PodSpec = field(default_factory=PodSpec)
    status: PodStatus = field(default_factory=PodStatus)


@dataclass(frozen=True, slots=True)
class PodTemplateSpec:
    """``spec.template`` of a Deployment or ReplicaSet: the Pods it will create."""

    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: PodSpec = field(default_factory=PodSpec)
