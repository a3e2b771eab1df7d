"""Walk a packet through nftables tables as the kernel would: :class:`NftTracer`.

The nftables twin of :class:`~k8s_service_lab.tracer.engine.Tracer`, with the same
:class:`~k8s_service_lab.tracer.model.TraceResult`. At each hook the kernel runs every base
chain registered there, lowest priority first, across all tables of the packet's family
(``ip`` or ``ip6``, and ``inet``): an ``accept`` ends only that chain, ``drop`` and
``reject`` end the packet. A packet *arriving* meets prerouting (kube-proxy's
``filter-prerouting-pre-dnat`` at -110, then ``nat-prerouting`` at -100), the routing
decision from the node's own addresses, then input (local) or forward and postrouting; a
packet the node *sends* meets output (-110, -100, 0) and postrouting, and comes back in
through input when it was for the node itself. Rules are evaluated expression by
expression; ``vmap`` lookups go through indexed elements, ``numgen random mod N`` splits the
trace into N branches of exactly 1/N (or the kernel's own share), ``update @set`` and
``@set`` lookups remember affinity like :meth:`Tracer.remember`, and an expression nobody
modelled marks the rule "not evaluated" instead of guessing::

    >>> from k8s_service_lab.netfilter.nftables_parse import parse_nft
    >>> rs = parse_nft('''table ip kube-proxy {
    ...     map service-ips {
    ...         type ipv4_addr . inet_proto . inet_service : verdict
    ...         elements = { 10.96.0.1 . tcp . 443 : goto svc }
    ...     }
    ...     chain nat-prerouting {
    ...         type nat hook prerouting priority dstnat; policy accept;
    ...         ip daddr . meta l4proto . th dport vmap @service-ips
    ...     }
    ...     chain svc {
    ...         numgen random mod 2 vmap { 0 : goto ep1, 1 : goto ep2 }
    ...     }
    ...     chain ep1 {
    ...         meta l4proto tcp dnat to 10.244.1.3:6443
    ...     }
    ...     chain ep2 {
    ...         meta l4proto tcp dnat to 10.244.2.4:6443
    ...     }
    ... }''')
    >>> t = NftTracer(rs, NodeContext.of(["172.18.0.3"]))
    >>> r = t.arriving(Packet("10.244.1.5", "10.96.0.1", "tcp", 40000, 443))
    >>> r.verdict, [(ip, port, str(p)) for ip, port, p in r.endpoints]
    ('DNAT', [('10.244.1.3', 6443, '1/2'), ('10.244.2.4', 6443, '1/2')])
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netfilter.nftables import (
    Counter,
    Dnat,
    MarkSet,
    Masquerade,
    NftChain,
    NftElement,
    NftRule,
    NftTransaction,
    NumgenVmap,
    SetUpdate,
    Verdict,
    VmapLookup,
)
from k8s_service_lab.netfilter.nftables_dump import (
    AnyRule,
    DumpRule,
    NftRuleset,
    NftTableDump,
    Opaque,
    Snat,
)
from k8s_service_lab.netfilter.nftables_state import NftState
from k8s_service_lab.netfilter.nftables_text import rule_text
from k8s_service_lab.tracer.matches import PROBABILITIES, Flow
from k8s_service_lab.tracer.model import Branch, Hop, NodeContext, Packet, TraceResult
from k8s_service_lab.tracer.nft_matches import (
    ElementIndex,
    evaluate,
    host_port,
    key_part,
    numgen_shares,
    packet_key,
)

__all__ = ["NftTraceError", "NftTracer"]

_MAX_DEPTH = 64
_M32 = 0xFFFFFFFF
# Which NAT a hook's nat chains set up: once a connection has it, later nat chains of the
# same hook are skipped (nf_nat_inet_fn stops at the first chain that binds the mapping).
_MANIP = {"prerouting": "DNAT", "output": "DNAT", "input": "SNAT", "postrouting": "SNAT"}
# What a rule's evaluation says next: go on in the chain, leave it, or a final verdict.
_NEXT, _RETURN = "next", "return"


class NftTraceError(ServiceLabError, ValueError):
    """Tables the kernel would not have loaded (a jump loop, a jump to a missing chain)."""


@dataclass(frozen=True, slots=True)
class _State:
    flow: Flow
    prob: Fraction = Fraction(1)
    hops: tuple[Hop, ...] = ()
    endpoint: tuple[str, int] | None = None
    masquerade: bool = False
    explicit: bool = False
    looped: bool = False

    def hop(self, hop: Hop) -> _State:
        return replace(self, hops=(*self.hops, hop))


class _Table:
    """One table ready to walk: rules by chain, and set/map indexes built on first use."""

    def __init__(self, dump: NftTableDump) -> None:
        self.dump = dump
        self.label = f"{dump.family} {dump.name}"
        self.rules = dump.rules
        self.base = [c for c in dump.chains if c.hook is not None and c.priority is not None]
        self._indexes: dict[str, ElementIndex] = {}

    def index(self, name: str) -> ElementIndex | None:
        found = self._indexes.get(name)
        if found is None and name in self.dump.containers:
            found = self._indexes[name] = ElementIndex(self.dump.elements.get(name, ()))
        return found


class NftTracer:
    """Evaluate packets against nftables tables on one node.

    ``rules``: a parsed dump (:class:`~k8s_service_lab.netfilter.nftables_dump.NftRuleset`),
    a kernel-side :class:`~k8s_service_lab.netfilter.nftables_state.NftState`, or a
    transaction as the nftables backend renders it. ``probabilities`` ``"kernel"`` gives each
    numgen branch the exact share of 32-bit random values the kernel maps to it; any other
    reading (``"intended"``, ``"written"``) gives exactly ``1/N``.
    """

    def __init__(
        self,
        rules: NftRuleset | NftState | NftTransaction,
        node: NodeContext,
        *,
        probabilities: str = "intended",
    ) -> None:
        if probabilities not in PROBABILITIES:
            raise ValueError(f"probabilities must be one of {PROBABILITIES}")
        self.probabilities = probabilities
        self.ruleset = rules if isinstance(rules, NftRuleset) else NftRuleset.of(rules)
        self.node = node
        self._tables = [_Table(t) for t in self.ruleset.tables]
        self._not_evaluated: list[str] = []
        self._session: frozenset[tuple[str, str]] = frozenset()
        self._texts: dict[int, str] = {}
        self._hooks: dict[tuple[str, int], list[tuple[_Table, NftChain]]] = {}

    # -- public ----------------------------------------------------------------------------

    def arriving(self, packet: Packet) -> TraceResult:
        """A packet that reaches the node from outside (a pod on another node, a client)."""
        return self._run(packet, ("prerouting", "ROUTE"))

    def sent(self, packet: Packet) -> TraceResult:
        """A packet the node itself (or a hostNetwork pod) sends."""
        return self._run(packet, ("output", "postrouting", "LOOPBACK"))

    def remember(self, branch: Branch) -> None:
        """Let later traces see the addresses ``branch``'s ``update @set`` statements added
        (ClientIP affinity: the next connection from that client finds its endpoint). The
        set's timeout is taken as not yet expired: a trace session has no clock."""
        self._session = self._session | branch.recent

    def forget(self) -> None:
        """Start a new trace session: dynamic sets hold only what the dump showed."""
        self._session = frozenset()

    # -- hooks -----------------------------------------------------------------------------

    def _run(self, packet: Packet, steps: tuple[str, ...]) -> TraceResult:
        self._not_evaluated = []
        done: list[Branch] = []
        flow = Flow(packet, recent=self._session, original=packet)
        pending: list[tuple[_State, tuple[str, ...]]] = [(_State(flow), steps)]
        while pending:
            state, rest = pending.pop()
            if not rest:
                done.append(self._branch(state, None))
                continue
            step, rest = rest[0], rest[1:]
            local = self.node.is_local(state.flow.packet.dst)
            if step == "ROUTE":
                pending.append((state, ("input",) if local else ("forward", "postrouting")))
            elif step == "LOOPBACK":
                if local:
                    # Back in through lo; its connection is already bound, so nat chains
                    # (which only see unbound connections) are not consulted again.
                    looped = replace(state.flow, packet=replace(state.flow.packet, in_iface="lo"))
                    pending.append((replace(state, flow=looped, looped=True), ("input",)))
                else:
                    done.append(self._branch(state, None))
            else:
                for out, verdict in reversed(self._hook(step, state)):
                    if verdict is None:
                        pending.append((out, rest))
                    else:
                        done.append(self._branch(out, verdict))
        return TraceResult.of(done, self._not_evaluated)

    def _branch(self, s: _State, verdict: str | None) -> Branch:
        if verdict is None:
            verdict = "DNAT" if s.endpoint else ("ACCEPT" if s.explicit else "NONE")
        recent = s.flow.recent - self._session
        return Branch(s.prob, verdict, s.flow.packet, s.hops, s.masquerade, s.endpoint, recent)

    def _base_chains(self, hook: str, version: int) -> list[tuple[_Table, NftChain]]:
        """The base chains on ``hook`` for IPv``version`` packets, lowest priority first."""
        found = self._hooks.get((hook, version))
        if found is None:
            families = ("ip", "inet") if version == 4 else ("ip6", "inet")
            chains = [
                (c.priority or 0, order, t, c)
                for order, t in enumerate(self._tables)
                if t.dump.family in families
                for c in t.base
                if c.hook == hook
            ]
            chains.sort(key=lambda x: (x[0], x[1]))
            found = self._hooks[(hook, version)] = [(t, c) for _, _, t, c in chains]
        return found

    def _hook(self, hook: str, state: _State) -> list[tuple[_State, str | None]]:
        """Every base chain of ``hook`` in priority order: states still alive (``None``)
        and those dropped or rejected."""
        version = 6 if ":" in state.flow.packet.dst else 4
        live = [state]
        finished: list[tuple[_State, str | None]] = []
        for table, chain in self._base_chains(hook, version):
            name = chain.name
            nxt = []
            for s in live:
                if chain.type == "nat" and (s.looped or _MANIP[hook] in s.flow.nat):
                    nxt.append(s)
                    continue
                for out, outcome in self._walk(table, name, s, 0, 0):
                    if outcome in ("drop", "reject"):
                        finished.append((out, outcome.upper()))
                    elif outcome is None and table.dump.policies.get(name) == "drop":
                        hop = Hop(table.label, name, "policy drop", None, "chain policy")
                        finished.append((out.hop(hop), "DROP"))
                    else:
                        nxt.append(out)
            live = nxt
        alive: list[tuple[_State, str | None]] = [(s, None) for s in live]
        return alive + finished

    # -- chains and rules --------------------------------------------------------------------

    def _walk(
        self, table: _Table, chain: str, state: _State, start: int, depth: int
    ) -> list[tuple[_State, str | None]]:
        """Run ``chain`` from rule ``start``: ``(state, None)`` when it fell off the end or
        returned, else ``(state, "accept" | "drop" | "reject")``."""
        if depth > _MAX_DEPTH:
            raise NftTraceError(f"{table.label}: chain {chain} nested too deep (a loop?)")
        rules = table.rules.get(chain)
        if rules is None:
            raise NftTraceError(f"{table.label}: jump to missing chain {chain}")
        for i in range(start, len(rules)):
            results = self._rule(table, rules[i], state, depth)
            if len(results) == 1 and results[0][1] == _NEXT:
                state = results[0][0]
                continue
            out: list[tuple[_State, str | None]] = []
            for s, outcome in results:
                if outcome == _NEXT:
                    out += self._walk(table, chain, s, i + 1, depth)
                else:
                    out.append((s, None if outcome == _RETURN else outcome))
            return out
        return [(state, None)]

    def _text(self, table: _Table, rule: AnyRule) -> str:
        if isinstance(rule, DumpRule) and rule.text is not None:
            return rule.text
        text = self._texts.get(id(rule))
        if text is None and isinstance(rule, NftRule):
            text = rule_text(rule, "ip6" if table.dump.family == "ip6" else "ip")
            self._texts[id(rule)] = text
        return text or " ".join(type(e).__name__ for e in rule.exprs)

    def _rule(
        self, table: _Table, rule: AnyRule, state: _State, depth: int
    ) -> list[tuple[_State, str]]:
        """One rule, expression by expression: ``(state, what next)`` per branch."""
        flow = state.flow
        reasons: list[str] = []
        for expr in rule.exprs:
            if isinstance(expr, Counter):
                continue
            if isinstance(expr, MarkSet):
                value = int(expr.value, 0)
                mark = flow.mark | value if expr.op == "or" else flow.mark ^ value
                flow = replace(flow, mark=mark & _M32)
                reasons.append(f"mark set to {flow.mark:#x}")
                continue
            if isinstance(expr, SetUpdate):
                address = flow.packet.src if expr.field == "saddr" else flow.packet.dst
                flow = replace(flow, recent=flow.recent | {(expr.set_name, key_part(address))})
                reasons.append(f"{address} added to @{expr.set_name}")
                continue
            if isinstance(expr, Opaque):
                return [self._unknown(table, rule, state, "expression not modelled")]
            if isinstance(expr, Verdict | VmapLookup | NumgenVmap | Dnat | Masquerade | Snat):
                return self._act(table, rule, replace(state, flow=flow), expr, reasons, depth)
            outcome, why = evaluate(expr, flow, self.node, table.index)
            if outcome is None:
                return [self._unknown(table, rule, state, why)]
            if not outcome:
                return [(replace(state, flow=flow), _NEXT)]
            reasons.append(why)
        hop = self._hop(table, rule, "; ".join(reasons) or "matches every packet")
        return [(replace(state, flow=flow).hop(hop), _NEXT)]

    def _hop(self, table: _Table, rule: AnyRule, why: str, comment: str | None = None) -> Hop:
        return Hop(table.label, rule.chain, self._text(table, rule), rule.comment or comment, why)

    def _unknown(self, table: _Table, rule: AnyRule, state: _State, why: str) -> tuple[_State, str]:
        # Never guess: name the rule, and go on as if it did not match.
        text = self._text(table, rule)
        self._not_evaluated.append(f"{table.label} {rule.chain}: {text} ({why})")
        return state.hop(self._hop(table, rule, f"not evaluated: {why}")), _NEXT

    def _act(
        self,
        table: _Table,
        rule: AnyRule,
        state: _State,
        expr: Verdict | VmapLookup | NumgenVmap | Dnat | Masquerade | Snat,
        reasons: list[str],
        depth: int,
    ) -> list[tuple[_State, str]]:
        """The rule matched up to ``expr``, which decides: a verdict, a map, a NAT."""
        why = "; ".join(reasons)
        flow = state.flow
        if isinstance(expr, VmapLookup):
            key = packet_key(expr.fields, flow.packet)
            index = table.index(expr.map_name)
            if index is None:
                return [self._unknown(table, rule, state, f"map @{expr.map_name} not in dump")]
            element = index.lookup(key)
            if element is None:
                return [(state, _NEXT)]
            return self._element(table, rule, state, expr.map_name, key, element, why, depth)
        if isinstance(expr, NumgenVmap):
            out = []
            shares = numgen_shares(len(expr.targets), self.probabilities)
            for i, (target, share) in enumerate(zip(expr.targets, shares, strict=True)):
                took = f"numgen random mod {len(expr.targets)} = {i}: {share} of the flows"
                hop = self._hop(table, rule, "; ".join([*reasons, took]))
                branch = replace(state, prob=state.prob * share).hop(hop)
                out += self._verdict(table, target, branch, depth)
            return out
        if isinstance(expr, Dnat):
            ip, port = host_port(expr.to)
            dport = flow.packet.dport if port is None else port
            packet = replace(flow.packet, dst=ip, dport=dport)
            nflow = replace(flow, packet=packet, nat=flow.nat | {"DNAT"})
            hop = self._hop(table, rule, "; ".join([*reasons, f"dnat to {expr.to}"]))
            return [(replace(state, flow=nflow, endpoint=(ip, dport)).hop(hop), "accept")]
        if isinstance(expr, Masquerade | Snat):
            if isinstance(expr, Snat):
                src = host_port(expr.to)[0]
            else:
                src = self.node.masquerade_for(flow.packet.dst) or flow.packet.src
            packet = replace(flow.packet, src=src)
            nflow = replace(flow, packet=packet, nat=flow.nat | {"SNAT"})
            hop = self._hop(table, rule, "; ".join([*reasons, f"source rewritten to {src}"]))
            done = replace(state, flow=nflow, masquerade=True, explicit=True).hop(hop)
            return [(done, "accept")]
        hop = self._hop(table, rule, "; ".join([*reasons, _said(expr)]))
        return self._verdict(table, expr, state.hop(hop), depth)

    def _element(
        self,
        table: _Table,
        rule: AnyRule,
        state: _State,
        name: str,
        key: tuple[str, ...],
        element: NftElement,
        why: str,
        depth: int,
    ) -> list[tuple[_State, str]]:
        if element.value is None:
            return [self._unknown(table, rule, state, f"@{name} maps to data, not a verdict")]
        v = element.value
        found = f"{' . '.join(key)} in @{name}: {_said(v)}"
        hop = self._hop(table, rule, "; ".join(filter(None, [why, found])), element.comment)
        return self._verdict(table, v, state.hop(hop), depth)

    def _verdict(
        self, table: _Table, v: Verdict, state: _State, depth: int
    ) -> list[tuple[_State, str]]:
        if v.kind == "accept":
            return [(replace(state, explicit=True), "accept")]
        if v.kind in ("drop", "reject"):
            return [(state, v.kind)]
        if v.kind == "return":
            return [(state, _RETURN)]
        assert v.chain is not None
        out = []
        for s, outcome in self._walk(table, v.chain, state, 0, depth + 1):
            if outcome is None:
                # A jump comes back to the next rule; a goto's chain ending ends ours too.
                out.append((s, _NEXT if v.kind == "jump" else _RETURN))
            else:
                out.append((s, outcome))
        return out


def _said(v: Verdict) -> str:
    return v.kind if v.chain is None else f"{v.kind} {v.chain}"
