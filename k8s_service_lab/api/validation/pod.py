"""Pod checks that matter to Service networking (from upstream ``ValidatePodSpec``).

A Service's named ``targetPort`` resolves through container port *names*, and endpoint DNS
names come from a pod's ``hostname``/``subdomain``; so the checks kept here are the ones on
containers, container ports, ``nodeName``, ``hostname``, ``subdomain``, ``nodeSelector``
and host networking, in upstream order::

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.pod import Container, ContainerPort, Pod, PodSpec
    >>> from k8s_service_lab.api.validation.pod import validate_pod
    >>> port = ContainerPort(8080, name="http", protocol="TCP")
    >>> pod = Pod(ObjectMeta(name="web-0", namespace="default"),
    ...           PodSpec(containers=(Container("web", image="nginx", ports=(port, port)),)))
    >>> [str(e) for e in validate_pod(pod)]
    ['spec.containers[0].ports[1].name: Duplicate value: "http"']

Fields the apiserver always defaults (``restartPolicy``, ``dnsPolicy``,
``terminationMessagePolicy``, ``terminationGracePeriodSeconds``) are not in the model, so
their "Required value" errors, unreachable through the v1 API, are not reproduced.
Container port ``protocol`` *is* in the model: leave it ``None`` and you get upstream's
``Required value``, as an undefaulted object would.
"""

from __future__ import annotations

from typing import Final

from k8s_service_lab.api.pod import Container, Pod, PodSpec, PodTemplateSpec
from k8s_service_lab.api.validation.meta import validate_annotations, validate_object_meta
from k8s_service_lab.api.validation.names import (
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns_subdomain,
    validate_dns1123_label,
)
from k8s_service_lab.api.validation.render import go_typed
from k8s_service_lab.field import FieldError, FieldPath, duplicate, invalid, not_supported, required
from k8s_service_lab.labels import validate_labels

__all__ = [
    "validate_container_ports",
    "validate_containers",
    "validate_pod",
    "validate_pod_spec",
    "validate_pod_template",
]

_PROTOCOLS: Final = ("SCTP", "TCP", "UDP")


def validate_container_ports(container: Container, path: FieldPath) -> list[FieldError]:
    """``validateContainerPorts``: names are IANA service names, unique within the container.

    A bad name is not also reported as a duplicate. ``containerPort`` is required (0 is
    "unset"), ``hostPort`` optional; both 1–65535.
    """
    errors: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(container.ports):
        here = path.index(i)
        if port.name:
            problems = is_valid_port_name(port.name)
            if problems:
                errors.extend(invalid(here.child("name"), port.name, d) for d in problems)
            elif port.name in names:
                errors.append(duplicate(here.child("name"), port.name))
            else:
                names.add(port.name)
        if not port.container_port:
            errors.append(required(here.child("containerPort")))
        else:
            errors.extend(
                invalid(here.child("containerPort"), port.container_port, d)
                for d in is_valid_port_num(port.container_port)
            )
        if port.host_port:
            errors.extend(
                invalid(here.child("hostPort"), port.host_port, d)
                for d in is_valid_port_num(port.host_port)
            )
        if not port.protocol:
            errors.append(required(here.child("protocol")))
        elif port.protocol not in _PROTOCOLS:
            errors.append(
                not_supported(here.child("protocol"), go_typed(port.protocol), _PROTOCOLS)
            )
    return errors


def _host_port_conflicts(containers: tuple[Container, ...], path: FieldPath) -> list[FieldError]:
    # checkHostPortConflicts: one hostIP/protocol/hostPort triple per pod (hostIP is "" here).
    errors: list[FieldError] = []
    seen: set[str] = set()
    for c, container in enumerate(containers):
        for p, port in enumerate(container.ports):
            if not port.host_port:
                continue
            key = f"/{port.protocol or ''}/{port.host_port}"
            if key in seen:
                errors.append(
                    duplicate(path.index(c).child("ports").index(p).child("hostPort"), key)
                )
            else:
                seen.add(key)
    return errors


def validate_containers(containers: tuple[Container, ...], path: FieldPath) -> list[FieldError]:
    """``validateContainers`` for regular containers: at least one, names unique labels.

    A container without a name gets ``Required value``; its empty name is then also
    compared with the others, so two nameless containers add a ``Duplicate value: ""``.
    """
    if not containers:
        return [required(path)]
    errors: list[FieldError] = []
    names: set[str] = set()
    for i, container in enumerate(containers):
        here = path.index(i)
        name_path = here.child("name")
        if not container.name:
            errors.append(required(name_path))
        else:
            errors.extend(validate_dns1123_label(container.name, name_path))
        if not container.image:
            errors.append(required(here.child("image")))
        errors.extend(validate_container_ports(container, here.child("ports")))
        if container.name in names:
            errors.append(duplicate(name_path, container.name))
        else:
            names.add(container.name)
    errors.extend(_host_port_conflicts(containers, path))
    return errors


def _host_network_ports(spec: PodSpec, path: FieldPath, resource_is_pod: bool) -> list[FieldError]:
    # validatePodHostNetworkDeps: with hostNetwork the host port *is* the container port.
    errors: list[FieldError] = []
    if not spec.host_network:
        return errors
    for c, container in enumerate(spec.containers):
        for p, port in enumerate(container.ports):
            host, target = port.host_port or 0, port.container_port
            if (resource_is_pod or host != 0) and host != target:
                here = path.child("containers").index(c).child("ports").index(p)
                detail = "must match `containerPort` when `hostNetwork` is true"
                errors.append(invalid(here.child("hostPort"), host, detail))
    return errors


def validate_pod_spec(
    spec: PodSpec, path: FieldPath, *, resource_is_pod: bool = True
) -> list[FieldError]:
    """The networking-relevant part of ``ValidatePodSpec``, in upstream order.

    ``resource_is_pod`` is false for pod templates: there a ``hostPort`` of 0 under
    ``hostNetwork`` is allowed, because it is defaulted when the Pod is created.
    """
    errors = validate_containers(spec.containers, path.child("containers"))
    errors.extend(_host_network_ports(spec, path, resource_is_pod))
    errors.extend(validate_labels(spec.node_selector, path.child("nodeSelector")))
    if spec.node_name:
        errors.extend(
            invalid(path.child("nodeName"), spec.node_name, detail)
            for detail in name_is_dns_subdomain(spec.node_name, False)
        )
    if spec.hostname:
        errors.extend(validate_dns1123_label(spec.hostname, path.child("hostname")))
    if spec.subdomain:
        errors.extend(validate_dns1123_label(spec.subdomain, path.child("subdomain")))
    return errors


def validate_pod(pod: Pod) -> list[FieldError]:
    """``ValidatePodCreate`` (networking part): metadata, then the spec."""
    errors = validate_object_meta(pod.metadata, namespaced=True, name_fn=name_is_dns_subdomain)
    errors.extend(validate_pod_spec(pod.spec, FieldPath.root("spec")))
    return errors


def validate_pod_template(template: PodTemplateSpec, path: FieldPath) -> list[FieldError]:
    """``ValidatePodTemplateSpec``: labels and annotations, then the spec (as a template).

    Upstream reports template labels at ``<path>.labels``, not ``<path>.metadata.labels``.
    """
    errors = validate_labels(template.metadata.labels, path.child("labels"))
    errors.extend(validate_annotations(template.metadata.annotations, path.child("annotations")))
    errors.extend(validate_pod_spec(template.spec, path.child("spec"), resource_is_pod=False))
    return errors
