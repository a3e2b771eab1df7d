"""``ksl render --compare``: one Service through kube-proxy's iptables and nftables modes.

Both modes render the same cluster for the same node. For each Service the comparison
gathers what belongs to it — rules, and in nftables mode set and map elements — sorted by
purpose, then *tests* nftables mode's behavioural differences (reference §3.7) on this
Service by tracing packets through both renderings:

* ``unallocated-port``: a port the ClusterIP does not serve;
* ``localhost-nodeport``: the node itself to ``127.0.0.1:<nodePort>`` (NodePort Services);
* ``endpoint-choice``: the rules that pick an endpoint and the share of the flows reaching
  each that it takes;
* ``dispatch``: where the rule that finds the Service sits in its chain — how many rules a
  packet to the ClusterIP passes first.

Every sentence is built from traces and rules, so a mode compared with itself differs in
nothing::

    >>> from k8s_service_lab import Cluster
    >>> cluster = Cluster()
    >>> dns = compare_service(cluster, "kube-system", "kube-dns", "kind-worker")
    >>> [c.key for c in dns.checks if c.differs]
    ['unallocated-port', 'endpoint-choice', 'dispatch']
    >>> print(dns.check("unallocated-port").right.summary)  # doctest: +NORMALIZE_WHITESPACE
    REJECT in cluster-ips-check:
        ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
    >>> same = compare_service(cluster, "kube-system", "kube-dns", "kind-worker",
    ...                        modes=("nftables", "nftables"))
    >>> [c.key for c in same.checks if c.differs]
    []
"""

from __future__ import annotations

import ipaddress
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import typer

# Imported when the command runs (``ksl render`` loads this module only for --compare).
from k8s_service_lab.api.service import Service
from k8s_service_lab.backends.iptables.names import is_service_chain_name as ipt_service_chain
from k8s_service_lab.backends.nftables.names import is_service_chain_name as nft_service_chain
from k8s_service_lab.cli.common import build_cluster
from k8s_service_lab.cli.compare_rules import iptables_lines, nft_lines
from k8s_service_lab.cluster import Cluster
from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netfilter import NftTransaction, rule_text
from k8s_service_lab.netfilter import nftables as nf
from k8s_service_lab.netfilter import xtables_matches as xt
from k8s_service_lab.netfilter.nftables_text import rule_text as nft_rule_text
from k8s_service_lab.tracer.model import Hop, Packet, TraceResult

__all__ = [
    "PURPOSES",
    "Check",
    "Evidence",
    "ModeRules",
    "ServiceComparison",
    "compare_service",
    "run_compare",
]

#: The groups a Service's rules are sorted into, in display order.
PURPOSES = ("dispatch", "masquerade", "load-balancing", "DNAT", "firewall/no-endpoints")


