"""What DELETE does, kind by kind: graceful Pods, cascading Namespaces, Service clean-up.

- **Pods** are deleted *gracefully* (``pkg/registry/core/pod/strategy.go``
  ``CheckGracefulDelete`` and the generic ``rest.BeforeDelete``): the first delete only sets
  ``metadata.deletionTimestamp`` = now + grace and ``deletionGracePeriodSeconds`` (a MODIFIED
  event — the moment EndpointSlices mark the endpoint terminating). The grace period is the
  request's, else ``spec.terminationGracePeriodSeconds``, else 0; it is 0 for a Pod never
  scheduled or already finished. A later delete may only *shorten* it; grace 0 removes the Pod.
  :meth:`Deleter.finalize` removes Pods whose time is up, as the kubelet confirms.
- **Services** give back every ClusterIP and NodePort, and take their same-named legacy
  ``Endpoints`` object with them (the storage's ``afterDelete``).
- **Namespaces** take everything in them.

    >>> import random
    >>> from k8s_service_lab.allocators.service import ServiceAllocations
    >>> from k8s_service_lab.api import Namespace, ObjectMeta, Pod
    >>> from k8s_service_lab.api.pod import PodSpec
    >>> from k8s_service_lab.config import ClusterConfig
    >>> from k8s_service_lab.controlplane.deletion import Deleter
    >>> from k8s_service_lab.controlplane.store import Store
    >>> store = Store()
    >>> deleter = Deleter(store, ServiceAllocations(ClusterConfig.default(), random.Random(0)))
    >>> _ = store.create(Pod(ObjectMeta(name="p", namespace="default"),
    ...                      PodSpec(node_name="kind-worker", termination_grace_period_seconds=30)))
    >>> deleter.delete(Pod, "default", "p", None).metadata.deletion_timestamp
    '2026-01-01T00:00:30Z'
    >>> _ = store.clock.advance(30)
    >>> [p.metadata.name for p in deleter.finalize()], store.find(Pod, "default", "p")
    (['p'], None)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

from k8s_service_lab.allocators.service import ServiceAllocations
from k8s_service_lab.api import KINDS, Endpoints, Namespace, Pod, Resource, Service
from k8s_service_lab.controlplane.store import Store

__all__ = ["Deleter", "parse_timestamp"]

R = TypeVar("R", bound=Resource)

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: Pod phases after which there is nothing left to stop: deleted at once.
_FINISHED = ("Succeeded", "Failed")


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 ``metadata`` timestamp (UTC, whole seconds) as a datetime."""
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)


class Deleter:
    """Deletes through ``store``, giving Service allocations back to ``allocations``."""

    def __init__(self, store: Store, allocations: ServiceAllocations) -> None:
        self.store = store
        self.allocations = allocations

    def delete(
        self, kind: type[R], namespace: str | None, name: str, grace_period_seconds: int | None
    ) -> R:
        """Delete (or, for a Pod, start deleting) one object; ``NotFoundError`` if absent."""
        obj = self.store.get(kind, namespace, name)
        if isinstance(obj, Pod):
            return cast(R, self._delete_pod(obj, grace_period_seconds))
        if isinstance(obj, Namespace):
            self._empty_namespace(name)
        deleted = self.store.delete(kind, namespace, name)
        if isinstance(deleted, Service):
            self._after_service_delete(deleted)
        return deleted

    def finalize(self, now: datetime | None = None) -> list[Resource]:
        """Remove every Pod whose ``deletionTimestamp`` has come (``now`` or the clock's time)."""
        now = now if now is not None else self.store.clock.now()
        removed: list[Resource] = []
        for pod in self.store.list(Pod):
            stamp = pod.metadata.deletion_timestamp
            if stamp is not None and parse_timestamp(stamp) <= now and not pod.metadata.finalizers:
                removed.append(
                    self.store.delete(Pod, pod.metadata.namespace, pod.metadata.name or "")
                )
        return removed

    def _delete_pod(self, pod: Pod, requested: int | None) -> Pod:
        meta = pod.metadata
        grace = requested
        if grace is None:
            grace = pod.spec.termination_grace_period_seconds or 0
        if not pod.spec.node_name or pod.status.phase in _FINISHED:
            grace = 0  # nothing runs that would need time to stop
        if meta.deletion_timestamp is not None:
            current = meta.deletion_grace_period_seconds
            if current and grace < current:  # a later delete may only shorten the wait
                stamp = parse_timestamp(meta.deletion_timestamp) + timedelta(
                    seconds=grace - current
                )
                meta = replace(
                    meta,
                    deletion_timestamp=stamp.strftime(_FORMAT),
                    deletion_grace_period_seconds=grace,
                )
            elif current:
                return pod  # graceful deletion is already pending: nothing changes
            else:
                grace = 0  # marked with no grace left: finish it now
        else:
            stamp = self.store.clock.now() + timedelta(seconds=grace)
            meta = replace(
                meta,
                deletion_timestamp=stamp.strftime(_FORMAT),
                deletion_grace_period_seconds=grace,
            )
        if grace == 0 and not meta.finalizers:
            return self.store.delete(Pod, meta.namespace, meta.name or "")
        return self.store.update(replace(pod, metadata=meta))

    def _after_service_delete(self, svc: Service) -> None:
        """Upstream ``afterDelete``: the same-named Endpoints go too; allocations go back."""
        namespace, name = svc.metadata.namespace, svc.metadata.name or ""
        if self.store.find(Endpoints, namespace, name) is not None:
            self.store.delete(Endpoints, namespace, name)
        self.allocations.release(svc)

    def _empty_namespace(self, namespace: str) -> None:
        """What the namespace controller does before the Namespace itself goes."""
        kinds = sorted({cls for cls in KINDS.values() if cls.NAMESPACED}, key=lambda c: c.RESOURCE)
        # Services first, so their Endpoints are removed by the Service hook.
        kinds.sort(key=lambda c: c is not Service)
        for kind in kinds:
            for obj in self.store.list(kind, namespace):
                name = obj.metadata.name or ""
                if self.store.find(kind, namespace, name) is None:
                    continue
                deleted = self.store.delete(kind, namespace, name)
                if isinstance(deleted, Service):
                    self._after_service_delete(deleted)
