"""k8s-service-lab: see what a Kubernetes Service really is.

From a YAML manifest to the packet that reaches a pod: label selectors, EndpointSlices,
ClusterIP/NodePort allocation and the rules kube-proxy writes, reproduced as Kubernetes v1.34
does them.

    >>> from k8s_service_lab import parse_selector
    >>> parse_selector("app=web,tier in (fe,be)").matches({"app": "web", "tier": "fe"})
    True
"""

from k8s_service_lab.__about__ import __version__
from k8s_service_lab.errors import (
    AllocationError,
    AlreadyExistsError,
    ConfigError,
    DecodeError,
    NotFoundError,
    PrerequisiteError,
    SelectorError,
    ServiceLabError,
    ValidationError,
)
from k8s_service_lab.labels import Selector, parse_selector

__all__ = [
    "AllocationError",
    "AlreadyExistsError",
    "ConfigError",
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