@dataclass(frozen=True, slots=True)
class ModeRules:
    """One mode's lines for the Service: ``(purpose, lines)`` in :data:`PURPOSES` order."""

    mode: str
    groups: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one mode did in one check: a sentence, the lines behind it, and the facts
    (``signature``) the two modes are compared on."""

    summary: str
    detail: tuple[str, ...]
    signature: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Check:
    """One question asked of both modes; ``title`` says what was sent or read."""

    key: str
    title: str
    left: Evidence
    right: Evidence

    @property
    def differs(self) -> bool:
        return self.left.signature != self.right.signature


@dataclass(frozen=True, slots=True)
class ServiceComparison:
    """One Service on one node in two modes: its rules and the checks."""

    service: str
    node: str
    left: ModeRules
    right: ModeRules
    checks: tuple[Check, ...]

    def check(self, key: str) -> Check:
        return next(c for c in self.checks if c.key == key)

    def to_json(self) -> dict[str, Any]:
        modes = (self.left, self.right)
        return {
            "service": self.service,
            "node": self.node,
            "modes": [{"mode": r.mode, "rules": {p: list(x) for p, x in r.groups}} for r in modes],
            "checks": [
                {
                    "check": c.key,
                    "title": c.title,
                    "differs": c.differs,
                    "sides": [
                        {"mode": r.mode, "summary": e.summary, "detail": list(e.detail)}
                        for r, e in zip(modes, (c.left, c.right), strict=True)
                    ],
                }
                for c in self.checks
            ],
        }


class _Mode:
    """One mode's rendering and tracer, and where each traced rule sits in it."""

    def __init__(self, cluster: Cluster, mode: str, node: str, family: int) -> None:
        self.mode = mode
        self.payload = cluster.render(mode, node, family)
        self.tracer = cluster.tracer(node, mode, family)
        self.nft = isinstance(self.payload, NftTransaction)
        # Each chain's rules in order, with the text a trace hop shows for them.
        self.chains: dict[tuple[str, str], list[tuple[str, Any]]] = {}
        if isinstance(self.payload, NftTransaction):
            fam, label = self.payload.family, f"{self.payload.family} {self.payload.table}"
            for obj in self.payload.objects(nf.NftRule, "add"):
                assert isinstance(obj, nf.NftRule)
                entry = (nft_rule_text(obj, fam), obj)
                self.chains.setdefault((label, obj.chain), []).append(entry)
        else:
            for table in self.payload.tables:
                for chain, rules in table.rules_by_chain().items():
                    self.chains[(table.name, chain)] = [(rule_text(r), r) for r in rules]

    def is_service_chain(self, chain: str) -> bool:
        return nft_service_chain(chain) if self.nft else ipt_service_chain(chain)

    def locate(self, hop: Hop) -> tuple[int, int, Any] | None:
        """The hop's rule: its index in its chain, the chain's length, the rule object."""
        rules = self.chains.get((hop.table, hop.chain), [])
        found = [(i, rule) for i, (text, rule) in enumerate(rules) if text == hop.rule]
        return (found[0][0], len(rules), found[0][1]) if found else None

    def trace(self, src: str, dst: str, proto: str, dport: int) -> TraceResult:
        packet = Packet(src, dst, proto, 40000, dport)
        if self.tracer.node.is_local(src):
            return self.tracer.sent(packet)
        return self.tracer.arriving(packet)

    def service_rules(self, namespace: str, name: str, cluster_ips: Sequence[str]) -> ModeRules:
        groups: dict[str, list[str]] = {p: [] for p in PURPOSES}
        lines = nft_lines if self.nft else iptables_lines
        for purpose, line in lines(self.payload, namespace, name, cluster_ips):
            groups[purpose].append(line)
        return ModeRules(self.mode, tuple((p, tuple(ls)) for p, ls in groups.items()))


def _outcome(result: TraceResult) -> Evidence:
    """A trace as a sentence: the endpoints it reached, or the rule that decided it."""
    verdict, branch = result.verdict, result.branches[0]
    chains = dict.fromkeys(h.chain for h in branch.hops if h.why != "chain policy")
    path = ("path: " + " > ".join(chains),) if chains else ()
    if verdict == "DNAT":
        shares = [f"{ip}:{port} ({p})" for ip, port, p in result.endpoints]
        return Evidence("DNAT to " + ", ".join(shares), path, (verdict, *sorted(shares)))
    if verdict in ("REJECT", "DROP") and branch.hops:
        last = branch.hops[-1]
        return Evidence(f"{verdict} in {last.chain}: {last.rule}", path, (verdict,))
    if verdict == "NONE":
        summary = "NONE: no rule decided; the packet goes where routing sends it"
        return Evidence(summary, path, (verdict,))
    return Evidence(verdict, path, (verdict,))


def _client(cluster: Cluster, node: str, family: int) -> str:
    """A pod address on ``node`` (the last of its pod CIDR), or the node's own address."""
    cfg = cluster.config.node(node)
    for cidr in cfg.pod_cidrs:
        if cidr.version == family:
            return str(cidr.broadcast_address - 1)
    return str(next(a for a in cfg.addresses if a.version == family))


