r"""``ksl trace --kernel``: the kernel's own trace of one real packet, in the simulator's shape.

:func:`kernel_trace` asks the node namespace that first meets the packet to trace it: it adds
a temporary table (the lab's prefix, ``_trace``) whose chains hook prerouting and output at
priority -350 — before conntrack (-200) and every iptables table — and set
``meta nftrace set 1`` for this one flow only (addresses, protocol and both ports), starts
``nft -a monitor`` there, opens one real connection from inside the source namespace (a pod,
a node or the external host; :func:`~k8s_service_lab.netns.traffic.probe`), and then always
deletes the table and stops the monitor. The first packet's trace (the SYN, or the first
datagram) is mapped to :class:`~k8s_service_lab.tracer.Hop` values (see :mod:`.nfttrace`)
and becomes a one-branch :class:`~k8s_service_lab.tracer.TraceResult`: the kernel takes one
path. Which endpoint it chose and the source it masqueraded to come from the node's
conntrack entry for the flow. In iptables mode the rules are named as ``iptables-nft-save``
shows them; in nftables mode as ``nft list table ip kube-proxy`` does, which is what the nft
tracer's hops say. The table the kernel reads is written like this::

    >>> from k8s_service_lab.tracer import Packet
    >>> script = trace_table_script("ksl_trace", Packet("10.0.0.4", "10.96.0.10", "udp", 4100, 53))
    >>> print(script.replace(" meta l4proto", "\n      meta l4proto"), end="")
    table ip ksl_trace {
      chain pre {
        type filter hook prerouting priority -350; policy accept;
        ip saddr 10.0.0.4 ip daddr 10.96.0.10
          meta l4proto udp th sport 4100 th dport 53 meta nftrace set 1
      }
      chain out {
        type filter hook output priority -350; policy accept;
        ip saddr 10.0.0.4 ip daddr 10.96.0.10
          meta l4proto udp th sport 4100 th dport 53 meta nftrace set 1
      }
    }
    >>> conntrack_nat("tcp 6 119 TIME_WAIT src=172.18.0.100 dst=172.18.0.3 sport=41004 "
    ...               "dport=31808 src=10.244.1.3 dst=10.244.1.1 sport=8080 dport=45374 [ASSURED]")
    (('172.18.0.100', 41004, '172.18.0.3', 31808), ('10.244.1.3', 8080, '10.244.1.1', 45374))

As root, with a lab up and kube-proxy installed:
``kernel_trace(running, proxy, "10.244.0.4", "10.96.0.10", 53, "udp")``; then
:func:`~k8s_service_lab.netns.tracecompare.compare` puts it next to the simulator's.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from k8s_service_lab.errors import PrerequisiteError
from k8s_service_lab.netfilter import parse_save
from k8s_service_lab.netfilter.nftables_parse import parse_nft
from k8s_service_lab.netns.enter import namespace_path, netns_inode
from k8s_service_lab.netns.kernel import RunningLab
from k8s_service_lab.netns.names import Role, owns
from k8s_service_lab.netns.nftmonitor import (
    KernelTraceError,
    monitoring,
    run_in,
    settle,
    trace_table_name,
    trace_table_script,
)
from k8s_service_lab.netns.nfttrace import (
    TraceEvent,
    chain_handles,
    kernel_hops,
    packet_traces,
    parse_monitor,
)
from k8s_service_lab.netns.traffic import Request, probe
from k8s_service_lab.tracer.model import Branch, Packet, TraceResult

if TYPE_CHECKING:
    from k8s_service_lab.netns.plan import LabPlan
    from k8s_service_lab.netns.proxy import LabProxy

__all__ = [
    "KernelRecord",
    "KernelTrace",
    "KernelTraceError",
    "conntrack_nat",
    "kernel_trace",
    "trace_from_record",
    "trace_table_name",
    "trace_table_script",
]

#: The ephemeral range Linux hands out by default (``net.ipv4.ip_local_port_range``).
EPHEMERAL_PORTS = (32768, 60999)
#: The nft-backed save tools, as the lab's kube-proxy loads its rules with (DESIGN §8).
SAVE_TOOLS = {4: "iptables-nft-save", 6: "ip6tables-nft-save"}


@dataclass(frozen=True, slots=True)
class KernelRecord:
    """What the kernel's tools printed for one trace: enough to redo the mapping offline.

    ``monitor`` is ``nft -a monitor``'s output, ``nft_json`` the node's
    ``nft -j list ruleset``, ``save`` its ``iptables-nft-save`` (iptables mode) and
    ``conntrack`` the flow's ``conntrack -L`` lines (empty when the kernel kept no entry: a
    REJECT); ``nft`` is ``nft list table ip kube-proxy`` (nftables mode; empty otherwise).
    """

    monitor: str
    nft_json: str
    save: str
    conntrack: str
    nft: str = ""


@dataclass(frozen=True, slots=True)
class KernelTrace:
    """One packet as the kernel of ``node`` handled it.

    ``result`` has one branch (probability 1) with the kernel's hops; ``events`` are the
    first packet's trace lines and ``record`` what the tools printed. ``outcome`` is what
    the client saw (``None``: it connected; ``"refused"``, ``"timeout"`` …), ``answered_by``
    the pod's ``/hostname``.
    """

    packet: Packet
    node: str
    namespace: str
    direction: str
    result: TraceResult
    events: tuple[TraceEvent, ...]
    outcome: str | None
    answered_by: str | None
    record: KernelRecord

    @property
    def branch(self) -> Branch:
        return self.result.branches[0]

    @property
    def verdict(self) -> str:
        return self.result.verdict

    @property
    def endpoint(self) -> tuple[str, int] | None:
        return self.branch.endpoint

    @property
    def masquerade(self) -> bool:
        return self.branch.masquerade


_TUPLE = re.compile(r"\b(src|dst|sport|dport)=(\S+)")

Tuple4 = tuple[str, int, str, int]


def conntrack_nat(text: str) -> tuple[Tuple4, Tuple4] | None:
    """The original and reply tuples ``(src, sport, dst, dport)`` of a conntrack line.

    The reply's source is the endpoint DNAT chose; its destination is the address the
    client was masqueraded to (the client's own when it was not).
    """
    seen: dict[str, list[str]] = {}
    for key, value in _TUPLE.findall(text):
        seen.setdefault(key, []).append(value)
    if any(len(seen.get(k, ())) < 2 for k in ("src", "dst", "sport", "dport")):
        return None

    def side(i: int) -> Tuple4:
        return (seen["src"][i], int(seen["sport"][i]), seen["dst"][i], int(seen["dport"][i]))

    return side(0), side(1)


def trace_from_record(
    record: KernelRecord, packet: Packet, *, marker: str
) -> tuple[TraceResult, tuple[TraceEvent, ...]]:
    """The kernel's trace of ``packet`` as a one-branch result, from what the tools printed.

    ``marker`` names the marking table. The conntrack entry gives the endpoint and the
    masquerade address; without one they come from the trace (``dnat to``, ``masquerade``).
    """
    family = 6 if ":" in packet.dst else 4
    monitor = record.monitor
    traces = packet_traces(parse_monitor(monitor), marker)
    if not traces:
        raise KernelTraceError(
            "the kernel traced no packet of this flow (did it reach the node? is the "
            f"route right?); the monitor printed:\n{monitor[-2000:]}"
        )
    events = traces[0]
    ruleset = parse_save(record.save, source="iptables-nft-save", family=family)
    native = parse_nft(record.nft, source="nft list table") if record.nft.strip() else None
    hops = kernel_hops(events, chain_handles(record.nft_json, family), ruleset, marker, native)
    rules = [e for e in events if e.kind == "rule" and e.table != marker]
    taken = [e.text or "" for e in rules if e.verdict == "accept"]
    dnat = next((t for t in taken if re.search(r"\bdnat to\b", t)), None)
    masq = any(re.search(r"\b(masquerade|snat to)\b", t) for t in taken)
    nat = conntrack_nat(record.conntrack)
    endpoint: tuple[str, int] | None = None
    out = packet
    if nat is not None and (nat[1][0], nat[1][1]) != (packet.dst, packet.dport):
        endpoint = (nat[1][0], nat[1][1])
    elif dnat is not None:
        m = re.search(r"dnat to \[?([0-9a-f.:]+?)\]?:(\d+)", dnat)
        if m is not None:
            endpoint = (m[1], int(m[2]))
    if endpoint is not None:
        out = Packet(out.src, endpoint[0], out.proto, out.sport, endpoint[1])
    if nat is not None and nat[1][2] != packet.src:
        masq = True
        out = Packet(nat[1][2], out.dst, out.proto, nat[1][3], out.dport)
    verdict = _verdict(events, marker, endpoint is not None)
    branch = Branch(Fraction(1), verdict, out, hops, bool(masq), endpoint)
    return TraceResult.of([branch], ()), events


def _verdict(events: Sequence[TraceEvent], marker: str, dnat: bool) -> str:
    if dnat:
        return "DNAT"
    mine = [e for e in events if e.table != marker and e.kind in ("rule", "policy")]
    for e in mine:
        if e.verdict == "drop":
            return (
                "REJECT" if e.kind == "rule" and re.search(r"\breject\b", e.text or "") else "DROP"
            )
    accepted = any(e.kind == "rule" and e.verdict == "accept" for e in mine)
    return "ACCEPT" if accepted else "NONE"


# -- asking the kernel -------------------------------------------------------------------------


def _node_of(cluster_nodes: Sequence[tuple[str, tuple[str, ...]]], address: str) -> str | None:
    return next((name for name, ips in cluster_nodes if address in ips), None)


def kernel_trace(
    lab: RunningLab | LabPlan,
    proxy: LabProxy,
    src: str,
    dst: str,
    dport: int,
    proto: str = "tcp",
    sport: int | None = None,
    *,
    node: str | None = None,
    timeout: float = 2.0,
) -> KernelTrace:
    """Send one real connection ``src`` → ``dst:dport`` and return the kernel's trace of it.

    ``src`` is a pod IP, a node IP or the external host's; the connection starts inside its
    namespace. ``node`` is where the trace is taken; by default the source's own node (a pod
    or node source), else the node whose address is ``dst`` (a NodePort). ``sport`` (default:
    a random ephemeral port) pins the flow; an old conntrack entry of the same flow is
    deleted first, so the packet is new and meets the nat chains.
    """
    plan = lab.plan if isinstance(lab, RunningLab) else lab
    cluster = proxy.cluster
    _require_tools()
    nodes = [(n.name, tuple(str(a) for a in n.addresses)) for n in cluster.config.cluster_nodes]
    source_ns, source_node = _source(plan, nodes, src)
    node = node or source_node or _node_of(nodes, dst)
    if node is None:
        raise KernelTraceError(f"say which node to trace on: {dst} is not a node address")
    node_ns = _owned(plan, plan.of(Role.NODE, node).name)
    family = 6 if ":" in dst else 4
    packet = Packet(src, dst, proto.lower(), sport or random.randint(*EPHEMERAL_PORTS), dport)
    table = trace_table_name(plan.prefix)
    flow = _conntrack_filter(packet, family)
    run_in(node_ns, ("conntrack", "-D", *flow), check=False)
    with monitoring(node_ns, table, packet) as lines:
        answer = probe(
            source_ns, [Request(dst, dport, packet.proto, 1, packet.sport)], timeout=timeout
        )[0]
        settle(lines)
    nft_mode = proxy.mode == "nftables"
    listing = ("nft", "list", "table", "ip6" if family == 6 else "ip", "kube-proxy")
    record = KernelRecord(
        "".join(lines),
        run_in(node_ns, ("nft", "-j", "list", "ruleset")).stdout,
        "" if nft_mode else run_in(node_ns, (SAVE_TOOLS[family],)).stdout,
        run_in(node_ns, ("conntrack", "-L", *flow), check=False).stdout,
        run_in(node_ns, listing).stdout if nft_mode else "",
    )
    result, events = trace_from_record(record, packet, marker=table)
    sent = src in dict(nodes).get(node, ())
    return KernelTrace(
        packet,
        node,
        node_ns,
        "sent" if sent else "arriving",
        result,
        events,
        answer.error,
        answer.hostname,
        record,
    )


def _require_tools() -> None:
    if os.geteuid() != 0:
        raise PrerequisiteError('the kernel trace needs root: run "sudo ksl trace --kernel ..."')
    missing = sorted(
        {
            p
            for t, p in (("nft", "nftables"), ("conntrack", "conntrack"), ("ip", "iproute2"))
            if shutil.which(t) is None
        }
    )
    if missing:
        raise PrerequisiteError(
            "the kernel trace needs Debian packages: apt-get install " + " ".join(missing)
        )


def _source(
    plan: LabPlan, nodes: Sequence[tuple[str, tuple[str, ...]]], src: str
) -> tuple[str, str | None]:
    """The namespace a packet from ``src`` starts in, and the node it meets first."""
    for pod in plan.pods:
        if src in (str(ip) for ip in pod.ips):
            return pod.namespace, pod.node
    node = _node_of(nodes, src)
    if node is not None:
        return plan.of(Role.NODE, node).name, node
    if src in (str(ip) for ip in plan.external_ips):
        return plan.external.name, None
    raise KernelTraceError(f"{src} is no pod, node or external host of lab {plan.prefix}")


def _owned(plan: LabPlan, name: str) -> str:
    """``name`` after checking it is a namespace of this lab that exists, and not ours."""
    path = namespace_path(name)
    if not owns(plan.prefix, name) or not path.exists():
        raise KernelTraceError(f'namespace "{name}" does not exist (is lab {plan.prefix} up?)')
    if os.stat(path).st_ino == netns_inode("/proc/self/ns/net"):
        raise KernelTraceError(f'refusing to trace in "{name}": it is this process\'s namespace')
    return name


def _conntrack_filter(packet: Packet, family: int) -> tuple[str, ...]:
    return (
        "-f", "ipv4" if family == 4 else "ipv6", "-p", packet.proto,
        "--orig-src", packet.src, "--orig-dst", packet.dst,
        "--orig-port-src", str(packet.sport), "--orig-port-dst", str(packet.dport),
    )  # fmt: skip
