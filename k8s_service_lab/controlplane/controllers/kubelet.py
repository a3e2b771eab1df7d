"""The kubelets of every node: start bound pods, give them IPs, report them Ready.

A pod bound to a node (``spec.nodeName``) is "started" at once: ``phase: Running``, pod IPs
from the node's host-local range (:mod:`~k8s_service_lab.controlplane.ipam`), host IPs from
the node's ``InternalIP`` addresses, and the conditions kubelet writes, in kubelet's order::

    >>> from k8s_service_lab.api import Node, ObjectMeta, Pod
    >>> from k8s_service_lab.api.node import NodeAddress, NodeSpec, NodeStatus
    >>> from k8s_service_lab.api.pod import PodSpec
    >>> from k8s_service_lab.controlplane.controllers.kubelet import Kubelet
    >>> from k8s_service_lab.controlplane.store import Store
    >>> store = Store()
    >>> _ = store.create(Node(ObjectMeta(name="kind-worker"), NodeSpec(pod_cidr="10.244.1.0/24",
    ...     pod_cidrs=("10.244.1.0/24",)), NodeStatus((NodeAddress("InternalIP", "172.18.0.3"),))))
    >>> _ = store.create(Pod(ObjectMeta(name="web", namespace="default"),
    ...                      PodSpec(node_name="kind-worker")))
    >>> kubelet = Kubelet(store)
    >>> kubelet.enqueue_all()
    >>> kubelet.process()
    1
    >>> pod = store.get(Pod, "default", "web")
    >>> pod.status.phase, pod.status.pod_ip, pod.status.host_ip, pod.status.ready
    ('Running', '10.244.1.2', '172.18.0.3', True)

Readiness is what probes would decide; a lab decides it instead. A pod stays **not ready**
when its manifest says so — a ``status.conditions`` entry ``Ready: "False"`` (which only
survives when the pod is stored as written; the real apiserver resets status on create) or
the annotation ``k8s-service-lab.io/ready: "false"`` (ours, and the reliable way) — and
:meth:`Kubelet.set_ready` flips it later, as a readiness probe starting to fail or pass would.
``hostNetwork`` pods take the node's IPs. When a pod is finally deleted (after its grace
period, when the object leaves the store) its addresses go back to the node's range.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_network

from k8s_service_lab.api.node import Node
from k8s_service_lab.api.pod import Pod, PodCondition
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.controlplane.ipam import ClusterIPAM
from k8s_service_lab.controlplane.store import EventType, WatchEvent

__all__ = ["READY_ANNOTATION", "Kubelet", "with_readiness"]

#: ``k8s-service-lab.io/ready: "false"`` on a pod (or its template) keeps it not ready.
READY_ANNOTATION = "k8s-service-lab.io/ready"
#: The order kubelet's status manager writes a running pod's conditions in (v1.34).
CONDITION_ORDER = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


def _asked_not_ready(pod: Pod) -> bool:
    if pod.metadata.annotations.get(READY_ANNOTATION, "").lower() == "false":
        return True
    return any(c.type == "Ready" and c.status == "False" for c in pod.status.conditions)


def _conditions(pod: Pod, ready: bool) -> tuple[PodCondition, ...]:
    value = "True" if ready else "False"
    wanted = {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": value,
        "ContainersReady": value,
        "PodScheduled": "True",
    }
    others = tuple(c for c in pod.status.conditions if c.type not in wanted)
    return tuple(PodCondition(t, wanted[t]) for t in CONDITION_ORDER) + others


def with_readiness(pod: Pod, ready: bool) -> Pod:
    """``pod`` with ``Ready`` and ``ContainersReady`` set to ``ready`` (no write)."""
    return replace(pod, status=replace(pod.status, conditions=_conditions(pod, ready)))


def _key(pod: Pod) -> tuple[str, str]:
    return (pod.metadata.namespace or "", str(pod.metadata.name))


class Kubelet:
    """All nodes' kubelets as one Controller (each pod is handled by its node's state)."""

    name: str = "kubelet"
    watches: tuple[str, ...] = ("pods", "nodes")

    def __init__(self, client: Client, ipam: ClusterIPAM | None = None) -> None:
        self.client = client
        self.ipam = ipam if ipam is not None else ClusterIPAM()
        self._queue: dict[tuple[str, str], None] = {}

    # -- Controller protocol ---------------------------------------------------------------

    def on_event(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Pod):
            if event.type is EventType.DELETED:
                self._queue.pop(_key(obj), None)
                self.ipam.release(self._owner(obj))
            elif obj.spec.node_name is not None and obj.status.pod_ip is None:
                self._queue[_key(obj)] = None
        elif isinstance(obj, Node) and event.type is not EventType.DELETED:
            self._track(obj)
            for pod in self.client.list(Pod):
                if pod.spec.node_name == obj.metadata.name and pod.status.pod_ip is None:
                    self._queue[_key(pod)] = None

    def pending(self) -> bool:
        return bool(self._queue)

    def process(self) -> int:
        keys = list(self._queue)
        self._queue.clear()
        for namespace, name in keys:
            pod = self.client.find(Pod, namespace, name)
            if pod is not None:
                self.start(pod)
        return len(keys)

    # -- API -------------------------------------------------------------------------------

    def enqueue_all(self) -> None:
        """Queue every bound pod without an IP (for kubelets started after pods exist)."""
        for node in self.client.list(Node):
            self._track(node)
        for pod in self.client.list(Pod):
            if pod.spec.node_name is not None and pod.status.pod_ip is None:
                self._queue[_key(pod)] = None

    def start(self, pod: Pod) -> Pod:
        """Run a bound pod: phase, IPs, conditions. Pods on unknown nodes wait."""
        if pod.spec.node_name is None or pod.status.pod_ip is not None:
            return pod
        if pod.metadata.deletion_timestamp is not None:
            return pod
        node = self.client.find(Node, None, pod.spec.node_name)
        if node is None:
            return pod  # kubelet of a node that does not exist: nobody starts it
        self._track(node)
        host_ips = node.internal_ips
        if pod.spec.host_network:
            pod_ips = host_ips
        else:
            pod_ips = self.ipam.allocate(node.metadata.name or "", self._owner(pod))
        status = replace(
            pod.status,
            phase="Running",
            pod_ip=pod_ips[0] if pod_ips else None,
            pod_ips=pod_ips,
            host_ip=host_ips[0] if host_ips else None,
            host_ips=host_ips,
        )
        started = replace(pod, status=status)
        # Kubelet's status manager writes through pods/status (PatchPodStatus).
        return self.client.update_status(with_readiness(started, not _asked_not_ready(pod)))

    def set_ready(self, pod: Pod, ready: bool) -> Pod:
        """Make a running pod's readiness probe pass (``True``) or fail (``False``)."""
        current = self.client.get(Pod, pod.metadata.namespace, str(pod.metadata.name))
        updated = with_readiness(current, ready)
        return current if updated == current else self.client.update_status(updated)

    def _track(self, node: Node) -> None:
        cidrs = node.spec.pod_cidrs or ((node.spec.pod_cidr,) if node.spec.pod_cidr else ())
        self.ipam.add_node(str(node.metadata.name), [ip_network(c) for c in cidrs])

    @staticmethod
    def _owner(pod: Pod) -> str:
        # uid when stored (a re-created pod of the same name is a new owner), else its key.
        return pod.metadata.uid or "/".join(_key(pod))
