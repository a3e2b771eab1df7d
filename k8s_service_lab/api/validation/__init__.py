"""What a v1.34 apiserver refuses, in its own words: validation for every modelled kind.

:func:`validate` returns every field error of a create, :func:`validate_update` those of an
update, and :func:`check` raises the :class:`~k8s_service_lab.errors.ValidationError` the
apiserver would answer with (HTTP 422)::

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> from k8s_service_lab.api.validation import check
    >>> svc = Service(ObjectMeta(name="s", namespace="default"), ServiceSpec(
    ...     type="ClusterIP", session_affinity="None", internal_traffic_policy="Cluster",
    ...     cluster_ip="10.96.0.10", cluster_ips=("10.96.0.10",), ip_families=("IPv4",),
    ...     ip_family_policy="SingleStack",
    ...     ports=(ServicePort(port=80, protocol="HTTP", target_port=80),)))
    >>> try:
    ...     check(svc)
    ... except ValidationError as err:
    ...     print(err)  # doctest: +NORMALIZE_WHITESPACE
    Service "s" is invalid: spec.ports[0].protocol: Unsupported value: "HTTP":
        supported values: "SCTP", "TCP", "UDP"

Inputs are expected in the shape the apiserver validates: after v1 defaulting and, for
Services, after cluster IPs and node ports were allocated (allocation errors come earlier
and alone; they are the allocators' business). Validation still answers for any input, with
what upstream would say about it.

One module per kind: :mod:`.service` (with :mod:`.service_ips`, :mod:`.service_traffic`
and :mod:`.service_update`), :mod:`.pod`, :mod:`.workloads`, :mod:`.discovery`,
:mod:`.node`; shared pieces in :mod:`.meta` (``metadata``), :mod:`.names` (formats, ports,
IPs), :mod:`.ipparse` (Go's forgiving IP parser) and :mod:`.render` (Go's JSON rendering of
bad values).
"""

from __future__ import annotations

from dataclasses import replace

from k8s_service_lab.api import Resource
from k8s_service_lab.api.discovery import Endpoints, EndpointSlice
from k8s_service_lab.api.node import Namespace, Node
from k8s_service_lab.api.pod import Pod
from k8s_service_lab.api.service import Service
from k8s_service_lab.api.validation.discovery import (
    validate_endpoint_slice,
    validate_endpoint_slice_update,
    validate_endpoints,
)
from k8s_service_lab.api.validation.meta import validate_object_meta_update
from k8s_service_lab.api.validation.node import validate_namespace, validate_node
from k8s_service_lab.api.validation.pod import validate_pod, validate_pod_spec
from k8s_service_lab.api.validation.service import validate_service
from k8s_service_lab.api.validation.service_update import (
    validate_service_status,
    validate_service_update,
)
from k8s_service_lab.api.validation.workloads import (
    validate_deployment,
    validate_deployment_update,
    validate_replica_set,
    validate_replica_set_update,
)
from k8s_service_lab.api.workloads import Deployment, ReplicaSet
from k8s_service_lab.errors import ValidationError
from k8s_service_lab.field import FieldError, FieldPath

__all__ = [
    "check",
    "check_update",
    "validate",
    "validate_deployment",
    "validate_endpoint_slice",
    "validate_endpoints",
    "validate_namespace",
    "validate_node",
    "validate_pod",
    "validate_replica_set",
    "validate_service",
    "validate_service_status",
    "validate_service_update",
    "validate_update",
]


def validate(resource: Resource) -> list[FieldError]:
    """Every field error the apiserver reports when ``resource`` is created.

    For cluster-scoped kinds (Node, Namespace) a ``metadata.namespace`` is ignored, as the
    apiserver clears it before validating.
    """
    if isinstance(resource, Service):
        return validate_service(resource)
    if isinstance(resource, Pod):
        return validate_pod(resource)
    if isinstance(resource, Deployment):
        return validate_deployment(resource)
    if isinstance(resource, ReplicaSet):
        return validate_replica_set(resource)
    if isinstance(resource, EndpointSlice):
        return validate_endpoint_slice(resource)
    if isinstance(resource, Endpoints):
        return validate_endpoints(resource)
    if isinstance(resource, Node):
        return validate_node(replace(resource, metadata=replace(resource.metadata, namespace=None)))
    if isinstance(resource, Namespace):
        return validate_namespace(
            replace(resource, metadata=replace(resource.metadata, namespace=None))
        )
    raise TypeError(f"no validation for {type(resource).__name__}")


def validate_update(new: Resource, old: Resource) -> list[FieldError]:
    """Every field error the apiserver reports when ``old`` is updated to ``new``.

    Services, EndpointSlices, Deployments and ReplicaSets get their kind's update rules.
    Pods, Nodes, Namespaces and Endpoints get the metadata update rules plus their create
    checks on the new object (a Pod's "spec is immutable" rule is not modelled).
    """
    if type(new) is not type(old):
        raise TypeError(f"cannot update a {type(old).__name__} into a {type(new).__name__}")
    if isinstance(new, Service) and isinstance(old, Service):
        return validate_service_update(new, old)
    if isinstance(new, EndpointSlice) and isinstance(old, EndpointSlice):
        return validate_endpoint_slice_update(new, old)
    if isinstance(new, Deployment) and isinstance(old, Deployment):
        return validate_deployment_update(new, old)
    if isinstance(new, ReplicaSet) and isinstance(old, ReplicaSet):
        return validate_replica_set_update(new, old)
    errors = validate_object_meta_update(new.metadata, old.metadata)
    if isinstance(new, Pod):
        errors.extend(validate_pod_spec(new.spec, FieldPath.root("spec")))
        return errors
    errors.extend(e for e in validate(new) if not str(e.path).startswith("metadata."))
    return errors


def _name(resource: Resource) -> str:
    return resource.metadata.name or resource.metadata.generate_name or ""


def check(resource: Resource) -> None:
    """Raise the apiserver's ``ValidationError`` if creating ``resource`` would be refused."""
    errors = validate(resource)
    if errors:
        raise ValidationError(type(resource).GROUP_KIND, _name(resource), errors)


def check_update(new: Resource, old: Resource) -> None:
    """Raise the apiserver's ``ValidationError`` if the update would be refused."""
    errors = validate_update(new, old)
    if errors:
        raise ValidationError(type(new).GROUP_KIND, _name(new), errors)
