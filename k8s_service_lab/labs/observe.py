"""What a lab check observes, on any driver: who answered a connection, and DNS answers.

The simulator answers from the tracer (every way the packet may go); the kernel lab answers
from real connections. Both give a :class:`Traffic`, so one check reads either. The simulator
computes what the kernel must agree with: :func:`simulate` walks the first connection through
the source's node and says which pods may answer, what source address they see and how a
connection fails (``refused`` for a REJECT or a closed port, ``timeout`` for a DROP)::

    >>> from k8s_service_lab import Cluster
    >>> cluster = Cluster()
    >>> pod = cluster.list("Pod", "kube-system")[0].metadata.name
    >>> dns = simulate(cluster, f"pod/kube-system/{pod}", "10.96.0.10", 53, "udp")
    >>> sorted(dns.pods) == sorted(p.metadata.name for p in cluster.list("Pod", "kube-system")
    ...     if p.metadata.name.startswith("coredns"))
    True
    >>> simulate(cluster, "external", "172.18.0.3", 31000, "tcp").failures
    frozenset({'refused'})
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from k8s_service_lab.config import KIND_NETWORKS
from k8s_service_lab.labs.spec import LabError
from k8s_service_lab.netns.plan import EXTERNAL_HOST_INDEX, served_ports
from k8s_service_lab.tracer import Packet

if TYPE_CHECKING:
    from k8s_service_lab.api import Pod
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.tracer import Branch

__all__ = ["DNSResult", "Source", "Traffic", "external_ip", "simulate", "source_of"]

#: The client port of a simulated first connection (any ephemeral port would do).
SPORT = 40000


@dataclass(frozen=True, slots=True)
class Traffic:
    """What ``count`` connections from ``src`` to ``dst:port`` came to.

    ``pods``: the pod names that answered (``/hostname``); ``sources``: the client addresses
    those pods saw (``/clientip``); ``failures``: how the others failed (``refused``,
    ``timeout``, ``unanswered``...). ``observed`` is true for real packets, false for the
    tracer's prediction.
    """

    src: str
    dst: str
    port: int
    proto: str
    pods: frozenset[str]
    sources: frozenset[str]
    failures: frozenset[str]
    observed: bool

    @property
    def answered(self) -> bool:
        """Every connection was answered by a pod."""
        return bool(self.pods) and not self.failures

    def describe(self) -> str:
        who = ", ".join(sorted(self.pods)) or "no pod"
        seen = ", ".join(sorted(self.sources)) or "-"
        failed = f"; failed: {', '.join(sorted(self.failures))}" if self.failures else ""
        how = "observed" if self.observed else "tracer"
        where = f"{self.dst}:{self.port}/{self.proto} from {self.src} ({how})"
        return f"{where}: {who}; seen as {seen}{failed}"


@dataclass(frozen=True, slots=True)
class DNSResult:
    """A DNS answer: the rcode (``NOERROR``, ``NXDOMAIN``...) and ``(type, rdata)`` records."""

    name: str
    qtype: str
    rcode: str
    records: tuple[tuple[str, str], ...]

    def data(self, rtype: str | None = None) -> tuple[str, ...]:
        """The records' data (of one type), sorted."""
        return tuple(sorted(d for t, d in self.records if rtype is None or t == rtype))


@dataclass(frozen=True, slots=True)
class Source:
    """Where a connection starts: an address, the node whose rules it meets first (``None``:
    not a cluster member), whether the node itself sends it, and the lab role + subject."""

    ip: str
    node: str | None
    sends: bool
    role: str
    subject: str


def external_ip(cluster: Cluster) -> str:
    """The external client's address on the kind network (the kernel lab's ``external``)."""
    version = cluster.config.cluster_nodes[0].internal_ip.version
    net = next(n for n in KIND_NETWORKS if n.version == version)
    return str(net.network_address + EXTERNAL_HOST_INDEX)


