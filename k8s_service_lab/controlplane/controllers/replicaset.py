"""The ReplicaSet controller: keep ``spec.replicas`` pods alive, no more, no fewer.

Pods are made from ``spec.template`` with ``generateName: <replicaset>-`` (so they are named
``<replicaset>-<5 chars>``) and a controller owner reference to the ReplicaSet; extras are
deleted in the order upstream's ``ActivePodsWithRanks`` ranks them (unscheduled before
scheduled, pending before running, not ready before ready, crowded nodes first, newer before
older); terminating pods no longer count, so a deleted pod is replaced at once::

    >>> import random
    >>> from k8s_service_lab.api import ObjectMeta, Pod, ReplicaSet
    >>> from k8s_service_lab.api.workloads import ReplicaSetSpec
    >>> from k8s_service_lab.controlplane.controllers.replicaset import ReplicaSetController
    >>> from k8s_service_lab.controlplane.store import Store
    >>> store = Store()
    >>> _ = store.create(ReplicaSet(ObjectMeta(name="web-7d4b9c6f5", namespace="default"),
    ...                             ReplicaSetSpec(replicas=2)))
    >>> rsc = ReplicaSetController(store, random.Random(0))
    >>> rsc.enqueue_all()
    >>> _ = rsc.process()
    >>> [p.metadata.name for p in store.list(Pod)]
    ['web-7d4b9c6f5-q7rcl', 'web-7d4b9c6f5-vtq89']

Deleting a ReplicaSet deletes its pods, as the garbage collector does for dependents.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from k8s_service_lab.api.meta import ObjectMeta, OwnerReference
from k8s_service_lab.api.pod import Pod
from k8s_service_lab.api.workloads import Deployment, ReplicaSet, WorkloadStatus
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.controlplane.names import generate_name
from k8s_service_lab.controlplane.store import EventType, WatchEvent
from k8s_service_lab.errors import AlreadyExistsError

__all__ = [
    "ReplicaSetController",
    "controller_ref",
    "deletion_order",
    "is_active",
    "owned_by",
]

Key = tuple[str, str]
#: How many times a generated name is retried on collision (the apiserver retries too).
NAME_RETRIES = 8
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def controller_ref(owner: ReplicaSet | Deployment) -> OwnerReference:
    """The owner reference a controller puts on what it creates (controller, blocking)."""
    meta = owner.metadata
    assert meta.uid is not None, "owner must be stored"
    assert meta.name is not None
    return OwnerReference(
        api_version=type(owner).API_VERSION,
        kind=type(owner).KIND,
        name=meta.name,
        uid=meta.uid,
        controller=True,
        block_owner_deletion=True,
    )


def owned_by(meta: ObjectMeta, uid: str | None) -> bool:
    """True when ``uid`` is the object's controlling owner."""
    return uid is not None and any(r.controller and r.uid == uid for r in meta.owner_references)


def is_active(pod: Pod) -> bool:
    """``controller.IsPodActive``: not terminal and not being deleted."""
    return pod.status.phase not in ("Succeeded", "Failed") and (
        pod.metadata.deletion_timestamp is None
    )


def _age_bucket(pod: Pod, now: datetime) -> int:
    # LogarithmicScaleDown: creation times compare on a log2 scale of age, so pods of about
    # the same age tie and the (random) uid decides, spreading deletions across nodes.
    created = pod.metadata.creation_timestamp
    if created is None:
        return 0
    when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    age = max((now - when).total_seconds(), 0.0)
    return int(math.log2(age)) if age >= 1 else 0


def deletion_order(pods: Iterable[Pod], now: datetime) -> list[Pod]:
    """Pods most deserving of deletion first (``ActivePodsWithRanks.Less``, simplified).

    Ranks: no node < node; Pending < Unknown < Running; not ready < ready; more pods of the
    same set on the pod's node first; younger (log2 age bucket) first; then uid.
    """
    pods = list(pods)
    per_node: dict[str, int] = {}
    for pod in pods:
        if pod.spec.node_name is not None:
            per_node[pod.spec.node_name] = per_node.get(pod.spec.node_name, 0) + 1

    def rank(pod: Pod) -> tuple[int, int, int, int, int, str]:
        return (
            0 if pod.spec.node_name is None else 1,
            _PHASE_RANK.get(pod.status.phase or "Pending", 0),
            1 if pod.status.ready else 0,
            -per_node.get(pod.spec.node_name or "", 0),
            _age_bucket(pod, now),
            pod.metadata.uid or "",
        )

    return sorted(pods, key=rank)


