"""The Deployment controller: one ReplicaSet per pod template, rolled over on change.

A Deployment owns ReplicaSets named ``<deployment>-<pod-template-hash>``
(:func:`~k8s_service_lab.controlplane.names.pod_template_hash`); the hash is also a label on
the ReplicaSet, in its selector and on its pod template, so the sets' pods never overlap. The
set whose template equals the Deployment's (hash label aside) is the *new* one; the others are
*old*. Scaling resizes the new set; a template change creates a new set and moves replicas
over — ``RollingUpdate`` within ``maxSurge`` / ``maxUnavailable``, ``Recreate`` by emptying the
old sets first — until the old sets sit at 0 replicas::

    >>> import random
    >>> from k8s_service_lab.api import Deployment, ObjectMeta, ReplicaSet
    >>> from k8s_service_lab.api.pod import PodTemplateSpec
    >>> from k8s_service_lab.api.workloads import DeploymentSpec
    >>> from k8s_service_lab.controlplane.controllers.workloads import DeploymentController
    >>> from k8s_service_lab.controlplane.store import Store
    >>> from k8s_service_lab.labels import LabelSelector
    >>> store = Store()
    >>> template = PodTemplateSpec(ObjectMeta(labels={"app": "web"}))
    >>> _ = store.create(Deployment(ObjectMeta(name="web", namespace="default"),
    ...     DeploymentSpec(replicas=3, selector=LabelSelector({"app": "web"}), template=template)))
    >>> dc = DeploymentController(store)
    >>> dc.enqueue_all()
    >>> _ = dc.process()
    >>> [(rs.metadata.name, rs.spec.replicas) for rs in store.list(ReplicaSet)]
    [('web-db7f96584', 3)]

Run it with the :class:`~.replicaset.ReplicaSetController` (which makes the pods), the
scheduler and the kubelets under one
:class:`~k8s_service_lab.controlplane.controllers.ControllerManager`; each ReplicaSet status
change wakes the Deployment again, which is how a rollout advances step by step.
"""

from __future__ import annotations

import math
from dataclasses import replace

from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.pod import PodTemplateSpec
from k8s_service_lab.api.workloads import Deployment, ReplicaSet, ReplicaSetSpec, WorkloadStatus
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.controlplane.controllers.replicaset import controller_ref, owned_by
from k8s_service_lab.controlplane.names import pod_template_hash, replica_set_name
from k8s_service_lab.controlplane.store import EventType, WatchEvent
from k8s_service_lab.labels import LabelSelector

__all__ = [
    "HASH_LABEL",
    "REVISION_ANNOTATION",
    "DeploymentController",
    "resolve_fenceposts",
    "template_without_hash",
]

#: ``apps.DefaultDeploymentUniqueLabelKey``.
HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
DESIRED_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_ANNOTATION = "deployment.kubernetes.io/max-replicas"
#: Defaults of ``spec.strategy.rollingUpdate`` (apps/v1 SetDefaults_Deployment).
DEFAULT_SURGE = "25%"
DEFAULT_UNAVAILABLE = "25%"

Key = tuple[str, str]