def source_of(cluster: Cluster, text: str) -> Source:
    """``pod/NAME`` (namespace default), ``pod/NAMESPACE/NAME``, ``node/NAME`` or ``external``."""
    if text == "external":
        return Source(external_ip(cluster), None, False, "external", "external")
    kind, _, rest = text.partition("/")
    if kind == "node":
        node = next((n for n in cluster.config.cluster_nodes if n.name == rest), None)
        if node is None:
            raise LabError(f'source "{text}": no such node')
        return Source(str(node.internal_ip), rest, True, "node", rest)
    if kind == "pod" and rest:
        namespace, _, name = rest.rpartition("/")
        pod = cluster.get("Pod", name, namespace or "default")
        if pod.status.pod_ip is None or pod.spec.node_name is None:
            raise LabError(f'source "{text}": the pod has no IP (not running?)')
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        return Source(pod.status.pod_ip, pod.spec.node_name, False, "pod", key)
    raise LabError(f'source "{text}": write pod/NAME, pod/NAMESPACE/NAME, node/NAME or external')


def simulate(
    cluster: Cluster, src: str, dst: str, port: int, proto: str = "tcp", count: int = 1
) -> Traffic:
    """The tracer's answer to ``count`` connections from ``src`` (see :func:`source_of`).

    One connection may go several ways (``-m statistic``): all of them are answers. With
    ``count`` > 1 and ClientIP affinity, the later connections follow the first one.
    """
    source = source_of(cluster, src)
    node = source.node or _receiving_node(cluster, dst)
    tracer = cluster.tracer(node)
    packet = Packet(source.ip, dst, proto, SPORT, port)
    result = tracer.sent(packet) if source.sends else tracer.arriving(packet)
    branches = list(result.branches)
    affinity = [b for b in branches if b.verdict == "DNAT" and b.recent]
    if count > 1 and affinity:
        # ClientIP affinity: the first connection picks an endpoint and -m recent records it;
        # every later connection from the client meets that record (Tracer.remember).
        tracer.remember(affinity[0])
        again = tracer.sent(packet) if source.sends else tracer.arriving(packet)
        branches = [affinity[0], *again.branches]
    pods = _pods_by_ip(cluster)
    nodes = {str(a) for n in cluster.config.cluster_nodes for a in n.addresses}
    answered: set[str] = set()
    sources: set[str] = set()
    failures: set[str] = set()
    for branch in branches:
        outcome = _outcome(branch, pods, nodes, dst, port, proto)
        if outcome in ("refused", "timeout", "unanswered"):
            failures.add(outcome)
        else:
            answered.add(outcome)
            sources.add(branch.packet.src)
    return Traffic(
        src, dst, port, proto, frozenset(answered), frozenset(sources), frozenset(failures), False
    )


def _receiving_node(cluster: Cluster, dst: str) -> str:
    """The node a packet from outside the cluster reaches: the one owning ``dst``, else the
    first worker (where the kernel lab routes LoadBalancer and external IPs)."""
    ip = ipaddress.ip_address(dst)
    for node in cluster.config.cluster_nodes:
        if ip in node.addresses:
            return node.name
    return cluster.default_node()


def _pods_by_ip(cluster: Cluster) -> dict[str, Pod]:
    out = {}
    for pod in cluster.list("Pod", None):
        if pod.spec.host_network or pod.status.phase != "Running":
            continue
        for ip in pod.status.pod_ips or (pod.status.pod_ip,):
            if ip is not None:
                out[ip] = pod
    return out


def _outcome(
    branch: Branch, pods: dict[str, Pod], nodes: set[str], dst: str, port: int, proto: str
) -> str:
    """A pod name, or how the connection fails, for one way the packet may go."""
    if branch.verdict == "REJECT":
        return "refused"
    if branch.verdict == "DROP":
        return "timeout"
    ip, dport = branch.endpoint if branch.endpoint is not None else (dst, port)
    pod = pods.get(ip)
    if pod is None:
        # Not DNATed to a pod: a node answers a closed port with a reset; anything else
        # (a ClusterIP port no rule knows) is routed out of the lab and never answered.
        return "refused" if branch.endpoint is None and ip in nodes else "unanswered"
    served = {(p.port, p.protocol) for p in served_ports(pod)}
    if (dport, proto.upper()) not in served:
        return "refused"  # the pod's kernel answers a closed port: RST or ICMP unreachable
    return str(pod.metadata.name)
