r"""What a trace found, for people and programs: a text tree, JSON and a mermaid flowchart.

A :class:`TraceReport` wraps a :class:`~k8s_service_lab.tracer.TraceResult` with what the
result alone does not say — the packet that was traced, the node, the direction (arriving
on the node or sent by it) and, where a cluster knows them, the pod and node behind each
endpoint address. Its three renderings share one shape: the hops every branch went
through, then one branch per way the packet can go (``-m statistic`` splits), each with its
exact probability, its own hops, its endpoint and the packet as it leaves.

    >>> from k8s_service_lab.netfilter import parse_save
    >>> from k8s_service_lab.tracer import NodeContext, Packet, Tracer
    >>> rs = parse_save("*nat\n:PREROUTING ACCEPT [0:0]\n"
    ...     "-A PREROUTING -d 10.96.0.1/32 -p tcp -j DNAT --to-destination 10.0.0.1:8080\n"
    ...     "COMMIT\n")
    >>> pkt = Packet("10.244.1.5", "10.96.0.1", "tcp", 40000, 80)
    >>> report = TraceReport(pkt, Tracer(rs, NodeContext.of(["172.18.0.3"])).arriving(pkt))
    >>> doc = report.to_json()
    >>> doc["verdict"], doc["endpoints"][0]["ip"], doc["endpoints"][0]["probability"]
    ('DNAT', '10.0.0.1', '1')
    >>> print(report.to_mermaid().splitlines()[0])
    flowchart TD
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from k8s_service_lab.tracer.model import Branch, Hop, Packet, TraceResult

if TYPE_CHECKING:
    from rich.tree import Tree

__all__ = ["EndpointName", "TraceReport", "describe_verdict", "format_packet"]

_EMPTY: Mapping[str, EndpointName] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class EndpointName:
    """Who owns an address: ``pod`` as ``namespace/name`` and the ``node`` it runs on."""

    pod: str | None = None
    node: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.pod is not None:
            parts.append(f"pod {self.pod}")
        if self.node is not None:
            parts.append(f"on {self.node}")
        return " ".join(parts)


def format_packet(p: Packet) -> str:
    """``tcp 10.244.1.5:40000 → 10.96.0.1:80`` (IPv6 addresses bracketed)."""
    return f"{p.proto} {_hostport(p.src, p.sport)} → {_hostport(p.dst, p.dport)}"


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _percent(p: Fraction) -> str:
    return f"{float(p) * 100:.4g}%"


def describe_verdict(result: TraceResult) -> str:
    """One line a learner reads first: where the packet ends up, in words."""
    v = result.verdict
    if v == "DNAT":
        n = len(result.endpoints)
        masq = "masqueraded (SNAT)" if result.masquerade else "not masqueraded"
        return f"DNAT to {n} endpoint{'s' if n != 1 else ''}, {masq}"
    return {
        "ACCEPT": "ACCEPT: accepted, not rewritten",
        "NONE": "NONE: no kube-proxy rule matched; the packet goes on unchanged",
        "DROP": "DROP: silently discarded",
        "REJECT": "REJECT: refused at once (ICMP port unreachable / TCP reset)",
        "MIXED": "MIXED: branches end differently",
    }.get(v, v)


def _common_prefix(branches: tuple[Branch, ...]) -> int:
    if not branches:
        return 0
    first = branches[0].hops
    n = len(first)
    for b in branches[1:]:
        i = 0
        while i < n and i < len(b.hops) and b.hops[i] == first[i]:
            i += 1
        n = i
    # With one branch every hop is "common"; with several the split rule itself is per
    # branch (each took it with its own probability), which the prefix stops before.
    return n


def _common_suffix(branches: tuple[Branch, ...], skip: int) -> int:
    """How many trailing hops every branch shares after the split (the way out, mostly)."""
    if len(branches) < 2:
        return 0
    tails = [b.hops[skip:] for b in branches]
    n = min(len(t) for t in tails)
    k = 0
    # Leave each branch at least one hop of its own: the rule that chose it.
    while k < n - 1 and all(t[-1 - k] == tails[0][-1 - k] for t in tails):
        k += 1
    return k


def _hop_json(h: Hop) -> dict[str, Any]:
    return {"table": h.table, "chain": h.chain, "rule": h.rule, "comment": h.comment, "why": h.why}


def _packet_json(p: Packet) -> dict[str, Any]:
    return {"src": p.src, "dst": p.dst, "proto": p.proto, "sport": p.sport, "dport": p.dport}


@dataclass(frozen=True, slots=True)
class TraceReport:
    """A trace result with its context; renders as text, JSON or mermaid."""

    packet: Packet
    result: TraceResult
    node: str | None = None
    direction: str = "arriving"
    names: Mapping[str, EndpointName] = field(default_factory=lambda: _EMPTY)

    # -- shared shape -------------------------------------------------------------------

    def common_hops(self) -> tuple[Hop, ...]:
        """The hops every branch went through, in order."""
        branches = self.result.branches
        return branches[0].hops[: _common_prefix(branches)] if branches else ()

    def _name(self, ip: str) -> EndpointName | None:
        return self.names.get(ip)

    def _title(self) -> str:
        where = f" on {self.node}" if self.node else ""
        how = "sent by the node" if self.direction == "sent" else "arriving"
        return f"{format_packet(self.packet)}{where} ({how})"

    # -- JSON (DESIGN §6) ---------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The ``ksl trace -o json`` object: verdict, endpoints, masquerade, hops, branches.

        ``probability`` is exact, as a fraction's text (``"1/3"``); ``percent`` is the same
        as a float for people. Each endpoint carries ``source``, the client address the pod
        sees (the node's address when masqueraded).
        """
        skip = _common_prefix(self.result.branches)
        first_branch: dict[tuple[str, int], Branch] = {}
        for b in self.result.branches:
            if b.endpoint is not None:
                first_branch.setdefault(b.endpoint, b)
        endpoints = []
        for ip, port, p in self.result.endpoints:
            name = self._name(ip)
            b = first_branch[(ip, port)]
            endpoints.append(
                {
                    "ip": ip,
                    "port": port,
                    "probability": str(p),
                    "percent": float(p) * 100,
                    "pod": name.pod if name else None,
                    "node": name.node if name else None,
                    "masquerade": b.masquerade,
                    "source": b.packet.src,
                }
            )
        return {
            "packet": _packet_json(self.packet),
            "node": self.node,
            "direction": self.direction,
            "verdict": self.result.verdict,
            "summary": describe_verdict(self.result),
            "endpoints": endpoints,
            "masquerade": self.result.masquerade,
            "hops": [_hop_json(h) for h in self.common_hops()],
            "branches": [
                {
                    "probability": str(b.probability),
                    "verdict": b.verdict,
                    "endpoint": None if b.endpoint is None else _hostport(*b.endpoint),
                    "masquerade": b.masquerade,
                    "packet": _packet_json(b.packet),
                    "hops": [_hop_json(h) for h in b.hops[skip:]],
                }
                for b in self.result.branches
            ],
            "uncertain": self.result.uncertain,
            "not_evaluated": list(self.result.not_evaluated),
        }

    # -- text (rich tree) ---------------------------------------------------------------

    def tree(self) -> Tree:
        """A rich :class:`~rich.tree.Tree`: common hops, then one subtree per branch."""
        from rich.markup import escape
        from rich.tree import Tree

        root = Tree(f"[bold]{escape(self._title())}[/bold]")
        root.add(f"[bold]verdict[/bold] {escape(describe_verdict(self.result))}")
        for h in self.common_hops():
            _add_hop(root, h)
        branches = self.result.branches
        skip = _common_prefix(branches)
        tail = _common_suffix(branches, skip)
        for b in branches:
            parent = root
            if len(branches) > 1:
                parent = root.add(f"[bold]{escape(self._branch_label(b))}[/bold]")
            for h in b.hops[skip : len(b.hops) - tail]:
                _add_hop(parent, h)
            if not tail:
                parent.add(escape(self._outcome(b)))
        if tail:
            shared = root.add("[bold]then, on every branch[/bold]")
            for h in branches[0].hops[len(branches[0].hops) - tail :]:
                _add_hop(shared, h)
            for b in branches:
                shared.add(escape(self._outcome(b)))
        for text in self.result.not_evaluated:
            root.add(f"[yellow]not evaluated:[/yellow] {escape(text)}")
        return root

    def _branch_label(self, b: Branch) -> str:
        p = f"{b.probability} ({_percent(b.probability)})"
        if b.endpoint is None:
            return f"{p}: {b.verdict}"
        name = self._name(b.endpoint[0])
        who = f" — {name}" if name else ""
        return f"{p} → {_hostport(*b.endpoint)}{who}"

    def _outcome(self, b: Branch) -> str:
        text = f"leaves as {format_packet(b.packet)}"
        if b.masquerade:
            text += f" (masqueraded: the pod sees {b.packet.src})"
        elif b.endpoint is not None:
            text += f" (the pod sees {b.packet.src})"
        if b.verdict in ("DROP", "REJECT"):
            text = f"{b.verdict}: the packet goes no further"
        return text

    def to_text(self, width: int = 120) -> str:
        """The tree as plain text (no colour), ``width`` columns wide."""
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=width, no_color=True, highlight=False).print(self.tree())
        return buf.getvalue()

    # -- mermaid ------------------------------------------------------------------------

    def to_mermaid(self) -> str:
        """A ``flowchart TD`` for the docs: chains as boxes, branches as labelled edges."""
        lines = ["flowchart TD", f'  start(["{_mm(self._title())}"])']
        prev = "start"
        count = 0

        def node(label: str, shape: str = "box") -> str:
            nonlocal count
            count += 1
            nid = f"n{count}"
            if shape == "end":
                lines.append(f'  {nid}(["{_mm(label)}"])')
            else:
                lines.append(f'  {nid}["{_mm(label)}"]')
            return nid

        for h in self.common_hops():
            nid = node(_hop_label(h))
            lines.append(f"  {prev} --> {nid}")
            prev = nid
        branches = self.result.branches
        skip = _common_prefix(branches)
        tail = _common_suffix(branches, skip)
        ends: list[tuple[str, str, Branch]] = []
        for b in branches:
            last, label = prev, f"|{b.probability}|" if len(branches) > 1 else ""
            for h in b.hops[skip : len(b.hops) - tail]:
                nid = node(_hop_label(h))
                lines.append(f"  {last} -->{label} {nid}")
                last, label = nid, ""
            ends.append((last, label, b))
        if tail:
            # The branches join for the hops they share, then part again to their ends.
            first = node(_hop_label(branches[0].hops[-tail]))
            lines.extend(f"  {last} -->{label} {first}" for last, label, _ in ends)
            last = first
            for h in branches[0].hops[len(branches[0].hops) - tail + 1 :]:
                nid = node(_hop_label(h))
                lines.append(f"  {last} --> {nid}")
                last = nid
            ends = [(last, "", b) for _, _, b in ends]
        for last, label, b in ends:
            end = b.verdict if b.endpoint is None else f"{b.verdict} {_hostport(*b.endpoint)}"
            if b.masquerade:
                end += f" (SNAT {b.packet.src})"
            nid = node(end, "end")
            lines.append(f"  {last} -->{label} {nid}")
        return "\n".join(lines) + "\n"


def _add_hop(parent: Tree, h: Hop) -> None:
    from rich.markup import escape

    rule = h.rule.removeprefix(f"-A {h.chain} ")
    branch = parent.add(f"[cyan]{h.table}/{escape(h.chain)}[/cyan]  {escape(rule)}")
    branch.add(f"[dim]{escape(h.why)}[/dim]")


def _hop_label(h: Hop) -> str:
    target = h.rule.rsplit(" -j ", 1)[-1] if " -j " in h.rule else h.why
    label = f"{h.table}/{h.chain}"
    if h.comment:
        label += f"\n{h.comment}"
    return f"{label}\n→ {target}"


def _mm(text: str) -> str:
    # Mermaid labels in double quotes: quotes become entity codes, newlines <br/>.
    return text.replace('"', "#quot;").replace("\n", "<br/>")
