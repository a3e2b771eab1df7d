"""The garbage collector: when an owner goes, so do the objects it owns.

``kubectl delete deployment web`` deletes one object; everything else goes because of
``metadata.ownerReferences`` — the ReplicaSets name the Deployment as owner, the pods name
their ReplicaSet, an EndpointSlice names its Service. The garbage collector
(``pkg/controller/garbagecollector``) watches deletions and deletes dependents whose owners
are all gone, which in turn frees *their* dependents: kubectl's default "background"
propagation. Pods deleted this way terminate gracefully, as any pod delete does.

    >>> from k8s_service_lab import Cluster
    >>> cluster = Cluster()
    >>> _ = cluster.apply('''
    ... apiVersion: apps/v1
    ... kind: Deployment
    ... metadata: {name: web}
    ... spec:
    ...   replicas: 2
    ...   selector: {matchLabels: {app: web}}
    ...   template:
    ...     metadata: {labels: {app: web}}
    ...     spec: {containers: [{name: web, image: nginx}]}
    ... ''')
    >>> _ = cluster.delete("deployments", "web")
    >>> cluster.list("replicasets"), [p.metadata.name for p in cluster.list("pods")
    ...     if p.metadata.deletion_timestamp is None]
    ([], [])

An object with several owners stays while any of them exists (the real collector also
removes the dangling reference; the model leaves it, which changes nothing it computes).
"""

from __future__ import annotations

from collections import defaultdict

from k8s_service_lab.api import KINDS, Resource
from k8s_service_lab.api.meta import OwnerReference
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.controlplane.store import EventType, WatchEvent
from k8s_service_lab.errors import NotFoundError

__all__ = ["GarbageCollector"]


class GarbageCollector:
    """Deletes the dependents of deleted objects (background propagation)."""

    name: str = "garbage-collector"
    watches: tuple[str, ...] = tuple(sorted({cls.RESOURCE for cls in KINDS.values()}))

    def __init__(self, client: Client) -> None:
        self.client = client
        self._gone: dict[str, None] = {}  # uids of deleted owners, in deletion order

    def on_event(self, event: WatchEvent) -> None:
        uid = event.object.metadata.uid
        if event.type is EventType.DELETED and uid:
            self._gone[uid] = None

    def pending(self) -> bool:
        return bool(self._gone)

    def process(self) -> int:
        gone = list(self._gone)
        self._gone.clear()
        dependents = self._dependents()
        for uid in gone:
            for obj in dependents.get(uid, ()):
                meta = obj.metadata
                if meta.deletion_timestamp is not None:
                    continue  # already terminating
                refs = meta.owner_references
                if any(ref.uid != uid and self._exists(ref, meta.namespace) for ref in refs):
                    continue
                cls = type(obj)
                try:
                    self.client.delete(
                        cls, meta.namespace if cls.NAMESPACED else None, meta.name or ""
                    )
                except NotFoundError:  # its own controller got there first
                    continue
        return len(gone)

    def _dependents(self) -> dict[str, list[Resource]]:
        """Owner uid -> the objects that name it, over every kind (one pass per round)."""
        index: dict[str, list[Resource]] = defaultdict(list)
        for cls in KINDS.values():
            for obj in self.client.list(cls):
                for ref in obj.metadata.owner_references:
                    index[ref.uid].append(obj)
        return index

    def _exists(self, ref: OwnerReference, namespace: str | None) -> bool:
        cls = next((c for c in KINDS.values() if ref.kind == c.KIND), None)
        if cls is None:
            return False
        owner = self.client.find(cls, namespace if cls.NAMESPACED else None, ref.name)
        return owner is not None and owner.metadata.uid == ref.uid
