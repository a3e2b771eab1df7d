"""kube-scheduler in miniature: bind each pending pod to a node, or say why none fits.

For every pod without ``spec.nodeName`` the filters run in the default profile's order —
NodeUnschedulable, TaintToleration, NodeAffinity (``nodeSelector``) — and the first that
rejects a node gives that node's reason. Among the nodes left the spread is deterministic:
fewest pods of the same owner first (what PodTopologySpread's default constraint and
SelectorSpread achieve), then fewest pods overall (LeastAllocated's effect), then node name::

    >>> from k8s_service_lab.api import Node, ObjectMeta, Pod
    >>> from k8s_service_lab.controlplane.controllers.scheduler import Scheduler
    >>> from k8s_service_lab.controlplane.store import Store
    >>> store = Store()
    >>> _ = store.create(Node(ObjectMeta(name="kind-worker")))
    >>> _ = store.create(Pod(ObjectMeta(name="web", namespace="default")))
    >>> scheduler = Scheduler(store)
    >>> scheduler.enqueue_all()
    >>> scheduler.process()
    1
    >>> store.get(Pod, "default", "web").spec.node_name
    'kind-worker'

A pod that fits nowhere stays ``Pending`` with ``PodScheduled=False`` (written through
``pods/status``); :meth:`Scheduler.failure` returns the ``Unschedulable`` reason and message
exactly as v1.34 writes them. Binding goes through the client's ``bind`` (the ``pods/binding``
subresource of :meth:`~k8s_service_lab.controlplane.apiserver.APIServer.bind`) when it has
one; a bare :class:`~k8s_service_lab.controlplane.store.Store` gets the same result from a spec
write and a status write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from k8s_service_lab.api.node import Node, Taint
from k8s_service_lab.api.pod import Pod, PodCondition, Toleration
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.controlplane.store import EventType, WatchEvent

__all__ = [
    "NO_NODES",
    "REASON_NODE_SELECTOR",
    "REASON_TAINT",
    "REASON_UNSCHEDULABLE_NODE",
    "Binder",
    "Scheduler",
    "SchedulingFailure",
    "controller_uid",
    "fit_failures",
    "tolerates",
    "unschedulable_message",
]

# Filter reasons as v1.34's plugins word them. TaintToleration stopped naming the taint
# ({key: value}) in v1.34; older clusters print "had untolerated taint {k: v}".
REASON_UNSCHEDULABLE_NODE = "node(s) were unschedulable"
REASON_TAINT = "node(s) had untolerated taint(s)"
REASON_NODE_SELECTOR = "node(s) didn't match Pod's node affinity/selector"
#: ``ErrNoNodesAvailable`` (schedule_one.go), when the cluster has no nodes at all.
NO_NODES = "no nodes available to schedule pods"
#: DefaultPreemption's verdict for nodes rejected as UnschedulableAndUnresolvable.
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
#: The taint NodeUnschedulable lets a pod tolerate to land on a cordoned node.
UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "NoSchedule")


@runtime_checkable
class Binder(Protocol):
    """A client with the ``pods/binding`` subresource (the APIServer; not a bare Store)."""

    def bind(self, pod_namespace: str | None, pod_name: str, node_name: str) -> Pod: ...


@dataclass(frozen=True, slots=True)
class SchedulingFailure:
    """The ``PodScheduled=False`` condition's reason and message (and the event's)."""

    reason: str
    message: str


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """``Toleration.ToleratesTaint``: effect and key match when set; Exists ignores value.

    An empty key with ``operator: Exists`` tolerates every taint (of the effect, if given).
    """
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator in (None, "", "Equal"):
        return (toleration.value or "") == (taint.value or "")
    return toleration.operator == "Exists"


def _untolerated(pod: Pod, taints: Sequence[Taint]) -> Taint | None:
    # FindMatchingUntoleratedTaint, filtered to the effects that keep pods off a node.
    for taint in taints:
        if taint.effect not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in pod.spec.tolerations):
            return taint
    return None


def _selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def rejection(pod: Pod, node: Node) -> str | None:
    """The reason the first rejecting filter gives for ``node``, or ``None`` if it fits."""
    if node.spec.unschedulable and not any(
        tolerates(t, UNSCHEDULABLE_TAINT) for t in pod.spec.tolerations
    ):
        return REASON_UNSCHEDULABLE_NODE
    if _untolerated(pod, node.spec.taints) is not None:
        return REASON_TAINT
    if not _selector_matches(pod.spec.node_selector, node.metadata.labels):
        return REASON_NODE_SELECTOR
    return None


def fit_failures(pod: Pod, nodes: Sequence[Node]) -> dict[str, str]:
    """Node name → rejection reason, for every node that does not fit."""
    out: dict[str, str] = {}
    for node in nodes:
        why = rejection(pod, node)
        if why is not None:
            out[str(node.metadata.name)] = why
    return out


def unschedulable_message(reasons: Mapping[str, str], total: int) -> str:
    """``FitError.Error()`` plus DefaultPreemption's post-filter message.

    Reasons are counted and the ``"<count> <reason>"`` strings sorted as strings, as upstream
    does; every filter we model is UnschedulableAndUnresolvable, so preemption never helps.
    """
    if total == 0:
        return NO_NODES
    counts: dict[str, int] = {}
    for why in reasons.values():
        counts[why] = counts.get(why, 0) + 1
    histogram = ", ".join(sorted(f"{n} {why}" for why, n in counts.items()))
    return (
        f"0/{total} nodes are available: {histogram}. preemption: 0/{total} nodes are "
        f"available: {total} {PREEMPTION_NOT_HELPFUL}."
    )


def controller_uid(pod: Pod) -> str | None:
    """The uid of the pod's controlling owner (its ReplicaSet), if any."""
    for ref in pod.metadata.owner_references:
        if ref.controller:
            return ref.uid
    return None