def _scaled(value: int | str | None, default: str, total: int, round_up: bool) -> int:
    # intstr.GetScaledValueFromIntOrPercent: surge rounds up, unavailability rounds down.
    value = default if value is None else value
    if isinstance(value, int):
        return value
    percent = int(value.rstrip("%"))
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(d: Deployment) -> tuple[int, int]:
    """``ResolveFenceposts``: (maxSurge, maxUnavailable); both 0 means unavailable 1."""
    replicas = _replicas(d)
    strategy = d.spec.strategy
    surge_value = strategy.max_surge if strategy is not None else None
    unavailable_value = strategy.max_unavailable if strategy is not None else None
    surge = _scaled(surge_value, DEFAULT_SURGE, replicas, True)
    unavailable = _scaled(unavailable_value, DEFAULT_UNAVAILABLE, replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def template_without_hash(template: PodTemplateSpec) -> PodTemplateSpec:
    """The template with the ``pod-template-hash`` label dropped (``EqualIgnoreHash``)."""
    labels = {k: v for k, v in template.metadata.labels.items() if k != HASH_LABEL}
    return replace(template, metadata=replace(template.metadata, labels=labels))


def _replicas(obj: Deployment | ReplicaSet) -> int:
    return obj.spec.replicas if obj.spec.replicas is not None else 1


def _is_recreate(d: Deployment) -> bool:
    return d.spec.strategy is not None and d.spec.strategy.type == "Recreate"


def _revision(rs: ReplicaSet) -> int:
    text = rs.metadata.annotations.get(REVISION_ANNOTATION, "0")
    return int(text) if text.isdigit() else 0


class DeploymentController:
    """``deployment-controller`` of kube-controller-manager."""

    name: str = "deployment-controller"
    watches: tuple[str, ...] = ("deployments", "replicasets")

    def __init__(self, client: Client) -> None:
        self.client = client
        self._queue: dict[Key, None] = {}
        self._orphaned: list[tuple[str, str]] = []

    # -- Controller protocol ---------------------------------------------------------------

    def on_event(self, event: WatchEvent) -> None:
        obj = event.object
        namespace = obj.metadata.namespace or ""
        if isinstance(obj, Deployment):
            if event.type is EventType.DELETED:
                self._orphaned.append((namespace, obj.metadata.uid or ""))
            else:
                self._queue[(namespace, str(obj.metadata.name))] = None
        elif isinstance(obj, ReplicaSet):
            for ref in obj.metadata.owner_references:
                if ref.controller and ref.kind == Deployment.KIND:
                    self._queue[(namespace, ref.name)] = None

    def pending(self) -> bool:
        return bool(self._queue or self._orphaned)

    def process(self) -> int:
        handled = 0
        orphaned, self._orphaned = self._orphaned, []
        for namespace, uid in orphaned:  # the garbage collector's cascade
            for rs in self.client.list(ReplicaSet, namespace):
                if owned_by(rs.metadata, uid):
                    self.client.delete(ReplicaSet, namespace, str(rs.metadata.name))
            handled += 1
        keys = list(self._queue)
        self._queue.clear()
        for namespace, name in keys:
            d = self.client.find(Deployment, namespace, name)
            if d is not None and d.metadata.deletion_timestamp is None:
                self.sync(d)
            handled += 1
        return handled

    def enqueue_all(self) -> None:
        for d in self.client.list(Deployment):
            self._queue[(d.metadata.namespace or "", str(d.metadata.name))] = None

    # -- reconcile -------------------------------------------------------------------------

    def sync(self, d: Deployment) -> Deployment:
        """``syncDeployment``: find or make the new set, move replicas, write status."""
        namespace = d.metadata.namespace or ""
        owned = [
            rs
            for rs in self.client.list(ReplicaSet, namespace)
            if owned_by(rs.metadata, d.metadata.uid)
        ]
        owned.sort(key=lambda rs: (rs.metadata.creation_timestamp or "", rs.metadata.name or ""))
        wanted = template_without_hash(d.spec.template)
        new = next((rs for rs in owned if template_without_hash(rs.spec.template) == wanted), None)
        old = [rs for rs in owned if rs is not new]
        recreate = _is_recreate(d)
        if new is None:
            new = self._create_new(d, old, self._initial_replicas(d, old))
        if recreate:
            self._recreate(d, new, old)
        else:
            self._rolling(d, new, old)
        return self._write_status(d, new)

    def _create_new(self, d: Deployment, old: list[ReplicaSet], start: int) -> ReplicaSet:
        # A name taken by a set with another template is a hash collision: upstream bumps
        # status.collisionCount and hashes again; we keep the count for this sync only.
        collisions: int | None = None
        while True:
            template_hash = pod_template_hash(template_without_hash(d.spec.template), collisions)
            name = replica_set_name(str(d.metadata.name), template_hash)
            if self.client.find(ReplicaSet, d.metadata.namespace, name) is None:
                break
            collisions = (collisions or 0) + 1
        labels = {**d.spec.template.metadata.labels, HASH_LABEL: template_hash}
        template = replace(
            d.spec.template, metadata=replace(d.spec.template.metadata, labels=labels)
        )
        selector = d.spec.selector or LabelSelector()
        selector = replace(
            selector, match_labels={**(selector.match_labels or {}), HASH_LABEL: template_hash}
        )
        surge, _ = resolve_fenceposts(d)
        recreate = _is_recreate(d)
        revision = max((_revision(rs) for rs in old), default=0) + 1
        annotations = {
            **d.metadata.annotations,
            DESIRED_ANNOTATION: str(_replicas(d)),
            MAX_ANNOTATION: str(_replicas(d) + (0 if recreate else surge)),
            REVISION_ANNOTATION: str(revision),
        }
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        rs = ReplicaSet(
            ObjectMeta(
                name=name,
                namespace=d.metadata.namespace,
                labels=labels,
                annotations=annotations,
                owner_references=(controller_ref(d),),
            ),
            ReplicaSetSpec(
                replicas=start,
                selector=selector,
                template=template,
                min_ready_seconds=d.spec.min_ready_seconds,
            ),
        )
        created = self.client.create(rs)
        if d.metadata.annotations.get(REVISION_ANNOTATION) != str(revision):
            annotations_d = {**d.metadata.annotations, REVISION_ANNOTATION: str(revision)}
            self.client.update(replace(d, metadata=replace(d.metadata, annotations=annotations_d)))
        return created

    @staticmethod
    def _initial_replicas(d: Deployment, old: list[ReplicaSet]) -> int:
        """``NewRSNewReplicas``: how big a new set is born."""
        replicas = _replicas(d)
        if _is_recreate(d):
            busy = any(_replicas(rs) or rs.status.replicas for rs in old)
            return 0 if busy else replicas
        surge, _ = resolve_fenceposts(d)
        current = sum(_replicas(rs) for rs in old)
        if current == 0:
            return replicas
        return max(0, min(replicas, replicas + surge - current))

    def _scale(self, rs: ReplicaSet, replicas: int) -> ReplicaSet:
        if _replicas(rs) == replicas:
            return rs
        return self.client.update(replace(rs, spec=replace(rs.spec, replicas=replicas)))

    def _recreate(self, d: Deployment, new: ReplicaSet, old: list[ReplicaSet]) -> None:
        for rs in old:
            self._scale(rs, 0)
        # Only once no old pod is left does the new set grow (rolloutRecreate).
        if all(not rs.status.replicas for rs in old):
            self._scale(new, _replicas(d))

    def _rolling(self, d: Deployment, new: ReplicaSet, old: list[ReplicaSet]) -> None:
        replicas = _replicas(d)
        if not any(_replicas(rs) for rs in old):
            self._scale(new, replicas)  # not rolling: a plain scale (or nothing)
            return
        surge, unavailable = resolve_fenceposts(d)
        # reconcileNewReplicaSet: grow the new set while the total stays within replicas+surge.
        total = sum(_replicas(rs) for rs in (new, *old))
        if _replicas(new) > replicas:
            new = self._scale(new, replicas)
        elif total < replicas + surge:
            new = self._scale(new, min(replicas, _replicas(new) + replicas + surge - total))
        # reconcileOldReplicaSets: never let fewer than replicas-maxUnavailable be available.
        min_available = replicas - unavailable
        new_unavailable = _replicas(new) - (new.status.available_replicas or 0)
        all_pods = sum(_replicas(rs) for rs in (new, *old))
        max_down = all_pods - min_available - new_unavailable
        if max_down <= 0:
            return
        # cleanupUnhealthyReplicas: old pods that are not available go first ...
        scaled: list[ReplicaSet] = []
        for rs in old:
            unhealthy = _replicas(rs) - (rs.status.available_replicas or 0)
            down = min(max_down, max(unhealthy, 0))
            max_down -= down
            scaled.append(self._scale(rs, _replicas(rs) - down))
        # ... then available ones, oldest set first (scaleDownOldReplicaSetsForRollingUpdate).
        available = sum(rs.status.available_replicas or 0 for rs in (new, *old))
        budget = available - min_available
        for rs in scaled:
            if budget <= 0:
                break
            down = min(_replicas(rs), budget)
            budget -= down
            self._scale(rs, _replicas(rs) - down)

    def _write_status(self, d: Deployment, new: ReplicaSet) -> Deployment:
        current = self.client.get(Deployment, d.metadata.namespace, str(d.metadata.name))
        owned = [
            rs
            for rs in self.client.list(ReplicaSet, d.metadata.namespace)
            if owned_by(rs.metadata, current.metadata.uid)
        ]
        fresh = self.client.find(ReplicaSet, new.metadata.namespace, str(new.metadata.name))
        status = WorkloadStatus(
            replicas=sum(rs.status.replicas or 0 for rs in owned),
            ready_replicas=sum(rs.status.ready_replicas or 0 for rs in owned),
            available_replicas=sum(rs.status.available_replicas or 0 for rs in owned),
            updated_replicas=(fresh.status.replicas or 0) if fresh is not None else 0,
            observed_generation=current.metadata.generation,
        )
        if status == current.status:
            return current
        # syncRolloutStatus writes through deployments/status (UpdateStatus).
        return self.client.update_status(replace(current, status=status))
