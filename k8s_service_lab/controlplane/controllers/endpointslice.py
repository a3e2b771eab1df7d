"""The EndpointSlice controller: which events queue which Services, and how a sync is written.

kube-controller-manager's ``endpointslice-controller.k8s.io`` (upstream
``pkg/controller/endpointslice/endpointslice_controller.go``): Service events queue that
Service; Pod events queue the Services whose selector matches the Pod before or after the
change (found through :class:`~k8s_service_lab.controlplane.podindex.PodIndex`, never by
scanning every Service); a sync plans with
:func:`~k8s_service_lab.controlplane.controllers.endpointslice_reconcile.plan_slices` and
writes the plan::

    >>> import random
    >>> from k8s_service_lab.api import EndpointSlice, ObjectMeta, Service
    >>> from k8s_service_lab.api.service import ServicePort, ServiceSpec
    >>> from k8s_service_lab.controlplane.controllers import ControllerManager
    >>> from k8s_service_lab.controlplane.store import Store
    >>> store = Store()
    >>> manager = ControllerManager(store, [EndpointSliceController(store, rng=random.Random(1))])
    >>> _ = store.create(Service(ObjectMeta(name="web", namespace="default"),
    ...     ServiceSpec(selector={"app": "web"}, ports=(ServicePort(80),), ip_families=("IPv4",))))
    >>> manager.run_until_idle()
    1
    >>> [(s.metadata.name, len(s.endpoints)) for s in store.list(EndpointSlice)]
    [('web-gx87d', 0)]

Pods whose Node is unknown are left out and the Service is retried once a Node event arrives
(upstream requeues with backoff). Node additions, deletions and zone-label changes resync the
Services of that Node's Pods, so endpoint zones stay current.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace

from k8s_service_lab.api import EndpointSlice, Node, Pod, Service
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.controlplane.controllers.endpointslice_desired import (
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_ZONE,
    pod_ips,
)
from k8s_service_lab.controlplane.controllers.endpointslice_reconcile import (
    DEFAULT_MAX_ENDPOINTS_PER_SLICE,
    plan_slices,
)
from k8s_service_lab.controlplane.podindex import PodIndex, service_selector
from k8s_service_lab.controlplane.store import EventType, WatchEvent
from k8s_service_lab.errors import AlreadyExistsError, NotFoundError

__all__ = ["EndpointSliceController", "TriggerTimeTracker", "generate_name", "pod_changed"]

#: apimachinery ``util/rand``: no vowels (no words), no look-alikes (0/o, 1/l).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
#: ``names.SimpleNameGenerator``: base cut to 58 so base + 5 characters fit 63.
MAX_GENERATED_BASE = 58
#: ``(namespace, name)``.
ServiceKey = tuple[str, str]


def generate_name(base: str, rng: random.Random) -> str:
    """What the apiserver makes of ``metadata.generateName``: base + 5 random characters."""
    return base[:MAX_GENERATED_BASE] + "".join(rng.choice(NAME_ALPHABET) for _ in range(5))


def pod_changed(old: Pod, new: Pod) -> tuple[bool, bool]:
    """podEndpointsChanged: (endpoint may change, Service membership may change).

    Upstream compares deletionTimestamp, readiness and IPs; we also compare phase, node and
    container ports (fields a model user may rewrite freely, unlike on a real kubelet).
    """
    labels_changed = dict(old.metadata.labels) != dict(new.metadata.labels) or (
        old.spec.hostname,
        old.spec.subdomain,
    ) != (new.spec.hostname, new.spec.subdomain)
    changed = (
        old.metadata.deletion_timestamp != new.metadata.deletion_timestamp
        or old.status.ready != new.status.ready
        or pod_ips(old) != pod_ips(new)
        or old.status.phase != new.status.phase
        or old.spec.node_name != new.spec.node_name
        or old.spec.containers != new.spec.containers
    )
    return changed, labels_changed


class TriggerTimeTracker:
    """util/trigger_time_tracker.go: the ``last-change-trigger-time`` a sync should stamp.

    A Service's first sync reports its creationTimestamp; later syncs report the earliest
    trigger that changed since the last one. Pod triggers are the Ready condition's
    lastTransitionTime, which the Pod model does not record, so later syncs report none and
    the annotation is removed — as upstream does for Pods without that time.
    """

    def __init__(self) -> None:
        self._seen: dict[ServiceKey, str | None] = {}

    def compute(self, service: Service) -> str | None:
        key = (service.metadata.namespace or "default", service.metadata.name or "")
        created = service.metadata.creation_timestamp
        known = key in self._seen
        previous = self._seen.get(key)
        self._seen[key] = created
        if not known:
            return created
        if created is not None and (previous is None or created > previous):
            return created
        return None

    def forget(self, key: ServiceKey) -> None:
        self._seen.pop(key, None)


class EndpointSliceController:
    """Keeps every selector Service's EndpointSlices in step with its Pods."""

    name: str = CONTROLLER_NAME
    watches: tuple[str, ...] = ("services", "pods", "nodes", "endpointslices")

    def __init__(
        self,
        client: Client,
        *,
        rng: random.Random,
        max_endpoints_per_slice: int = DEFAULT_MAX_ENDPOINTS_PER_SLICE,
    ) -> None:
        if not 1 <= max_endpoints_per_slice <= 1000:
            raise ValueError("max_endpoints_per_slice must be between 1 and 1000")
        self.client = client
        self.rng = rng
        self.max_endpoints_per_slice = max_endpoints_per_slice
        self.index = PodIndex()
        self.nodes: dict[str, Node] = {}
        self._slices: dict[ServiceKey, dict[str, EndpointSlice]] = {}
        self._queue: dict[ServiceKey, None] = {}
        self._retry: set[ServiceKey] = set()
        self._tracker = TriggerTimeTracker()
        self._writing = False
        # The informers' initial list: whatever the client already holds.
        for node in client.list(Node):
            self.nodes[node.metadata.name or ""] = node
        for pod in client.list(Pod):
            self.index.upsert_pod(pod)
        for eps in client.list(EndpointSlice):
            self._remember_slice(eps)
        for svc in client.list(Service):
            self.index.upsert_service(svc)
            self._queue[_key(svc)] = None

    # -- events --------------------------------------------------------------------------

    def on_event(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Service):
            self._on_service(event, obj)
        elif isinstance(obj, Pod):
            self._on_pod(event, obj)
        elif isinstance(obj, Node):
            self._on_node(event, obj)
        elif isinstance(obj, EndpointSlice):
            self._on_slice(event, obj)

    def _on_service(self, event: WatchEvent, svc: Service) -> None:
        if event.type is EventType.DELETED:
            self.index.remove_service(*_key(svc))
        else:
            self.index.upsert_service(svc)
        self._queue[_key(svc)] = None

    def _on_pod(self, event: WatchEvent, pod: Pod) -> None:
        ns = pod.metadata.namespace or "default"
        old = event.old if isinstance(event.old, Pod) else None
        if event.type is EventType.DELETED:
            self.index.remove_pod(ns, pod.metadata.name or "")
            names = self.index.services_for_pod(pod)
        else:
            self.index.upsert_pod(pod)
            names = self.index.services_for_pod(pod)
            if event.type is EventType.MODIFIED and old is not None:
                changed, labels_changed = pod_changed(old, pod)
                if not changed and not labels_changed:
                    return
                if labels_changed:
                    before = self.index.services_for_labels(ns, old.metadata.labels)
                    # determineNeededServiceUpdates: all of both, or only those that differ.
                    names = names | before if changed else names ^ before
        for name in sorted(names):
            self._queue[(ns, name)] = None

    def _on_node(self, event: WatchEvent, node: Node) -> None:
        name = node.metadata.name or ""
        old = self.nodes.get(name)
        if event.type is EventType.DELETED:
            self.nodes.pop(name, None)
        else:
            self.nodes[name] = node
            if old is not None and old.metadata.labels.get(LABEL_ZONE) == node.metadata.labels.get(
                LABEL_ZONE
            ):
                return
        for pod in self.index.pods_on_node(name):
            for svc in sorted(self.index.services_for_pod(pod)):
                self._queue[(pod.metadata.namespace or "default", svc)] = None
        for key in sorted(self._retry):
            self._queue[key] = None

    def _on_slice(self, event: WatchEvent, eps: EndpointSlice) -> None:
        if isinstance(event.old, EndpointSlice):
            self._forget_slice(event.old)  # its service-name label may have moved
        if event.type is EventType.DELETED:
            self._forget_slice(eps)
        else:
            self._remember_slice(eps)
        if self._writing:
            return  # our own write coming back through the watch
        owner = eps.metadata.labels.get(LABEL_SERVICE_NAME)
        if owner is not None and eps.metadata.labels.get(LABEL_MANAGED_BY) == CONTROLLER_NAME:
            self._queue[(eps.metadata.namespace or "default", owner)] = None

    def _remember_slice(self, eps: EndpointSlice) -> None:
        labels = eps.metadata.labels
        owner = labels.get(LABEL_SERVICE_NAME)
        if owner is None or labels.get(LABEL_MANAGED_BY) != CONTROLLER_NAME:
            self._forget_slice(eps)
            return
        key = (eps.metadata.namespace or "default", owner)
        self._slices.setdefault(key, {})[eps.metadata.name or ""] = eps

    def _forget_slice(self, eps: EndpointSlice) -> None:
        owner = eps.metadata.labels.get(LABEL_SERVICE_NAME)
        key = (eps.metadata.namespace or "default", owner or "")
        self._slices.get(key, {}).pop(eps.metadata.name or "", None)

    # -- work ----------------------------------------------------------------------------

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

    def slices_for(self, namespace: str, service: str) -> list[EndpointSlice]:
        """The managed slices this controller sees for a Service, by name."""
        found = self._slices.get((namespace, service), {})
        return [found[n] for n in sorted(found)]

    def sync(self, key: ServiceKey) -> None:
        """syncService for one ``(namespace, name)``."""
        svc = self.index.service(*key)
        self._retry.discard(key)
        if svc is None:
            # Garbage collection removes the owned slices; the controller only forgets.
            self._tracker.forget(key)
            return
        if svc.spec.type == "ExternalName" or service_selector(svc) is None:
            return  # slices of a former selector stay, as upstream (kubernetes#25837)
        pods = self.index.pods_for_service(svc)
        existing = [s for s in self.slices_for(*key) if s.metadata.deletion_timestamp is None]
        plan = plan_slices(
            svc,
            pods,
            self.nodes,
            existing,
            max_endpoints_per_slice=self.max_endpoints_per_slice,
            trigger_time=self._tracker.compute(svc),
        )
        if plan.errors:
            self._retry.add(key)
        self._writing = True
        try:
            if svc.metadata.deletion_timestamp is None:
                for eps in plan.create:
                    self._remember_slice(self._create(eps))
            for eps in plan.update:
                self._remember_slice(self.client.update(eps))
            for eps in plan.delete:
                # deleteEndpointSlice tolerates slices already gone.
                with contextlib.suppress(NotFoundError):
                    self.client.delete(
                        EndpointSlice, eps.metadata.namespace, eps.metadata.name or ""
                    )
                self._forget_slice(eps)
        finally:
            self._writing = False

    def _create(self, eps: EndpointSlice) -> EndpointSlice:
        base = eps.metadata.generate_name or ""
        while True:
            named = replace(eps, metadata=replace(eps.metadata, name=generate_name(base, self.rng)))
            try:
                return self.client.create(named)
            except AlreadyExistsError:
                continue  # the apiserver would answer 409 and the controller retry


def _key(obj: Service) -> ServiceKey:
    return (obj.metadata.namespace or "default", obj.metadata.name or "")
