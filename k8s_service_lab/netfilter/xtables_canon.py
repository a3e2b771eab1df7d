"""What the kernel keeps of a rule: the canonical form that ``iptables-save`` prints.

iptables parses what it is given into kernel structures and prints those back, so the text
changes (reference §1.10): basic matches move to the front (``-s -d -i -o -p -f``), host
addresses gain ``/32``, ``--or-mark 0x4000`` becomes ``--set-xmark 0x4000/0x4000``, a
probability becomes a 31-bit fraction printed with 11 decimals, ``-m recent`` gains its
defaults. :func:`canonical` computes that form; two rulesets mean the same when their
canonical forms are equal.

    >>> from k8s_service_lab.netfilter.xtables_matches import Comment, Protocol, TcpUdp, Addr
    >>> r = Rule("KUBE-SERVICES", (Comment("x"), Protocol("tcp", module=True),
    ...          Addr("d", "172.30.0.41"), TcpUdp("tcp", dport=80, module=False)))
    >>> [type(m).__name__ for m in canonical_rule(r, 4).matches]
    ['Addr', 'Protocol', 'Comment', 'TcpUdp']
    >>> canonical_rule(r, 4).matches[0].cidr
    '172.30.0.41/32'
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from k8s_service_lab.netfilter.xtables import (
    BUILTIN_CHAINS,
    ZERO,
    Chain,
    Rule,
    Ruleset,
    Table,
)
from k8s_service_lab.netfilter.xtables_matches import (
    Addr,
    ConnMark,
    ConnTrack,
    Fragment,
    Iface,
    Limit,
    Log,
    Mark,
    MarkTarget,
    Match,
    Protocol,
    Recent,
    Reject,
    State,
    Statistic,
    Target,
    TcpUdp,
)

__all__ = [
    "LOG_LEVELS",
    "PROTOCOL_NAMES",
    "TCP_FLAGS",
    "canon_addr",
    "canon_flags",
    "canon_limit_rate",
    "canon_probability",
    "canonical",
    "canonical_rule",
    "canonical_table",
    "hexmask",
    "semantically_equal",
]

M32 = 0xFFFFFFFF
PROTOCOL_NAMES = {"1": "icmp", "6": "tcp", "17": "udp", "132": "sctp", "58": "ipv6-icmp"}
PROTOCOL_ALIASES = {"icmpv6": "ipv6-icmp"}
# libxt_tcp's flag table order, which is also the printing order.
TCP_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG")
# conntrack_dump_state / state_print_state order.
CT_STATES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")
CT_STATUS = ("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")
LOG_LEVELS = {
    "emerg": 0, "alert": 1, "crit": 2, "error": 3, "err": 3, "warning": 4, "warn": 4,
    "notice": 5, "info": 6, "debug": 7, "panic": 0,
}  # fmt: skip
# libxt_limit's rate units, longest period first (print_rate walks them in this order).
LIMIT_UNITS = (("day", 864_000_000), ("hour", 36_000_000), ("min", 600_000), ("sec", 10_000))
LIMIT_DEFAULT_PERIOD = 10_000 * 3600 // 3
REJECT_ALIASES = {
    "net-unreach": "icmp-net-unreachable",
    "host-unreach": "icmp-host-unreachable",
    "port-unreach": "icmp-port-unreachable",
    "proto-unreach": "icmp-proto-unreachable",
    "net-prohib": "icmp-net-prohibited",
    "host-prohib": "icmp-host-prohibited",
    "admin-prohib": "icmp-admin-prohibited",
    "icmp-port-unreach": "icmp-port-unreachable",
    "tcp-rst": "tcp-reset",
    "no-route": "icmp6-no-route",
    "adm-prohibited": "icmp6-adm-prohibited",
    "addr-unreach": "icmp6-addr-unreachable",
}
BASIC_ORDER = {"s": 0, "d": 1, "i": 2, "o": 3}


def hexmask(text: str) -> str:
    """A mark value as the kernel prints it: ``0x00004000`` -> ``0x4000``."""
    return f"0x{int(text, 0) & M32:x}"


def canon_addr(text: str, family: int) -> str:
    """``10.1.2.3`` -> ``10.1.2.3/32``; ``10.1.2.3/24`` -> ``10.1.2.0/24`` (iptables masks)."""
    net = ipaddress.ip_network(text, strict=False)
    if net.version != family:
        raise ValueError(f"{text} is not an IPv{family} address")
    return f"{net.network_address}/{net.prefixlen}"


def canon_probability(text: str) -> str:
    """The 11-decimal probability iptables-save prints for a written one (libxt_statistic)."""
    stored = int(float(text) * 0x80000000 + 0.5)
    return f"{stored / 0x80000000:.11f}"


def canon_flags(text: str) -> str:
    """tcp flag lists in the kernel's order; ``ALL`` expands, empty is ``NONE``."""
    bits: set[str] = set()
    for name in text.upper().split(","):
        if name == "ALL":
            bits.update(TCP_FLAGS)
        elif name != "NONE":
            bits.add(name)
    return ",".join(f for f in TCP_FLAGS if f in bits) or "NONE"


