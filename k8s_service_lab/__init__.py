"""k8s-service-lab: see what a Kubernetes Service really is.

From a YAML manifest to the packet that reaches a pod: label selectors, EndpointSlices,
ClusterIP/NodePort allocation and the rules kube-proxy writes, reproduced as Kubernetes v1.34
does them.

    >>> from k8s_service_lab import parse_selector
    >>> parse_selector("app=web,tier in (fe,be)").matches({"app": "web", "tier": "fe"})
    True
"""

import typing as _typing

from k8s_service_lab.__about__ import __version__
from k8s_service_lab.errors import (
    AllocationError,
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    DecodeError,
    NotFoundError,
    PrerequisiteError,
    SelectorError,
    ServiceLabError,
    ValidationError,
)
from k8s_service_lab.labels import Selector, parse_selector

if _typing.TYPE_CHECKING:
    from k8s_service_lab.cluster import ApplyError, Cluster


def __getattr__(name: str) -> object:
    # The cluster pulls in YAML and the whole control plane; import it on first use so that
    # ``ksl --help`` (which imports this package) stays fast.
    if name in ("Cluster", "ApplyError"):
        from k8s_service_lab import cluster

        return getattr(cluster, name)
    raise AttributeError(f"module 'k8s_service_lab' has no attribute {name!r}")


__all__ = [
    "AllocationError",
    "AlreadyExistsError",
    "ApplyError",
    "Cluster",
    "ConfigError",
    "ConflictError",
    "DecodeError",
    "NotFoundError",
    "PrerequisiteError",
    "Selector",
    "SelectorError",
    "ServiceLabError",
    "ValidationError",
    "__version__",
    "parse_selector",
]
