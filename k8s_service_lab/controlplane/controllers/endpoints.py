"""The legacy Endpoints controller: one ``v1`` Endpoints object per selector Service.

Upstream ``pkg/controller/endpoint/endpoints_controller.go`` (deprecated API, still served):
ready Pods go to ``addresses``, unready ones to ``notReadyAddresses``, terminating Pods are
left out unless the Service publishes not-ready addresses (then everything is an address);
subsets are repacked so addresses with the same ports share one; more than 1000 addresses are
truncated and annotated::

    >>> from k8s_service_lab.api import ObjectMeta, Pod, Service
    >>> from k8s_service_lab.api.pod import PodCondition, PodSpec, PodStatus
    >>> from k8s_service_lab.api.service import ServicePort, ServiceSpec
    >>> spec = ServiceSpec(selector={"app": "web"}, ports=(ServicePort(80, name="http"),),
    ...                    cluster_ip="10.96.0.9", ip_families=("IPv4",))
    >>> svc = Service(ObjectMeta(name="web", namespace="default"), spec)
    >>> pods = [Pod(ObjectMeta(name=f"web-{i}", namespace="default"), PodSpec(node_name="n1"),
    ...             PodStatus(pod_ip=f"10.244.1.{i}", conditions=(PodCondition("Ready", s),)))
    ...         for i, s in ((1, "True"), (2, "False"))]
    >>> subsets, truncated = endpoint_subsets(svc, pods)
    >>> [a.ip for a in subsets[0].addresses], [a.ip for a in subsets[0].not_ready_addresses]
    (['10.244.1.1'], ['10.244.1.2'])

Where upstream orders ports and subsets by an MD5 of their Go dump, we order them by value
(name, port, protocol; then first address) — the same sets, possibly in another order.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import replace

from k8s_service_lab.api import Endpoints, ObjectMeta, Pod, Service
from k8s_service_lab.api.discovery import EndpointAddress, EndpointPort, EndpointSubset
from k8s_service_lab.api.discovery import ObjectReference as Ref
from k8s_service_lab.api.service import CLUSTER_IP_NONE
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.controlplane.controllers.endpointslice import TriggerTimeTracker
from k8s_service_lab.controlplane.controllers.endpointslice_desired import (
    ANNOTATION_TRIGGER_TIME,
    LABEL_HEADLESS,
    find_port,
    pod_in_endpoints,
    pod_ips,
    should_set_hostname,
)
from k8s_service_lab.controlplane.podindex import PodIndex, service_selector
from k8s_service_lab.controlplane.store import EventType, WatchEvent
from k8s_service_lab.errors import NotFoundError

__all__ = ["ANNOTATION_OVER_CAPACITY", "MAX_CAPACITY", "EndpointsController", "endpoint_subsets"]

ANNOTATION_OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
#: maxCapacity: addresses an Endpoints object holds before truncation.
MAX_CAPACITY = 1000

_PortTuple = tuple[str | None, int | None, str | None, str | None]


def _service_family(service: Service, pod: Pod) -> str:
    """ipFamilies[0]; else the ClusterIP's family; else (headless) the Pod's first IP's."""
    if service.spec.ip_families:
        return service.spec.ip_families[0]
    ip = service.spec.cluster_ip
    if not ip or ip == CLUSTER_IP_NONE:
        ip = pod_ips(pod)[0]
    return "IPv6" if ":" in ip else "IPv4"


def _address(service: Service, pod: Pod) -> EndpointAddress | None:
    """podToEndpointAddressForService: the Pod IP of the Service's family (none ⇒ skipped)."""
    family = _service_family(service, pod)
    ip = next((i for i in pod_ips(pod) if ("IPv6" if ":" in i else "IPv4") == family), None)
    if ip is None:
        return None
    return EndpointAddress(
        ip=ip,
        hostname=pod.spec.hostname if should_set_hostname(pod, service) else None,
        node_name=pod.spec.node_name,
        target_ref=Ref("Pod", pod.metadata.namespace, pod.metadata.name, pod.metadata.uid),
    )


def endpoint_subsets(
    service: Service, pods: Sequence[Pod]
) -> tuple[tuple[EndpointSubset, ...], bool]:
    """The repacked (and, past 1000 addresses, truncated) subsets; and whether truncated."""
    publish = bool(service.spec.publish_not_ready_addresses)
    # address key → (address, ready), and port → address keys offering it (RepackSubsets).
    addresses: dict[tuple[str, str | None], tuple[EndpointAddress, bool]] = {}
    by_port: dict[_PortTuple, set[tuple[str, str | None]]] = {}
    for pod in sorted(pods, key=lambda p: p.metadata.name or ""):
        if not pod_in_endpoints(pod, include_terminating=publish):
            continue
        address = _address(service, pod)
        if address is None:
            continue
        ports: list[_PortTuple] = []
        if not service.spec.ports:
            if service.spec.cluster_ip != CLUSTER_IP_NONE:
                continue
            ports.append((None, None, None, None))  # a headless Service without ports
        for sport in service.spec.ports:
            number = find_port(pod, sport)
            if number is not None:
                ports.append((sport.name, number, sport.protocol or "TCP", sport.app_protocol))
        key = (address.ip, pod.metadata.uid)
        addresses[key] = (address, publish or pod.status.ready)
        for port in ports:
            by_port.setdefault(port, set()).add(key)
    groups: dict[frozenset[tuple[str, str | None]], list[_PortTuple]] = {}
    for port, keys in by_port.items():
        groups.setdefault(frozenset(keys), []).append(port)
    subsets = []
    for group, ports in groups.items():
        members = sorted((addresses[k] for k in group), key=lambda a: (a[0].ip, a[0].target_ref))
        real = sorted((p for p in ports if p[1] is not None), key=lambda p: (p[0] or "", p[1]))
        subsets.append(
            EndpointSubset(
                addresses=tuple(a for a, ready in members if ready),
                not_ready_addresses=tuple(a for a, ready in members if not ready),
                ports=tuple(EndpointPort(n, proto, num, app) for n, num, proto, app in real),
            )
        )
    subsets.sort(key=lambda s: [a.ip for a in s.addresses + s.not_ready_addresses])
    return _truncate(subsets)