def canon_limit_rate(rate: str) -> str | None:
    """libxt_limit's parse_rate then print_rate; ``None`` for the default 3/hour."""
    count, _, unit = rate.partition("/")
    mult = 10_000
    if unit:
        for name, full in (("second", 10_000), ("minute", 600_000), ("hour", 36_000_000)):
            if name.startswith(unit.lower()):
                mult = full
                break
        else:
            if not "day".startswith(unit.lower()):
                raise ValueError(f"bad rate unit {unit!r}")
            mult = 864_000_000
    period = mult // int(count)
    if period == LIMIT_DEFAULT_PERIOD:
        return None
    index = 1
    while index < len(LIMIT_UNITS):
        full = LIMIT_UNITS[index][1]
        if period > full or full // period < full % period:
            break
        index += 1
    name, full = LIMIT_UNITS[index - 1]
    return f"{full // period}/{name}"


def _canon_protocol(m: Protocol) -> Protocol:
    name = m.name.lower()
    return Protocol(PROTOCOL_ALIASES.get(name, PROTOCOL_NAMES.get(name, name)), m.invert)


def _ordered(values: tuple[str, ...], order: tuple[str, ...]) -> tuple[str, ...]:
    present = {v.upper() for v in values}
    return tuple(v for v in order if v in present)


def _canon_piece(m: Match, family: int) -> Match:
    if isinstance(m, Addr):
        return Addr(m.direction, canon_addr(m.cidr, family), m.invert)
    if isinstance(m, Protocol):
        return _canon_protocol(m)
    if isinstance(m, TcpUdp):
        flags = m.tcp_flags
        if flags is not None:
            flags = (canon_flags(flags[0]), canon_flags(flags[1]))
        return replace(m, module=True, tcp_flags=flags)
    if isinstance(m, Mark):
        mask = None if m.mask is None or int(m.mask, 0) == M32 else hexmask(m.mask)
        return Mark(hexmask(m.value), mask, m.invert)
    if isinstance(m, Statistic) and m.probability is not None:
        return replace(m, probability=canon_probability(m.probability))
    if isinstance(m, Recent):
        mask = m.mask or ("255.255.255.255" if family == 4 else "ffff:" * 7 + "ffff")
        if family == 6:
            mask = str(ipaddress.IPv6Address(mask))
        return replace(m, name=m.name or "DEFAULT", side=m.side or "rsource", mask=mask)
    if isinstance(m, ConnTrack):
        return replace(
            m,
            ctstate=None if m.ctstate is None else _ordered(m.ctstate, CT_STATES),
            ctstatus=None if m.ctstatus is None else _ordered(m.ctstatus, CT_STATUS),
            ctorigsrc=None if m.ctorigsrc is None else canon_addr(m.ctorigsrc, family),
            ctorigdst=None if m.ctorigdst is None else canon_addr(m.ctorigdst, family),
            ctdir=None if m.ctdir is None else m.ctdir.upper(),
        )
    if isinstance(m, State):
        return State(_ordered(m.states, CT_STATES), m.invert)
    if isinstance(m, Limit):
        burst = None if m.burst == 5 else m.burst
        return Limit(None if m.rate is None else canon_limit_rate(m.rate), burst)
    return m


def canonical_target(t: Target | None, family: int) -> Target | None:
    if isinstance(t, Reject):
        default = "icmp-port-unreachable" if family == 4 else "icmp6-port-unreachable"
        w = t.with_ if t.with_ is not None else default
        return Reject(REJECT_ALIASES.get(w, w))
    if isinstance(t, MarkTarget):
        value, mask = _xmark(t.op, t.value, t.mask)
        return MarkTarget("set-xmark", f"0x{value:x}", f"0x{mask:x}")
    if isinstance(t, ConnMark):
        return _canon_connmark(t)
    if isinstance(t, Log):
        level = t.level
        if level is not None:
            number = LOG_LEVELS.get(level.lower())
            level = str(number if number is not None else int(level))
            level = None if level == "4" else level
        flags = tuple(f for f in _LOG_FLAGS if f in t.flags)
        return Log(t.prefix or None, level, flags)
    return t