def _selection(mode: _Mode, result: TraceResult) -> Evidence:
    """The rules that choose among the endpoints, in the chain where the trace chose, and
    the share of the flows reaching each rule that it takes."""

    if result.verdict != "DNAT":
        return Evidence(f"no endpoint chosen ({result.verdict})", (), ("none",))
    for hop in result.branches[0].hops:
        rules = [rule for _, rule in mode.chains.get((hop.table, hop.chain), [])]
        shares: list[Fraction] = []
        lines: list[str] = []
        if mode.nft:
            for pick in (e for r in rules for e in r.exprs if isinstance(e, nf.NumgenVmap)):
                n = len(pick.targets)
                shares += [Fraction(1, n)] * n
                lines.append(f"{hop.chain}: numgen random mod {n}: one draw, 1/{n} per target")
        else:
            for r in rules:
                t = r.target
                if not isinstance(t, xt.Jump | xt.Goto) or not t.chain.startswith("KUBE-SEP-"):
                    continue
                if any(isinstance(m, xt.Recent) for m in r.matches):
                    continue  # a ClientIP-affinity shortcut, not a random choice
                stat = next((m for m in r.matches if isinstance(m, xt.Statistic)), None)
                share = Fraction(1) if stat is None else stat.fraction().limit_denominator(1000)
                written = "" if stat is None else f" (--probability {stat.probability})"
                taken = "all" if share == 1 else str(share)
                shares.append(share)
                lines.append(
                    f"{hop.chain} rule {len(lines) + 1}: {taken} of the flows left{written}"
                )
        if lines:
            traced = ", ".join(f"{ip}:{port} {p}" for ip, port, p in result.endpoints)
            summary = f"{len(lines)} rule(s) in {hop.chain} taking {', '.join(map(str, shares))}"
            return Evidence(
                f"{summary}; traced shares: {traced}", tuple(lines), tuple(map(str, shares))
            )
    return Evidence("no endpoint-choosing rule in the trace", (), ("unknown",))


def _dispatch(mode: _Mode, result: TraceResult) -> Evidence:
    """The rule that sent the packet into the Service's own chains, and its place."""

    hops = result.branches[0].hops
    for hop, after in itertools.pairwise(hops):
        where = mode.locate(hop)
        if mode.is_service_chain(hop.chain) or not mode.is_service_chain(after.chain) or not where:
            continue
        index, length, rule = where
        text = f"rule {index + 1} of {length} in {hop.table} {hop.chain}: {index} passed first"
        if isinstance(mode.payload, NftTransaction):
            elements = mode.payload.objects(nf.NftElement, "add")
            for m in (e.map_name for e in rule.exprs if isinstance(e, nf.VmapLookup)):
                size = sum(1 for e in elements if isinstance(e, nf.NftElement) and e.container == m)
                text += f", then one lookup in @{m} ({size} elements)"
        return Evidence(text, (f"{hop.chain}: {hop.rule}",), (str(index), str(length)))
    return Evidence(f"no per-Service chain reached ({result.verdict})", (), ("none",))


def compare_service(
    cluster: Cluster,
    namespace: str,
    name: str,
    node: str | None = None,
    family: int = 4,
    modes: tuple[str, str] = ("iptables", "nftables"),
) -> ServiceComparison:
    """Service ``namespace/name`` on ``node`` in two modes (NotFoundError if absent)."""
    node = node or cluster.default_node()
    pair = (_Mode(cluster, modes[0], node, family), _Mode(cluster, modes[1], node, family))
    return _compare(cluster, cluster.get("Service", name, namespace), node, family, pair)


