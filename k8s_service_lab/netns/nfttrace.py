r"""Reading ``nft monitor trace``: the kernel's own account of one packet's way through netfilter.

Once a rule sets ``meta nftrace set 1`` on a packet, every nf_tables chain it meets reports
to ``nft monitor``: the packet's headers when it enters a hook (``packet:``), each rule that
matched with its verdict (``rule … (verdict jump KUBE-SVC-…)``), and the base chain's policy
when the packet falls off the end (``policy accept``). iptables-nft rules are nf_tables
rules, so kube-proxy's chains show up too, translated (``dnat to 10.244.1.2:8080``) and
without their comments. This module parses that text into :class:`TraceEvent` values,
splits it into one trace per packet, and maps every rule back to the iptables rule it came
from — by its handle, the position of that handle in its chain (``nft -j list ruleset``)
and the rule at the same position in ``iptables-nft-save`` — giving the tracer's own
:class:`~k8s_service_lab.tracer.Hop`. In nftables mode kube-proxy's rules are native nft
rules in table ``ip kube-proxy``: the same handle and position pick the rule out of
``nft list table ip kube-proxy`` instead, and the hop reads as the nft tracer's does (table
``ip kube-proxy``, the rule as nft prints it). Rules are compared by what they do, not by
spelling (:func:`hop_key`: ``mark and 0x4000 == 0`` is ``meta mark & 0x00004000 ==
0x00000000``)::

    >>> line = ("trace id 88e1d780 ip nat KUBE-SEP-UIQK3OSOSTRHRPBX rule meta l4proto tcp   "
    ...         "counter packets 0 bytes 0 dnat to 10.244.1.2:8080 # handle 97 (verdict accept)")
    >>> ev = parse_event(line)
    >>> ev.table, ev.chain, ev.kind, ev.handle, ev.verdict
    ('nat', 'KUBE-SEP-UIQK3OSOSTRHRPBX', 'rule', 97, 'accept')
    >>> ev.text
    'meta l4proto tcp counter dnat to 10.244.1.2:8080'
    >>> pkt = parse_event('trace id 1 ip nat PREROUTING packet: iif "eth0" ip saddr '
    ...                   '10.244.0.4 ip daddr 10.96.0.10 udp sport 41000 udp dport 53 ')
    >>> f = packet_fields(pkt)
    >>> f.iif, f.oif, f.src, f.dst, f.proto, f.sport, f.dport
    ('eth0', None, '10.244.0.4', '10.96.0.10', 'udp', 41000, 53)
    >>> ours = Hop("ip kube-proxy", "masquerading", "mark and 0x4000 == 0 return", None, "")
    >>> kernels = Hop("ip kube-proxy", "masquerading",
    ...               "meta mark & 0x00004000 == 0x00000000 return", None, "")
    >>> hop_key(ours) == hop_key(kernels)
    True

Facts measured on this kernel (6.18, nft 1.0.6, iptables 1.8.9 nf_tables): ``nft`` looks
rules up in the ruleset it cached when the monitor started, so rules added later (the trace
table's own, or a kube-proxy resync's) print as ``unknown rule handle N`` — the handle is
what identifies a rule, not the text. The trace id is not unique per packet (later packets
of a connection reuse it), and later packets may come without a ``packet:`` line, so a new
packet's trace begins where it meets the marking table again. Chains left by running off
their end (an implicit return) print nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from k8s_service_lab.netfilter import (
    Comment,
    DumpError,
    NfAcct,
    Rule,
    Ruleset,
    canonical_rule,
    parse_save,
    rule_text,
)
from k8s_service_lab.netfilter.nftables import Counter, MarkCheck, MarkSet
from k8s_service_lab.netfilter.nftables_dump import AnyRule, DumpRule, NftRuleset
from k8s_service_lab.netfilter.nftables_words import parse_rule, tokens
from k8s_service_lab.tracer.model import Hop

__all__ = [
    "TraceEvent",
    "TracedPacket",
    "chain_handles",
    "hop_key",
    "kernel_hops",
    "nft_canonical",
    "packet_fields",
    "packet_traces",
    "parse_event",
    "parse_monitor",
]

_HEAD = re.compile(
    r"^trace id (?P<id>[0-9a-f]+) (?P<family>\S+) (?P<table>\S+) (?P<chain>\S+) (?P<rest>.*)$"
)
_VERDICT = re.compile(r"\s*\(verdict (?P<verdict>[^()]*)\)\s*$")
_HANDLE = re.compile(r"\s*# handle (?P<handle>\d+)\s*$")
_UNKNOWN = re.compile(r"^unknown rule handle (?P<handle>\d+)$")
_MARK = re.compile(r"\s*meta mark (?P<mark>0x[0-9a-f]+)\s*$")
_FAMILIES = {4: "ip", 6: "ip6"}
_R = TypeVar("_R", Rule, AnyRule)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One line of ``nft monitor trace``.

    ``kind`` is ``packet`` (``text`` holds the header fields), ``rule`` (``text`` is the
    rule as nft prints it, ``None`` when nft did not know the handle), ``policy`` (``verdict``
    is the policy), ``return`` (a chain ended with an explicit verdict) or ``conntrack``.
    ``mark`` is the packet mark a policy or return line reports.
    """

    trace_id: str
    family: str
    table: str
    chain: str
    kind: str
    text: str | None
    verdict: str | None = None
    handle: int | None = None
    mark: int | None = None

    @property
    def target(self) -> str | None:
        """The chain a ``jump``/``goto`` verdict names."""
        if self.verdict is None:
            return None
        word, _, chain = self.verdict.partition(" ")
        return chain if word in ("jump", "goto") and chain else None