_LOG_FLAGS = ("log-tcp-sequence", "log-tcp-options", "log-ip-options", "log-uid", "log-macdecode")


def _xmark(op: str, value: str, mask: str | None) -> tuple[int, int]:
    v = int(value, 0) & M32
    if op in ("set-xmark", "set-mark"):
        return v, M32 if mask is None else int(mask, 0) & M32
    if op == "or-mark":
        return v, v
    if op == "and-mark":
        return 0, ~v & M32
    if op == "xor-mark":
        return v, 0
    raise ValueError(f"unknown mark operation {op}")


def _canon_connmark(t: ConnMark) -> ConnMark:
    if t.op in ("save-mark", "restore-mark"):
        nf = hexmask(t.nfmask or t.mask or "0xffffffff")
        ct = hexmask(t.ctmask or t.mask or "0xffffffff")
        return ConnMark(t.op, None, None, nf, ct)
    value, mask = _xmark(t.op, t.value or "0", t.mask)
    return ConnMark("set-xmark", f"0x{value:x}", f"0x{mask:x}")


def canonical_rule(rule: Rule, family: int) -> Rule:
    """The rule as the kernel holds it and iptables-save prints it."""
    basics: list[Match] = []
    modules: list[Match] = []
    loaded: dict[str, int] = {}  # protocol module -> index in modules
    for m in rule.matches:
        if isinstance(m, Addr | Iface | Fragment):
            basics.append(_canon_piece(m, family))
        elif isinstance(m, Protocol):
            proto = _canon_protocol(m)
            basics.append(proto)
            if m.module:
                loaded[proto.name] = len(modules)
                modules.append(TcpUdp(proto.name))
        elif isinstance(m, TcpUdp):
            proto_name = m.protocol
            previous = modules[loaded[proto_name]] if proto_name in loaded else None
            if not m.module and isinstance(previous, TcpUdp):
                modules[loaded[proto_name]] = _merge(previous, m)
            else:
                loaded[proto_name] = len(modules)
                modules.append(_canon_piece(m, family))
        else:
            modules.append(_canon_piece(m, family))
    basics.sort(key=_basic_key)
    return Rule(
        rule.chain,
        (*basics, *modules),
        canonical_target(rule.target, family),
        rule.counters,
    )


def _basic_key(m: Match) -> int:
    if isinstance(m, Protocol):
        return 4
    if isinstance(m, Fragment):
        return 5
    if isinstance(m, Addr | Iface):
        return BASIC_ORDER[m.direction]
    return 6


def _merge(a: TcpUdp, b: TcpUdp) -> TcpUdp:
    flags = b.tcp_flags if b.tcp_flags is not None else a.tcp_flags
    if flags is not None:
        flags = (canon_flags(flags[0]), canon_flags(flags[1]))
    return TcpUdp(
        a.protocol,
        b.sport if b.sport is not None else a.sport,
        b.dport if b.dport is not None else a.dport,
        b.sport_invert if b.sport is not None else a.sport_invert,
        b.dport_invert if b.dport is not None else a.dport_invert,
        flags,
        b.tcp_flags_invert if b.tcp_flags is not None else a.tcp_flags_invert,
        True,
    )


def canonical_table(table: Table, family: int) -> Table:
    """The table as iptables-save lists it once loaded into an empty kernel table.

    Every built-in chain (policy ``ACCEPT`` and counters ``[0:0]`` unless given), then the
    user chains sorted by name (libiptc and iptables-nft list them so); statements become
    the resulting rules, chain after chain, each in its canonical form.
    """
    live = table.rules_by_chain()
    declared = {c.name: c for c in table.chains}
    builtins = BUILTIN_CHAINS.get(table.name, ())
    chains = []
    for name in builtins:
        c = declared.get(name)
        chains.append(Chain(name, (c and c.policy) or "ACCEPT", c.counters if c else ZERO))
    users = sorted(n for n in live if n not in builtins)
    for name in users:
        c = declared.get(name)
        chains.append(Chain(name, None, c.counters if c else ZERO))
    rules = tuple(canonical_rule(r, family) for c in chains for r in live.get(c.name, ()))
    return Table(table.name, tuple(chains), rules)


def canonical(ruleset: Ruleset) -> Ruleset:
    """Every table in its canonical (iptables-save) form: what ``to_save`` prints."""
    fam = ruleset.family
    return Ruleset(fam, tuple(canonical_table(t, fam) for t in ruleset.tables))


def semantically_equal(a: Ruleset, b: Ruleset) -> bool:
    """Same tables, chains and rules once both are in the kernel's canonical form."""
    return canonical(a) == canonical(b)
