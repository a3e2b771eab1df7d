"""Deployments and ReplicaSets (``apps/v1``): what makes the Pods a Service selects.

>>> from k8s_service_lab.api.meta import ObjectMeta
>>> from k8s_service_lab.api.workloads import Deployment, DeploymentSpec
>>> from k8s_service_lab.labels import LabelSelector
>>> d = Deployment(ObjectMeta(name="web", namespace="default"),
...                DeploymentSpec(replicas=3, selector=LabelSelector({"app": "web"})))
>>> d.spec.replicas
3
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.pod import PodTemplateSpec
from k8s_service_lab.labels import LabelSelector

__all__ = [
    "Deployment",
    "DeploymentSpec",
    "DeploymentStrategy",
    "ReplicaSet",
    "ReplicaSetSpec",
    "WorkloadStatus",
]


@dataclass(frozen=True, slots=True)
class DeploymentStrategy:
    """``spec.strategy``; surge and unavailability are ints or percentages (``"25%"``)."""

    type: str | None = None
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec = field(default_factory=PodTemplateSpec)
    strategy: DeploymentStrategy | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None


@dataclass(frozen=True, slots=True)
class WorkloadStatus:
    replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    updated_replicas: int | None = None
    observed_generation: int | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    API_VERSION: ClassVar[str] = "apps/v1"
    KIND: ClassVar[str] = "Deployment"
    GROUP_KIND: ClassVar[str] = "Deployment.apps"
    RESOURCE: ClassVar[str] = "deployments"
    NAMESPACED: ClassVar[bool] = True

    metadata: ObjectMeta
    spec: DeploymentSpec = field(default_factory=DeploymentSpec)
    status: WorkloadStatus = field(default_factory=WorkloadStatus)


@dataclass(frozen=True, slots=True)
class ReplicaSetSpec:
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec = field(default_factory=PodTemplateSpec)
    min_ready_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class ReplicaSet:
    API_VERSION: ClassVar[str] = "apps/v1"
    KIND: ClassVar[str] = "ReplicaSet"
    GROUP_KIND: ClassVar[str] = "ReplicaSet.apps"
    RESOURCE: ClassVar[str] = "replicasets"
    NAMESPACED: ClassVar[bool] = True

    metadata: ObjectMeta
    spec: ReplicaSetSpec = field(default_factory=ReplicaSetSpec)
    status: WorkloadStatus = field(default_factory=WorkloadStatus)