@dataclass(frozen=True, slots=True)
class TracedPacket:
    """What a ``packet:`` line says about the packet: interfaces and its 5-tuple."""

    iif: str | None
    oif: str | None
    src: str | None
    dst: str | None
    proto: str | None
    sport: int | None
    dport: int | None


_COUNTER = re.compile(r"\bcounter packets \d+ bytes \d+")


def _squash(text: str) -> str:
    # iptables-nft leaves a double space where a match has no nft form (a comment); the
    # counters change with every packet and would make two traces of one rule differ.
    return " ".join(_COUNTER.sub("counter", text).split())


def parse_event(line: str) -> TraceEvent | None:
    """One monitor line as a :class:`TraceEvent`; ``None`` for lines that are not traces."""
    m = _HEAD.match(line.rstrip("\n"))
    if m is None:
        return None
    head = (m["id"], m["family"], m["table"], m["chain"])
    rest = m["rest"]
    if rest.startswith("packet:"):
        return TraceEvent(*head, "packet", _squash(rest[len("packet:") :]))
    if rest.startswith("conntrack:"):
        return TraceEvent(*head, "conntrack", _squash(rest[len("conntrack:") :]))
    if rest.startswith("policy "):
        body, mark = _split_mark(rest[len("policy ") :])
        return TraceEvent(*head, "policy", None, body, None, mark)
    if rest.startswith("verdict "):
        body, mark = _split_mark(rest[len("verdict ") :])
        return TraceEvent(*head, "return", None, body, None, mark)
    v = _VERDICT.search(rest)
    verdict = v["verdict"].strip() if v else None
    body = rest[: v.start()] if v else rest
    unknown = _UNKNOWN.match(body.strip())
    if unknown is not None:
        return TraceEvent(*head, "rule", None, verdict, int(unknown["handle"]))
    if body.startswith("rule "):
        body = body[len("rule ") :]
    h = _HANDLE.search(body)
    handle = int(h["handle"]) if h else None
    text = body[: h.start()] if h else body
    return TraceEvent(*head, "rule", _squash(text), verdict, handle)


def _split_mark(text: str) -> tuple[str, int | None]:
    m = _MARK.search(text)
    if m is None:
        return text.strip(), None
    return text[: m.start()].strip(), int(m["mark"], 16)


