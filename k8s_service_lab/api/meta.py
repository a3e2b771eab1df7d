"""Object metadata shared by every resource: ``metadata`` as the apiserver stores it.

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> meta = ObjectMeta(name="web", namespace="default", labels={"app": "web"})
    >>> meta.labels["app"]
    'web'

Fields the server fills in (``uid``, ``resourceVersion``, ``creationTimestamp`` ...) are
``None`` until a control plane stores the object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ObjectMeta", "OwnerReference"]


@dataclass(frozen=True, slots=True)
class OwnerReference:
    """``metadata.ownerReferences[]``: which object owns this one (ReplicaSet → Pod ...)."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """``metadata``: identity, labels and annotations, and what the server records."""

    name: str | None = None
    namespace: str | None = None
    generate_name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    owner_references: tuple[OwnerReference, ...] = ()
    finalizers: tuple[str, ...] = ()
