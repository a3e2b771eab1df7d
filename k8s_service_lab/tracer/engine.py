r"""Walk a packet through a :class:`~k8s_service_lab.netfilter.Ruleset` as the kernel would.

:class:`Tracer` runs the built-in chains in hook order for a packet *arriving* on the node
(nat PREROUTING → routing → filter INPUT or FORWARD → nat POSTROUTING) or *sent* by it
(nat OUTPUT → filter OUTPUT → nat POSTROUTING), following jumps, gotos and returns.
Random rules split the trace into branches with exact probabilities (the decimal written,
as a Fraction). Unlike upstream's test-only ``tracePacket`` (proxier_test.go), which skips
mark/ctstate/rcheck rules and scans filter chains directly, this evaluates every match.

    >>> from k8s_service_lab.netfilter import parse_save
    >>> rs = parse_save("*nat\n:PREROUTING ACCEPT [0:0]\n:SVC - [0:0]\n"
    ...     "-A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j SVC\n"
    ...     "-A SVC -m statistic --mode random --probability 0.5"
    ...     " -j DNAT --to-destination 10.0.0.1:8080\n"
    ...     "-A SVC -j DNAT --to-destination 10.0.0.2:8080\nCOMMIT\n")
    >>> t = Tracer(rs, NodeContext.of(["172.18.0.3"]))
    >>> r = t.arriving(Packet("10.244.1.5", "10.96.0.1", "tcp", 40000, 80))
    >>> r.verdict, [(ip, port, str(p)) for ip, port, p in r.endpoints]
    ('DNAT', [('10.0.0.1', 8080, '1/2'), ('10.0.0.2', 8080, '1/2')])
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass, replace
from fractions import Fraction

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netfilter import (
    DNAT,
    SNAT,
    Accept,
    Comment,
    ConnMark,
    Drop,
    Goto,
    Jump,
    Log,
    MarkTarget,
    Masquerade,
    Recent,
    Reject,
    Return,
    Rule,
    Ruleset,
    Table,
    rule_text,
)
from k8s_service_lab.tracer.index import ChainIndex
from k8s_service_lab.tracer.matches import PROBABILITIES, Flow, evaluate
from k8s_service_lab.tracer.model import Branch, Hop, NodeContext, Packet, TraceResult

__all__ = ["ARRIVING", "SENT", "TraceError", "Tracer", "merge"]

# Hook order by priority (netfilter_ipv4.h: raw -300, mangle -150, nat DNAT -100,
# filter 0, nat SNAT 100). "ROUTE" marks the routing decision after PREROUTING; "LOOPBACK"
# the return through lo of a packet the node sent to itself, which meets the INPUT hooks
# (its connection is already NATed, so nat PREROUTING is not consulted again).
ARRIVING = (
    ("raw", "PREROUTING"),
    ("mangle", "PREROUTING"),
    ("nat", "PREROUTING"),
    ("ROUTE", ""),
)
_TO_LOCAL = (("mangle", "INPUT"), ("filter", "INPUT"), ("nat", "INPUT"))
_FORWARDED = (
    ("mangle", "FORWARD"),
    ("filter", "FORWARD"),
    ("mangle", "POSTROUTING"),
    ("nat", "POSTROUTING"),
)
SENT = (
    ("raw", "OUTPUT"),
    ("mangle", "OUTPUT"),
    ("nat", "OUTPUT"),
    ("filter", "OUTPUT"),
    ("mangle", "POSTROUTING"),
    ("nat", "POSTROUTING"),
    ("LOOPBACK", ""),
)
_MAX_DEPTH = 64
_M32 = 0xFFFFFFFF
_ONE = Fraction(1)
_ZERO = Fraction(0)


class TraceError(ServiceLabError, ValueError):
    """A ruleset the kernel would not have loaded (a jump loop, a jump to nowhere)."""


def merge(*rulesets: Ruleset) -> Ruleset:
    """One ruleset from several (a restore payload plus the jump rules kube-proxy inserts).

    Tables of the same name are joined: chains declared once, statements in the given
    order, so ``-I`` inserts of later rulesets land in front of earlier rules.
    """
    tables: dict[str, Table] = {}
    for rs in rulesets:
        for t in rs.tables:
            old = tables.get(t.name)
            if old is None:
                tables[t.name] = t
                continue
            known = set(old.chain_names())
            chains = old.chains + tuple(c for c in t.chains if c.name not in known)
            tables[t.name] = Table(t.name, chains, old.statements + t.statements)
    family = rulesets[0].family if rulesets else 4
    return Ruleset(family, tuple(tables.values()))


@dataclass(frozen=True, slots=True)
class _State:
    flow: Flow
    prob: Fraction = Fraction(1)
    hops: tuple[Hop, ...] = ()
    endpoint: tuple[str, int] | None = None
    masquerade: bool = False
    explicit: bool = False


def _xmark(t: MarkTarget) -> tuple[int, int]:
    # libxt_MARK: every form becomes "mark = (mark & ~mask) ^ value".
    value = int(t.value, 0)
    mask = _M32 if t.mask is None else int(t.mask, 0)
    if t.op == "set-xmark":
        return value, mask
    if t.op == "set-mark":
        return value, (mask | value) & _M32
    if t.op == "or-mark":
        return value, value
    if t.op == "and-mark":
        return 0, ~value & _M32
    return value, 0  # xor-mark


def _split_hostport(to: str) -> tuple[str, int | None]:
    if to.startswith("["):
        host, _, rest = to[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if to.count(":") == 1:
        host, port = to.split(":")
        return host, int(port.split("-")[0])
    return to, None


class Tracer:
    """Evaluate packets against one ruleset on one node.

    ``indexed`` dispatches big chains through a (dst, proto, dport) index
    (:class:`~k8s_service_lab.tracer.index.ChainIndex`); ``False`` scans every rule.
    ``probabilities`` says how a written ``--probability`` is read
    (:data:`~k8s_service_lab.tracer.matches.PROBABILITIES`).
    """

    def __init__(
        self,
        ruleset: Ruleset,
        node: NodeContext,
        *,
        indexed: bool = True,
        probabilities: str = "intended",
    ) -> None:
        if probabilities not in PROBABILITIES:
            raise ValueError(f"probabilities must be one of {PROBABILITIES}")
        self.probabilities = probabilities
        self.ruleset = ruleset
        self.node = node
        self.indexed = indexed
        self._rules = {t.name: t.rules_by_chain() for t in ruleset.tables}
        self._policies = {
            t.name: {c.name: c.policy for c in t.chains if c.policy is not None}
            for t in ruleset.tables
        }
        self._index: dict[tuple[str, str], ChainIndex] = {}
        self._not_evaluated: list[str] = []
        self._session: frozenset[tuple[str, str]] = frozenset()
        # id() keys are safe: the ruleset (and so every rule) lives as long as the tracer.
        self._texts: dict[int, str] = {}

    # -- public ----------------------------------------------------------------------------

    def arriving(self, packet: Packet) -> TraceResult:
        """A packet that reaches the node from outside (a pod on another node, a client)."""
        return self._run(packet, ARRIVING)

    def sent(self, packet: Packet) -> TraceResult:
        """A packet the node itself (or a hostNetwork pod) sends."""
        return self._run(packet, SENT)

    def remember(self, branch: Branch) -> None:
        """Let later traces see what ``branch``'s ``-m recent --set`` rules recorded.

        This is how ClientIP session affinity shows: trace a first connection, pick the
        branch that happened, remember it, and the next connection from that client meets
        the ``--rcheck`` rule of the chosen endpoint. (The ``--seconds`` timeout is taken
        as not yet expired: a trace session has no clock.)
        """
        self._session = self._session | branch.recent

    def forget(self) -> None:
        """Start a new trace session: no ``recent`` list holds anything."""
        self._session = frozenset()

    # -- hooks -----------------------------------------------------------------------------

    def _run(self, packet: Packet, hooks: tuple[tuple[str, str], ...]) -> TraceResult:
        self._not_evaluated = []
        done: list[Branch] = []
        start = Flow(packet, recent=self._session, original=packet)
        pending = [(_State(start), hooks)]
        while pending:
            state, rest = pending.pop()
            if not rest:
                done.append(self._branch(state, None))
                continue
            (table, chain), rest = rest[0], rest[1:]
            if table == "VERDICT":
                done.append(self._branch(state, chain))
                continue
            if table == "LOOPBACK":
                if self.node.is_local(state.flow.packet.dst):
                    # Back in through lo: "-i lo -j ACCEPT" rules see it so.
                    flow = state.flow
                    looped = replace(flow, packet=replace(flow.packet, in_iface="lo"))
                    pending.append((replace(state, flow=looped), _TO_LOCAL + rest))
                else:
                    done.append(self._branch(state, None))
                continue
            if table == "ROUTE":
                local = self.node.is_local(state.flow.packet.dst)
                pending.append((state, (_TO_LOCAL if local else _FORWARDED) + rest))
                continue
            # Depth first, in rule order: push the hook's outcomes reversed onto the stack.
            for out, verdict in reversed(self._hook(table, chain, state)):
                if verdict in ("DROP", "REJECT"):
                    pending.append((out, (("VERDICT", verdict),)))
                else:
                    pending.append((out, rest))
        return TraceResult.of(done, self._not_evaluated)

    def _branch(self, s: _State, verdict: str | None) -> Branch:
        if verdict is None:
            verdict = "DNAT" if s.endpoint else ("ACCEPT" if s.explicit else "NONE")
        recent = s.flow.recent - self._session
        return Branch(s.prob, verdict, s.flow.packet, s.hops, s.masquerade, s.endpoint, recent)

    def _hook(self, table: str, chain: str, state: _State) -> list[tuple[_State, str]]:
        rules = self._rules.get(table)
        if rules is None or chain not in rules:
            return [(state, "ACCEPT")]
        policy = self._policies[table].get(chain) or "ACCEPT"
        out = []
        for s, verdict in self._walk(table, chain, state, 0, 0):
            if verdict is None:
                hop = Hop(table, chain, f":{chain} {policy}", None, "chain policy")
                s = replace(s, hops=(*s.hops, hop))
                verdict = policy
            out.append((s, verdict))
        return out

    # -- chains ----------------------------------------------------------------------------

    def _candidates(self, table: str, chain: str, packet: Packet) -> list[int]:
        rules = self._rules[table].get(chain)
        if rules is None:
            raise TraceError(f"{table}: jump to undeclared chain {chain}")
        if not self.indexed:
            return list(range(len(rules)))
        key = (table, chain)
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = ChainIndex(rules)
        return index.candidates(packet)

    def _walk(
        self, table: str, chain: str, state: _State, start: int, depth: int
    ) -> list[tuple[_State, str | None]]:
        """Run ``chain`` from rule ``start``: ``(state, verdict or None for "returned")``."""
        if depth > _MAX_DEPTH:
            raise TraceError(f"{table}: chain {chain} nested deeper than {_MAX_DEPTH} (a loop?)")
        rules = self._rules[table].get(chain, [])
        order = self._candidates(table, chain, state.flow.packet)
        finished: list[tuple[_State, str | None]] = []
        pos = bisect.bisect_left(order, start)
        live: _State | None = state
        while live is not None and pos < len(order):
            i = order[pos]
            pos += 1
            rule = rules[i]
            prob, why = self._judge(table, rule, live.flow)
            if prob is None:
                # Never guess: list the rule as not evaluated and go on as if it missed.
                hop = Hop(table, chain, self._text(rule), _comment(rule), f"not evaluated: {why}")
                live = replace(live, hops=(*live.hops, hop))
                continue
            if prob == 0:
                continue
            hop = Hop(table, chain, self._text(rule), _comment(rule), why)
            # Built positionally: dataclasses.replace is the tracer's hottest call otherwise.
            taken = _State(
                _remember(rule, live.flow),
                live.prob if prob == 1 else live.prob * prob,
                (*live.hops, hop),
                live.endpoint,
                live.masquerade,
                live.explicit,
            )
            if prob == 1:
                live = None
            else:
                live = _State(
                    live.flow,
                    live.prob * (1 - prob),
                    live.hops,
                    live.endpoint,
                    live.masquerade,
                    live.explicit,
                )
            for s, verdict in self._target(table, rule, taken, depth):
                if verdict == "CONTINUE":
                    if live is None:
                        live = s
                    else:
                        finished.extend(self._walk(table, chain, s, i + 1, depth))
                elif verdict == "RETURN":
                    finished.append((s, None))
                else:
                    finished.append((s, verdict))
        if live is not None:
            finished.append((live, None))
        return finished

    def _text(self, rule: Rule) -> str:
        """``rule``'s restore text, rendered once per rule for the tracer's lifetime."""
        text = self._texts.get(id(rule))
        if text is None:
            text = self._texts[id(rule)] = rule_text(rule, family=self.ruleset.family)
        return text

    def _judge(self, table: str, rule: Rule, flow: Flow) -> tuple[Fraction | None, str]:
        """The probability ``rule`` matches (0 or 1 unless random; None: undecidable), why."""
        prob = _ONE
        reasons = []
        for m in rule.matches:
            outcome, why = evaluate(m, flow, self.node, self.probabilities)
            if outcome is None:
                self._not_evaluated.append(f"{table}: {self._text(rule)} ({why})")
                return None, why
            if outcome is False:
                return _ZERO, why
            if outcome is not True:
                prob *= outcome
            if type(m) is not Comment:
                reasons.append(why)
        return prob, "; ".join(reasons) or "matches every packet"

    def _target(self, table: str, rule: Rule, s: _State, depth: int) -> list[tuple[_State, str]]:
        """Apply ``rule``'s target: states with a verdict, ``CONTINUE`` or ``RETURN``."""
        t = rule.target
        flow = s.flow
        if t is None or type(t) is Log or type(t) is ConnMark:
            return [(s, "CONTINUE")]
        if type(t) is Jump or type(t) is Goto:
            if t.chain not in self._rules[table]:
                raise TraceError(f"{table}: jump to undeclared chain {t.chain}")
            out: list[tuple[_State, str]] = []
            for sub, verdict in self._walk(table, t.chain, s, 0, depth + 1):
                if verdict is None:
                    out.append((sub, "CONTINUE" if type(t) is Jump else "RETURN"))
                else:
                    out.append((sub, verdict))
            return out
        if type(t) is Return:
            return [(s, "RETURN")]
        if type(t) is Accept:
            return [(replace(s, explicit=True), "ACCEPT")]
        if type(t) is Drop:
            return [(s, "DROP")]
        if type(t) is Reject:
            return [(s, "REJECT")]
        if type(t) is MarkTarget:
            value, mask = _xmark(t)
            mark = (flow.mark & ~mask & _M32) ^ value
            return [(replace(s, flow=replace(flow, mark=mark)), "CONTINUE")]
        if type(t) is DNAT:
            if t.to is None:
                self._not_evaluated.append(f"{table}: {rule_text(rule)} (DNAT without address)")
                return [(s, "CONTINUE")]
            ip, port = _split_hostport(t.to)
            ip = str(ipaddress.ip_address(ip))
            dport = flow.packet.dport if port is None else port
            packet = replace(flow.packet, dst=ip, dport=dport)
            nflow = replace(flow, packet=packet, nat=flow.nat | {"DNAT"})
            return [(replace(s, flow=nflow, endpoint=(ip, dport)), "ACCEPT")]
        if type(t) is SNAT or type(t) is Masquerade:
            if type(t) is SNAT:
                src = None if t.to is None else _split_hostport(t.to)[0]
            else:
                src = self.node.masquerade_for(flow.packet.dst)
            packet = flow.packet if src is None else replace(flow.packet, src=src)
            nflow = replace(flow, packet=packet, nat=flow.nat | {"SNAT"})
            # Source NAT accepts the packet in nat: a rule did match (verdict ACCEPT, not NONE).
            return [(replace(s, flow=nflow, masquerade=True, explicit=True), "ACCEPT")]
        self._not_evaluated.append(f"{table}: {rule_text(rule)} (target not modelled)")
        return [(s, "CONTINUE")]


def _remember(rule: Rule, flow: Flow) -> Flow:
    """Record ``-m recent --set`` addresses of a matched rule (xt_recent's recent_mt)."""
    seen = set(flow.recent)
    for m in rule.matches:
        if type(m) is Recent and m.command == "set" and not m.invert:
            side = flow.packet.dst if m.side == "rdest" else flow.packet.src
            seen.add((m.name or "DEFAULT", side))
    return flow if len(seen) == len(flow.recent) else replace(flow, recent=frozenset(seen))


def _comment(rule: Rule) -> str | None:
    for m in rule.matches:
        if type(m) is Comment:
            return m.text
    return None