def parse_monitor(text: str) -> tuple[TraceEvent, ...]:
    """Every trace line of a monitor's output, in order (other events are skipped)."""
    events = (parse_event(line) for line in text.splitlines())
    return tuple(e for e in events if e is not None)


def packet_traces(events: Iterable[TraceEvent], marker: str) -> tuple[tuple[TraceEvent, ...], ...]:
    """Split ``events`` into one trace per packet, in the order the packets were marked.

    ``marker`` is the table whose rule set ``nftrace``: every packet meets it first, with a
    ``packet:`` line or (for later packets of a flow) straight with its rule. Events of an
    id that no marked packet opened are dropped.
    """
    traces: list[list[TraceEvent]] = []
    current: dict[str, list[TraceEvent]] = {}
    for e in events:
        cur = current.get(e.trace_id)
        opens = e.table == marker and (
            e.kind == "packet"
            or (
                e.kind == "rule"
                and not (cur and cur[-1].table == marker and cur[-1].kind == "packet")
            )
        )
        if opens:
            cur = current[e.trace_id] = []
            traces.append(cur)
        if cur is not None:
            cur.append(e)
    return tuple(tuple(t) for t in traces)


_FIELD = {
    "iif": re.compile(r'\biif "([^"]+)"'),
    "oif": re.compile(r'\boif "([^"]+)"'),
    "src": re.compile(r"\bip6? saddr (\S+)"),
    "dst": re.compile(r"\bip6? daddr (\S+)"),
    "l4": re.compile(r"\b(tcp|udp|sctp) sport (\d+) \1 dport (\d+)"),
}


def packet_fields(event: TraceEvent) -> TracedPacket:
    """The interfaces and 5-tuple of a ``packet:`` event (``None`` where not printed)."""
    text = event.text or ""

    def get(key: str) -> str | None:
        m = _FIELD[key].search(text)
        return m[1] if m else None

    l4 = _FIELD["l4"].search(text)
    return TracedPacket(
        get("iif"),
        get("oif"),
        get("src"),
        get("dst"),
        l4[1] if l4 else None,
        int(l4[2]) if l4 else None,
        int(l4[3]) if l4 else None,
    )


def chain_handles(
    nft_json: str | Mapping[str, Any], family: int = 4
) -> dict[tuple[str, str], tuple[int, ...]]:
    """``(table, chain)`` → the handles of its rules in order, from ``nft -j list ruleset``."""
    doc = json.loads(nft_json) if isinstance(nft_json, str) else nft_json
    fam = _FAMILIES[family]
    handles: dict[tuple[str, str], list[int]] = {}
    for item in doc.get("nftables", ()):
        rule = item.get("rule")
        if rule is None or rule.get("family") != fam:
            continue
        handles.setdefault((rule["table"], rule["chain"]), []).append(int(rule["handle"]))
    return {k: tuple(v) for k, v in handles.items()}


def _comment(rule: Rule) -> str | None:
    return next((m.text for m in rule.matches if isinstance(m, Comment)), None)