def _key(obj: ReplicaSet | Pod) -> Key:
    return (obj.metadata.namespace or "", str(obj.metadata.name))


class ReplicaSetController:
    """``replicaset-controller`` of kube-controller-manager."""

    name: str = "replicaset-controller"
    watches: tuple[str, ...] = ("replicasets", "pods")

    def __init__(self, client: Client, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self._queue: dict[Key, None] = {}
        self._orphaned: list[tuple[str, str]] = []  # (namespace, uid) of deleted sets

    # -- Controller protocol ---------------------------------------------------------------

    def on_event(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, ReplicaSet):
            if event.type is EventType.DELETED:
                self._orphaned.append((obj.metadata.namespace or "", obj.metadata.uid or ""))
            else:
                self._queue[_key(obj)] = None
        elif isinstance(obj, Pod):
            for ref in obj.metadata.owner_references:
                if ref.controller and ref.kind == ReplicaSet.KIND:
                    self._queue[(obj.metadata.namespace or "", ref.name)] = None

    def pending(self) -> bool:
        return bool(self._queue or self._orphaned)

    def process(self) -> int:
        handled = 0
        orphaned, self._orphaned = self._orphaned, []
        for namespace, uid in orphaned:
            for pod in self.client.list(Pod, namespace):
                if owned_by(pod.metadata, uid):
                    self.client.delete(Pod, namespace, str(pod.metadata.name))
            handled += 1
        keys = list(self._queue)
        self._queue.clear()
        for namespace, name in keys:
            rs = self.client.find(ReplicaSet, namespace, name)
            if rs is not None and rs.metadata.deletion_timestamp is None:
                self.sync(rs)
            handled += 1
        return handled

    # -- reconcile -------------------------------------------------------------------------

    def enqueue_all(self) -> None:
        for rs in self.client.list(ReplicaSet):
            self._queue[_key(rs)] = None

    def sync(self, rs: ReplicaSet) -> ReplicaSet:
        """``syncReplicaSet``: manage the pod count, then write status."""
        namespace = rs.metadata.namespace or ""
        owned = [
            p for p in self.client.list(Pod, namespace) if owned_by(p.metadata, rs.metadata.uid)
        ]
        active = [p for p in owned if is_active(p)]
        want = rs.spec.replicas if rs.spec.replicas is not None else 1
        if len(active) < want:
            for _ in range(want - len(active)):
                active.append(self._create_pod(rs))
        elif len(active) > want:
            doomed = deletion_order(active, self.client.clock.now())[: len(active) - want]
            for pod in doomed:
                self.client.delete(Pod, namespace, str(pod.metadata.name))
            gone = {p.metadata.name for p in doomed}
            active = [p for p in active if p.metadata.name not in gone]
        return self._write_status(rs, active)

    def _create_pod(self, rs: ReplicaSet) -> Pod:
        template = rs.spec.template
        base = f"{rs.metadata.name}-"
        for _ in range(NAME_RETRIES):
            meta = replace(
                template.metadata,
                name=generate_name(base, self.rng),
                generate_name=base,
                namespace=rs.metadata.namespace,
                labels=dict(template.metadata.labels),
                annotations=dict(template.metadata.annotations),
                owner_references=(controller_ref(rs),),
            )
            try:
                return self.client.create(Pod(meta, template.spec))
            except AlreadyExistsError:
                continue
        raise AlreadyExistsError("pods", base)

    def _write_status(self, rs: ReplicaSet, active: list[Pod]) -> ReplicaSet:
        # Pods just created are counted from the store's view, as the next sync would.
        namespace = rs.metadata.namespace or ""
        current = [self.client.find(Pod, namespace, str(p.metadata.name)) for p in active]
        pods = [p for p in current if p is not None]
        ready = sum(1 for p in pods if p.status.ready)
        status = WorkloadStatus(
            replicas=len(pods),
            ready_replicas=ready,
            # minReadySeconds is not modelled on the clock: a ready pod is available.
            available_replicas=ready,
            observed_generation=rs.metadata.generation,
        )
        if status == rs.status:
            return rs
        # updateReplicaSetStatus writes through replicasets/status (UpdateStatus).
        return self.client.update_status(replace(rs, status=status))