def _active(pod: Pod) -> bool:
    return pod.status.phase not in ("Succeeded", "Failed")


def _set_condition(pod: Pod, condition: PodCondition) -> Pod:
    kept = tuple(c for c in pod.status.conditions if c.type != condition.type)
    status = replace(
        pod.status,
        phase=pod.status.phase or "Pending",
        conditions=(*kept, condition),
    )
    return replace(pod, status=status)


class Scheduler:
    """The ``default-scheduler``: a Controller watching pods and nodes."""

    name: str = "default-scheduler"
    watches: tuple[str, ...] = ("pods", "nodes")

    def __init__(self, client: Client) -> None:
        self.client = client
        self._queue: dict[tuple[str, str], None] = {}
        self._failures: dict[tuple[str, str], SchedulingFailure] = {}

    # -- Controller protocol ---------------------------------------------------------------

    def on_event(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Pod):
            key = (obj.metadata.namespace or "", str(obj.metadata.name))
            if event.type is EventType.DELETED:
                self._queue.pop(key, None)
                self._failures.pop(key, None)
                # a freed node can make room only through the filters we model: nothing to do
            elif obj.spec.node_name is None:
                self._queue[key] = None
        elif isinstance(obj, Node):
            # A node appearing or changing (taint removed, uncordoned) retries pending pods,
            # as the scheduling queue moves unschedulable pods back on node events.
            for key in self._failures:
                self._queue[key] = None

    def pending(self) -> bool:
        return bool(self._queue)

    def process(self) -> int:
        keys = list(self._queue)
        self._queue.clear()
        for namespace, name in keys:
            pod = self.client.find(Pod, namespace, name)
            if pod is None or pod.spec.node_name is not None:
                continue
            if pod.metadata.deletion_timestamp is not None:
                continue
            self.schedule(pod)
        return len(keys)

    # -- API -------------------------------------------------------------------------------

    def enqueue_all(self) -> None:
        """Queue every unbound pod (for a scheduler started after pods exist)."""
        for pod in self.client.list(Pod):
            if pod.spec.node_name is None:
                self._queue[(pod.metadata.namespace or "", str(pod.metadata.name))] = None

    def failure(self, namespace: str, name: str) -> SchedulingFailure | None:
        """Why the pod is still Pending (``None`` once bound, or before a first attempt)."""
        return self._failures.get((namespace, name))

    def pick(self, pod: Pod, nodes: Sequence[Node]) -> Node | None:
        """The node the pod would go to (no write)."""
        feasible = [n for n in nodes if rejection(pod, n) is None]
        if not feasible:
            return None
        owner = controller_uid(pod)
        per_node_all: dict[str, int] = {}
        per_node_owner: dict[str, int] = {}
        for other in self.client.list(Pod):
            if other.spec.node_name is None or not _active(other):
                continue
            node_name = other.spec.node_name
            per_node_all[node_name] = per_node_all.get(node_name, 0) + 1
            if owner is not None and controller_uid(other) == owner:
                per_node_owner[node_name] = per_node_owner.get(node_name, 0) + 1
        return min(
            feasible,
            key=lambda n: (
                per_node_owner.get(str(n.metadata.name), 0),
                per_node_all.get(str(n.metadata.name), 0),
                str(n.metadata.name),
            ),
        )

    def schedule(self, pod: Pod) -> Pod:
        """Bind ``pod`` (nodeName + ``PodScheduled=True``) or record why it cannot be."""
        key = (pod.metadata.namespace or "", str(pod.metadata.name))
        nodes = self.client.list(Node)
        node = self.pick(pod, nodes)
        if node is None:
            failure = SchedulingFailure(
                "Unschedulable", unschedulable_message(fit_failures(pod, nodes), len(nodes))
            )
            self._failures[key] = failure
            updated = _set_condition(pod, PodCondition("PodScheduled", "False"))
            # The scheduler's updatePod patches pods/status with the condition.
            return pod if updated == pod else self.client.update_status(updated)
        self._failures.pop(key, None)
        return self._bind(pod, str(node.metadata.name))

    def _bind(self, pod: Pod, node_name: str) -> Pod:
        """``DefaultBinder``: POST ``pods/binding``, which sets nodeName and
        ``PodScheduled=True`` in one write; without it, a spec write then a status write."""
        if isinstance(self.client, Binder):
            return self.client.bind(pod.metadata.namespace, str(pod.metadata.name), node_name)
        placed = self.client.update(replace(pod, spec=replace(pod.spec, node_name=node_name)))
        scheduled = PodCondition("PodScheduled", "True")
        conditions = tuple(c for c in placed.status.conditions if c.type != scheduled.type)
        if len(conditions) == len(placed.status.conditions):
            conditions = (*conditions, scheduled)
        else:  # UpdatePodCondition replaces the condition where it stands
            conditions = tuple(
                scheduled if c.type == scheduled.type else c for c in placed.status.conditions
            )
        return self.client.update_status(
            replace(placed, status=replace(placed.status, conditions=conditions))
        )
