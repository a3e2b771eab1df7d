"""Typed, frozen Kubernetes resources and the way in and out of them.

    >>> from k8s_service_lab.api import KINDS
    >>> KINDS[("v1", "Service")].__name__
    'Service'

Submodules: :mod:`~k8s_service_lab.api.meta` (metadata), ``service``, ``pod``, ``node``,
``workloads``, ``discovery`` (the resources); ``decode`` / ``encode`` (YAML, dicts and
``kubernetes`` client objects in and out), ``defaults`` (what the apiserver fills in) and
``validation`` (what it refuses, in its own words).
"""

from __future__ import annotations

from typing import TypeAlias

from k8s_service_lab.api.discovery import Endpoints, EndpointSlice
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.node import Namespace, Node
from k8s_service_lab.api.pod import Pod
from k8s_service_lab.api.service import Service
from k8s_service_lab.api.workloads import Deployment, ReplicaSet

__all__ = [
    "KINDS",
    "Deployment",
    "EndpointSlice",
    "Endpoints",
    "Namespace",
    "Node",
    "ObjectMeta",
    "Pod",
    "ReplicaSet",
    "Resource",
    "Service",
]

#: Any resource this library models.
Resource: TypeAlias = (
    Service | Pod | Node | Namespace | Deployment | ReplicaSet | EndpointSlice | Endpoints
)

#: ``(apiVersion, kind)`` → resource class: the kinds a manifest may hold.
KINDS: dict[tuple[str, str], type[Resource]] = {
    (cls.API_VERSION, cls.KIND): cls
    for cls in (Service, Pod, Node, Namespace, Deployment, ReplicaSet, EndpointSlice, Endpoints)
}