def _truncate(subsets: list[EndpointSubset]) -> tuple[tuple[EndpointSubset, ...], bool]:
    """truncateEndpoints: keep 1000, ready first, each subset its proportional share."""
    ready = sum(len(s.addresses) for s in subsets)
    not_ready = sum(len(s.not_ready_addresses) for s in subsets)
    if ready + not_ready <= MAX_CAPACITY:
        return tuple(subsets), False
    cut_ready = ready > MAX_CAPACITY
    limit, total = (MAX_CAPACITY, ready) if cut_ready else (MAX_CAPACITY - ready, not_ready)
    room = limit
    result = []
    for s in subsets:
        count = len(s.addresses) if cut_ready else len(s.not_ready_addresses)
        share = min(math.ceil(count / total * limit), room)
        if cut_ready:
            s = replace(s, addresses=s.addresses[:share], not_ready_addresses=())
            room -= len(s.addresses)
        else:
            s = replace(s, not_ready_addresses=s.not_ready_addresses[:share])
            room -= len(s.not_ready_addresses)
        result.append(s)
    return tuple(result), True


class EndpointsController:
    """Writes ``Endpoints`` named like each selector Service; deletes it with the Service."""

    name: str = "endpoint-controller"
    watches: tuple[str, ...] = ("services", "pods")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.index = PodIndex()
        self._queue: dict[tuple[str, str], None] = {}
        self._tracker = TriggerTimeTracker()
        for pod in client.list(Pod):
            self.index.upsert_pod(pod)
        for svc in client.list(Service):
            self.index.upsert_service(svc)
            self._queue[(svc.metadata.namespace or "default", svc.metadata.name or "")] = None

    def on_event(self, event: WatchEvent) -> None:
        obj = event.object
        deleted = event.type is EventType.DELETED
        if isinstance(obj, Service):
            key = (obj.metadata.namespace or "default", obj.metadata.name or "")
            if deleted:
                self.index.remove_service(*key)
            else:
                self.index.upsert_service(obj)
            self._queue[key] = None
        elif isinstance(obj, Pod):
            ns = obj.metadata.namespace or "default"
            names = self.index.services_for_pod(obj)
            if isinstance(event.old, Pod):
                names |= self.index.services_for_pod(event.old)
            if deleted:
                self.index.remove_pod(ns, obj.metadata.name or "")
            else:
                self.index.upsert_pod(obj)
            for name in sorted(names):
                self._queue[(ns, name)] = None

    def pending(self) -> bool:
        return bool(self._queue)

    def process(self) -> int:
        handled = 0
        while self._queue:
            key = next(iter(self._queue))
            del self._queue[key]
            self.sync(key)
            handled += 1
        return handled

    def sync(self, key: tuple[str, str]) -> None:
        """syncService: write the Endpoints when it differs; delete it with the Service."""
        ns, name = key
        svc = self.index.service(ns, name)
        current = self.client.find(Endpoints, ns, name)
        if svc is None:
            self._tracker.forget(key)
            if current is not None:
                with contextlib.suppress(NotFoundError):
                    self.client.delete(Endpoints, ns, name)
            return
        if svc.spec.type == "ExternalName" or service_selector(svc) is None:
            return
        subsets, truncated = endpoint_subsets(svc, self.index.pods_for_service(svc))
        trigger = self._tracker.compute(svc)
        labels = dict(svc.metadata.labels)
        if not svc.spec.cluster_ip or svc.spec.cluster_ip == CLUSTER_IP_NONE:
            labels[LABEL_HEADLESS] = ""
        else:
            labels.pop(LABEL_HEADLESS, None)
        notes = dict(current.metadata.annotations) if current is not None else {}
        over = notes.get(ANNOTATION_OVER_CAPACITY) == "truncated"
        if current is not None and (current.subsets, current.metadata.labels, over) == (
            subsets,
            labels,
            truncated,
        ):
            return  # nothing to write; upstream skips the no-op update as well
        if trigger is not None:
            notes[ANNOTATION_TRIGGER_TIME] = trigger
        else:
            notes.pop(ANNOTATION_TRIGGER_TIME, None)
        if truncated:
            notes[ANNOTATION_OVER_CAPACITY] = "truncated"
        else:
            notes.pop(ANNOTATION_OVER_CAPACITY, None)
        if current is None:
            meta = ObjectMeta(name=name, namespace=ns, labels=labels, annotations=notes)
            self.client.create(Endpoints(meta, subsets))
        else:
            meta = replace(current.metadata, labels=labels, annotations=notes)
            self.client.update(replace(current, metadata=meta, subsets=subsets))