def _compare(
    cluster: Cluster, svc: Service, node: str, family: int, pair: tuple[_Mode, _Mode]
) -> ServiceComparison:
    ns, name = svc.metadata.namespace or "default", svc.metadata.name or ""
    ips = [i for i in svc.spec.cluster_ips if i != "None" and _ip_version(i) == family]
    left, right = (m.service_rules(ns, name, ips) for m in pair)
    checks: list[Check] = []

    def ask(key: str, title: str, packet: tuple[str, str, str, int], read: Any) -> None:
        found = (read(m, m.trace(*packet)) for m in pair)
        checks.append(Check(key, f"{packet[2]} {packet[0]} -> {title}", *found))

    if ips and svc.spec.ports:
        cip, first = ips[0], svc.spec.ports[0]
        proto, client = (first.protocol or "TCP").lower(), _client(cluster, node, family)
        used = {p.port for p in svc.spec.ports if (p.protocol or "TCP").lower() == proto}
        around = [*range(first.port + 1, 65536), *range(1, first.port)]
        spare = next(p for p in around if p not in used)
        title = f"{cip}:{spare}, a port {ns}/{name} does not have"
        ask("unallocated-port", title, (client, cip, proto, spare), lambda m, r: _outcome(r))
        nodeports = [p for p in svc.spec.ports if p.node_port is not None]
        if nodeports:
            loop, np = "127.0.0.1" if family == 4 else "::1", nodeports[0]
            packet = (loop, loop, (np.protocol or "TCP").lower(), np.node_port or 0)
            title = f"{loop}:{np.node_port}, the NodePort of port {np.port}, from the node itself"
            ask("localhost-nodeport", title, packet, lambda m, r: _outcome(r))
        service_port = (client, cip, proto, first.port)
        ask(
            "endpoint-choice",
            f"{cip}:{first.port}: the rules that choose an endpoint",
            service_port,
            _selection,
        )
        ask(
            "dispatch",
            f"{cip}:{first.port}: the rule that finds the Service",
            service_port,
            _dispatch,
        )
    return ServiceComparison(f"{ns}/{name}", node, left, right, tuple(checks))


def _ip_version(address: str) -> int:
    return ipaddress.ip_address(address).version


# --- the command -------------------------------------------------------------------------


def run_compare(
    files: Sequence[Path],
    config_path: Path | None,
    node: str | None,
    family: int,
    service: str | None,
    output: str,
    seed: int,
) -> int:
    """``ksl render --compare``: print the comparison of one Service, or of every Service
    outside ``kube-system`` except ``default/kubernetes``."""

    if output not in ("text", "json"):
        typer.echo(
            f'error: unable to match a printer suitable for the output format "{output}"', err=True
        )
        return 2
    cluster, ok = build_cluster(files, config_path, seed)
    try:
        node = node or cluster.default_node()
        cluster.config.node(node)
        if service is not None:
            ns, _, name = service.rpartition("/")
            services = [cluster.get("Service", name, ns or "default")]
        else:
            services = [
                s
                for s in cluster.list("Service", None)
                if s.metadata.namespace != "kube-system"
                and (s.metadata.namespace, s.metadata.name) != ("default", "kubernetes")
            ]
        pair = (_Mode(cluster, "iptables", node, family), _Mode(cluster, "nftables", node, family))
    except (ServiceLabError, KeyError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    found = [_compare(cluster, s, node, family, pair) for s in services]
    if output == "json":
        typer.echo(json.dumps([c.to_json() for c in found], indent=2))
    else:
        _print(found)
    return 0 if ok else 1


def _print(comparisons: Sequence[ServiceComparison]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not comparisons:
        console.print("no Services to compare (use -f to add some, or --service NS/NAME)")
    for c in comparisons:
        table = Table(title=f"Service {c.service} on {c.node}", show_lines=True, expand=True)
        table.add_column("purpose", no_wrap=True)
        for rules in (c.left, c.right):
            table.add_column(rules.mode, overflow="fold", ratio=1)
        for (purpose, left), (_, right) in zip(c.left.groups, c.right.groups, strict=True):
            table.add_row(purpose, "\n".join(left) or "-", "\n".join(right) or "-")
        console.print(table, markup=False)
        for heading, differs in (("Differences", True), ("The same in both modes", False)):
            chosen = [k for k in c.checks if k.differs is differs]
            if chosen:
                console.print(f"{heading}:", style="bold", markup=False)
            for k in chosen:
                console.print(f"* {k.key}: {k.title}", markup=False)
                for rules, e in ((c.left, k.left), (c.right, k.right)):
                    console.print(f"    {rules.mode}: {e.summary}", markup=False)
                    for line in e.detail:
                        console.print(f"      {line}", markup=False)
        console.print()