def kernel_hops(
    events: Sequence[TraceEvent],
    handles: Mapping[tuple[str, str], Sequence[int]],
    ruleset: Ruleset,
    marker: str,
    nft: NftRuleset | None = None,
) -> tuple[Hop, ...]:
    """The hops of one packet's trace, each rule named as ``iptables-save`` shows it.

    A rule's handle gives its position in its chain, and the same position in ``ruleset``
    (the node's ``iptables-nft-save``, which lists rules in the kernel's order) gives the
    iptables rule, its comment included. Events of a table in ``nft`` (native nft tables,
    parsed from ``nft list table``: kube-proxy's nftables mode) take the rule at that
    position there, and their hops name the table as ``family name`` — the nft tracer's
    form. ``why`` keeps what the kernel said: the nft translation and the verdict. Packet
    lines, the marking table and implicit returns are not hops; a rule that cannot be mapped
    keeps its nft text.
    """
    rules = {t.name: t.rules_by_chain() for t in ruleset.tables}
    native = {(t.family, t.name): t.rules for t in (nft.tables if nft is not None else ())}
    hops: list[Hop] = []
    for e in events:
        if e.table == marker or e.kind not in ("rule", "policy"):
            continue
        chains = native.get((e.family, e.table))
        table = e.table if chains is None else f"{e.family} {e.table}"
        if e.kind == "policy":
            policy = (e.verdict or "accept").upper()
            hops.append(Hop(table, e.chain, f":{e.chain} {policy}", None, "chain policy"))
            continue
        said = f"nft: {e.text if e.text is not None else f'rule handle {e.handle}'}"
        why = f"{said} (verdict {e.verdict})"
        if chains is not None:
            dumped = _at(e, handles, chains.get(e.chain))
            text = dumped.text if isinstance(dumped, DumpRule) else None
            if dumped is None or text is None:
                hops.append(Hop(table, e.chain, said, None, why))
            else:
                hops.append(Hop(table, e.chain, text, dumped.comment, why))
            continue
        found = _at(e, handles, rules.get(e.table, {}).get(e.chain))
        if found is None:
            hops.append(Hop(table, e.chain, said, None, why))
        else:
            text = rule_text(found, family=ruleset.family)
            hops.append(Hop(table, e.chain, text, _comment(found), why))
    return tuple(hops)


def _at(
    e: TraceEvent, handles: Mapping[tuple[str, str], Sequence[int]], chain: Sequence[_R] | None
) -> _R | None:
    """The rule of ``chain`` whose handle the event names: same position in the kernel's
    order (the handles of ``nft -j list ruleset``) as in the listing."""
    order = handles.get((e.table, e.chain))
    if order is None or chain is None or len(order) != len(chain):
        return None
    if e.handle is None or e.handle not in order:
        return None
    return chain[list(order).index(e.handle)]


def hop_key(hop: Hop, family: int = 4) -> tuple[str, str, str]:
    """What identifies a hop across the simulator and the kernel: table, chain and the rule
    in the kernel's canonical form (so ``--probability 0.3333333333`` and the
    ``0.33333333349`` the kernel keeps are one rule; an nft rule by its parsed expressions,
    marks as numbers); a policy hop keys on its text."""
    if " " in hop.table and hop.why != "chain policy":
        return (hop.table, hop.chain, nft_canonical(hop.rule))
    return (hop.table, hop.chain, _canonical_text(hop.table, hop.rule, family))


def nft_canonical(text: str) -> str:
    """An nft rule's expressions as one string that does not depend on how nft spells them
    (counters left out, comment left out); the text itself when it does not parse."""
    try:
        exprs, _ = parse_rule(tokens(text))
    except ValueError:
        return text
    parts = []
    for e in exprs:
        if isinstance(e, Counter):
            continue
        if isinstance(e, MarkCheck):
            parts.append(f"MarkCheck({int(e.mask, 0):#x}, {int(e.value, 0):#x})")
        elif isinstance(e, MarkSet):
            parts.append(f"MarkSet({e.op}, {int(e.value, 0):#x})")
        else:
            parts.append(repr(e))
    return "; ".join(parts)


def is_nfacct(hop: Hop, family: int = 4) -> bool:
    """Whether the hop's rule counts in an nfacct object (kernel traces may leave it out)."""
    rule = _parse_rule(hop.table, hop.rule, family)
    return rule is not None and any(isinstance(m, NfAcct) for m in rule.matches)


def _parse_rule(table: str, text: str, family: int) -> Rule | None:
    if not text.startswith("-A "):
        return None
    try:
        parsed = parse_save(f"*{table}\n{text}\nCOMMIT\n", family=family)
    except DumpError:
        return None
    statements = parsed.tables[0].statements if parsed.tables else ()
    rule = statements[0] if statements else None
    return rule if isinstance(rule, Rule) else None


def _canonical_text(table: str, text: str, family: int) -> str:
    rule = _parse_rule(table, text, family)
    if rule is None:
        return text
    return rule_text(canonical_rule(rule, family), save=True, family=family)
