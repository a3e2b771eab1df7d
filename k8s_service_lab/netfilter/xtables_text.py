"""xtables rules as text: kube-proxy's ``iptables-restore`` payload and ``iptables-save`` output.

:func:`to_restore` writes pieces in the order they were built and values as written — what
kube-proxy sends to ``iptables-restore --noflush`` (reference §1.5, §1.7: a comment is quoted
only when it holds a space). :func:`to_save` writes what ``iptables-save`` prints for the same
rules once the kernel has them (§1.10; see :mod:`.xtables_canon`).

    >>> from k8s_service_lab.netfilter.xtables import Chain, Rule, Ruleset, Table
    >>> from k8s_service_lab.netfilter.xtables_matches import (
    ...     Addr, Comment, Jump, Protocol, TcpUdp)
    >>> rule = Rule("SERVICES", (Comment("svc1 IP"),
    ...     Protocol("tcp", module=True), Addr("d", "10.0.0.1"),
    ...     TcpUdp("tcp", dport=80, module=False)), Jump("SVC"))
    >>> rs = Ruleset(4, (Table("nat", (Chain("SERVICES"), Chain("SVC")), (rule,)),))
    >>> print(to_restore(rs), end="")
    *nat
    :SERVICES - [0:0]
    :SVC - [0:0]
    -A SERVICES -m comment --comment "svc1 IP" -m tcp -p tcp -d 10.0.0.1 --dport 80 -j SVC
    COMMIT
    >>> print(to_save(rs).splitlines()[-2])
    -A SERVICES -d 10.0.0.1/32 -p tcp -m comment --comment "svc1 IP" -m tcp --dport 80 -j SVC
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from k8s_service_lab.netfilter.xtables import (
    BUILTIN_CHAINS,
    ZERO,
    Chain,
    Insert,
    Rule,
    Ruleset,
    Statement,
    Table,
)
from k8s_service_lab.netfilter.xtables_canon import canonical_rule, canonical_table
from k8s_service_lab.netfilter.xtables_matches import (
    DNAT,
    SNAT,
    Accept,
    Addr,
    AddrType,
    Comment,
    ConnMark,
    ConnTrack,
    Drop,
    Fragment,
    Goto,
    Iface,
    Jump,
    Limit,
    Log,
    Mark,
    MarkTarget,
    Masquerade,
    Match,
    Multiport,
    NfAcct,
    Physdev,
    PortSpec,
    Protocol,
    Recent,
    Reject,
    Return,
    Set,
    State,
    Statistic,
    Target,
    TcpUdp,
)

__all__ = ["quote_restore", "quote_save", "rule_text", "to_restore", "to_save"]

_SAFE = frozenset("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPECIAL = frozenset(" \t\"\\'")


def _escape(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'") + '"'


def quote_save(text: str) -> str:
    """libxtables' ``xtables_save_string``: bare only when all of ``[A-Za-z0-9_-]``."""
    if text and _SAFE.issuperset(text):
        return text
    return _escape(text)


def quote_restore(text: str) -> str:
    """How kube-proxy writes a value: quoted (with escapes) only when the shell-like split
    of ``iptables-restore`` would cut or eat it."""
    if text and _SPECIAL.isdisjoint(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


Quote = Callable[[str], str]


def _port(p: PortSpec) -> str:
    return str(p) if isinstance(p, int) else f"{p[0]}:{p[1]}"


def _neg(invert: bool) -> str:
    return "! " if invert else ""


def _tcpudp(m: TcpUdp) -> str:
    parts = [f"-m {m.protocol}"] if m.module else []
    if m.sport is not None:
        parts.append(f"{_neg(m.sport_invert)}--sport {_port(m.sport)}")
    if m.dport is not None:
        parts.append(f"{_neg(m.dport_invert)}--dport {_port(m.dport)}")
    if m.tcp_flags is not None:
        parts.append(f"{_neg(m.tcp_flags_invert)}--tcp-flags {m.tcp_flags[0]} {m.tcp_flags[1]}")
    return " ".join(parts)


def _addrtype(m: AddrType) -> str:
    parts = ["-m addrtype"]
    if m.src_type is not None:
        parts.append(f"{_neg(m.src_invert)}--src-type {m.src_type}")
    if m.dst_type is not None:
        parts.append(f"{_neg(m.dst_invert)}--dst-type {m.dst_type}")
    if m.limit_iface_in:
        parts.append("--limit-iface-in")
    if m.limit_iface_out:
        parts.append("--limit-iface-out")
    return " ".join(parts)


def _conntrack(m: ConnTrack) -> str:
    parts = ["-m conntrack"]
    if m.ctstate is not None:
        parts.append(f"{_neg(m.ctstate_invert)}--ctstate {','.join(m.ctstate)}")
    for name, value, inv in (
        ("ctorigsrc", m.ctorigsrc, m.ctorigsrc_invert),
        ("ctorigdst", m.ctorigdst, m.ctorigdst_invert),
    ):
        if value is not None:
            parts.append(f"{_neg(inv)}--{name} {value.removesuffix('/32')}")
    if m.ctstatus is not None:
        parts.append(f"{_neg(m.ctstatus_invert)}--ctstatus {','.join(m.ctstatus)}")
    if m.ctdir is not None:
        parts.append(f"--ctdir {m.ctdir}")
    return " ".join(parts)


def _statistic(m: Statistic) -> str:
    if m.mode == "random":
        return f"-m statistic --mode random {_neg(m.invert)}--probability {m.probability}"
    text = f"-m statistic --mode {m.mode} {_neg(m.invert)}--every {m.every}"
    return text if m.packet is None else f"{text} --packet {m.packet}"


def _recent(m: Recent, save: bool) -> str:
    cmd = f"{_neg(m.invert)}--{m.command}"
    opts = []
    if m.seconds is not None:
        opts.append(f"--seconds {m.seconds}")
    if m.reap:
        opts.append("--reap")
    if m.hitcount is not None:
        opts.append(f"--hitcount {m.hitcount}")
    if m.rttl:
        opts.append("--rttl")
    name = [] if m.name is None else [f"--name {m.name}"]
    tail = ([] if m.mask is None else [f"--mask {m.mask}"]) + (
        [] if m.side is None else [f"--{m.side}"]
    )
    # kube-proxy writes --name first (proxier.go); libxt_recent's save prints it after the
    # timing options.
    order = [cmd, *opts, *name, *tail] if save else [*name, cmd, *opts, *tail]
    return " ".join(["-m recent", *order])


def _physdev(m: Physdev) -> str:
    parts = ["-m physdev"]
    if m.physdev_in is not None:
        parts.append(f"{_neg(m.in_invert)}--physdev-in {m.physdev_in}")
    if m.physdev_out is not None:
        parts.append(f"{_neg(m.out_invert)}--physdev-out {m.physdev_out}")
    for name, flag in (("in", m.is_in), ("out", m.is_out), ("bridged", m.is_bridged)):
        if flag is not None:
            parts.append(f"{_neg(not flag)}--physdev-is-{name}")
    return " ".join(parts)


def _limit(m: Limit) -> str:
    parts = ["-m limit"]
    if m.rate is not None:
        parts.append(f"--limit {m.rate}")
    if m.burst is not None:
        parts.append(f"--limit-burst {m.burst}")
    return " ".join(parts)


def _unknown(head: str, args: tuple[str, ...]) -> str:
    # We cannot know how an unknown extension prints its values; quote only what the
    # restore parser would otherwise split, so the words read back the same.
    return " ".join([head, *(quote_restore(a) if a != "!" else a for a in args)])


def match_text(m: Match, q: Quote, save: bool) -> str:
    """One piece of a rule as text (``q`` quotes free-form values)."""
    if type(m) is Addr and not m.invert:
        return f"-{m.direction} {m.cidr}"  # kube-proxy's every KUBE-SEP masquerade rule
    if isinstance(m, Comment):
        return f"-m comment --comment {q(m.text)}"
    if isinstance(m, Addr):
        return f"{_neg(m.invert)}-{m.direction} {m.cidr}"
    if isinstance(m, Iface):
        return f"{_neg(m.invert)}-{m.direction} {m.name}"
    if isinstance(m, Protocol):
        p = m.name
        prefix = f"-m {p} " if m.module else ""
        return f"{prefix}{_neg(m.invert)}-p {p}"
    if isinstance(m, TcpUdp):
        return _tcpudp(m)
    if isinstance(m, Mark):
        mask = "" if m.mask is None else f"/{m.mask}"
        return f"-m mark {_neg(m.invert)}--mark {m.value}{mask}"
    if isinstance(m, Statistic):
        return _statistic(m)
    if isinstance(m, AddrType):
        return _addrtype(m)
    if isinstance(m, ConnTrack):
        return _conntrack(m)
    if isinstance(m, Recent):
        return _recent(m, save)
    if isinstance(m, NfAcct):
        # libxt_nfacct prints "--nfacct-name " and then xtables_save_string's own space.
        sep = "  " if save else " "
        return f"-m nfacct --nfacct-name{sep}{q(m.name)}"
    if isinstance(m, Multiport):
        ports = ",".join(_port(p) for p in m.ports)
        return f"-m multiport {_neg(m.invert)}--{m.option} {ports}"
    if isinstance(m, State):
        return f"-m state {_neg(m.invert)}--state {','.join(m.states)}"
    if isinstance(m, Fragment):
        return f"{_neg(m.invert)}-f"
    if isinstance(m, Physdev):
        return _physdev(m)
    if isinstance(m, Set):
        return f"-m set {_neg(m.invert)}--match-set {m.name} {m.flags}"
    if isinstance(m, Limit):
        return _limit(m)
    return _unknown(f"-m {m.module}", m.args)


def target_text(t: Target, q: Quote) -> str:
    if type(t) is DNAT and not (t.random or t.persistent) and t.to is not None:
        return f"-j DNAT --to-destination {t.to}"  # kube-proxy's every KUBE-SEP rule
    if isinstance(t, Jump):
        return f"-j {t.chain}"
    if isinstance(t, Goto):
        return f"-g {t.chain}"
    if isinstance(t, Accept):
        return "-j ACCEPT"
    if isinstance(t, Drop):
        return "-j DROP"
    if isinstance(t, Return):
        return "-j RETURN"
    if isinstance(t, Reject):
        w = t.with_
        return "-j REJECT" if w is None else f"-j REJECT --reject-with {w}"
    if isinstance(t, DNAT | SNAT):
        parts = ["-j DNAT" if isinstance(t, DNAT) else "-j SNAT"]
        if t.to is not None:
            opt = "--to-destination" if isinstance(t, DNAT) else "--to-source"
            parts.append(f"{opt} {t.to}")
        if t.random:
            parts.append("--random")
        if isinstance(t, SNAT) and t.random_fully:
            parts.append("--random-fully")
        if t.persistent:
            parts.append("--persistent")
        return " ".join(parts)
    if isinstance(t, Masquerade):
        parts = ["-j MASQUERADE"]
        if t.to_ports is not None:
            parts.append(f"--to-ports {t.to_ports}")
        if t.random:
            parts.append("--random")
        if t.random_fully:
            parts.append("--random-fully")
        return " ".join(parts)
    if isinstance(t, MarkTarget):
        mask = "" if t.mask is None else f"/{t.mask}"
        return f"-j MARK --{t.op} {t.value}{mask}"
    if isinstance(t, ConnMark):
        return _connmark(t)
    if isinstance(t, Log):
        parts = ["-j LOG"]
        if t.prefix is not None:
            parts.append(f"--log-prefix {q(t.prefix)}")
        if t.level is not None:
            parts.append(f"--log-level {t.level}")
        parts += [f"--{f}" for f in t.flags]
        return " ".join(parts)
    return _unknown(f"-j {t.name}", t.args)


def _connmark(t: ConnMark) -> str:
    parts = [f"-j CONNMARK --{t.op}"]
    if t.value is not None:
        parts.append(t.value if t.mask is None else f"{t.value}/{t.mask}")
    elif t.mask is not None:
        parts.append(f"--mask {t.mask}")
    if t.nfmask is not None:
        parts.append(f"--nfmask {t.nfmask}")
    if t.ctmask is not None:
        parts.append(f"--ctmask {t.ctmask}")
    return " ".join(parts)


def rule_text(rule: Rule, *, save: bool = False, family: int = 4) -> str:
    """One rule line, ``-A CHAIN ...``: restore style, or save style (canonical) if ``save``."""
    if save:
        return _save_rule(canonical_rule(rule, family))
    return _restore_rule(rule, {})


def _tables(obj: Ruleset | Table | Iterable[Table]) -> tuple[int, list[Table]]:
    if isinstance(obj, Ruleset):
        return obj.family, list(obj.tables)
    if isinstance(obj, Table):
        return 4, [obj]
    return 4, list(obj)


def _declaration(chain: Chain) -> str:
    c = chain.counters
    return f":{chain.name} {chain.policy or '-'} [{c.packets}:{c.bytes}]"


def to_restore(
    ruleset: Ruleset | Table | Iterable[Table], *, noflush_declarations: bool = True
) -> str:
    """An ``iptables-restore`` payload, pieces and values as built (kube-proxy's style).

    With ``noflush_declarations`` (the default, for ``iptables-restore --noflush``) built-in
    chains are not declared: declaring a chain flushes it, and kube-proxy never flushes the
    host's INPUT or PREROUTING. Pass ``False`` for a full restore that declares them too.
    """
    _, tables = _tables(ruleset)
    out: list[str] = []
    append = out.append
    # id(piece) -> its text, and id(tuple of pieces) -> their joined text: backends share
    # pieces, and whole match tuples, between rules. Every table stays alive (``tables`` is
    # a list) until the end, so no id is reused while the cache holds it.
    cache: dict[int, str] = {}
    get = cache.get
    for table in tables:
        builtins = BUILTIN_CHAINS.get(table.name, ())
        append(f"*{table.name}")
        for chain in table.chains:
            if chain.policy is None and chain.counters is ZERO and chain.name not in builtins:
                append(f":{chain.name} - [0:0]")  # a fresh user chain, most of them
            elif not (noflush_declarations and chain.name in builtins):
                append(_declaration(chain))
        for st in table.statements:
            if type(st) is not Rule or st.counters is not None:
                append(_restore_statement(st, cache))
                continue
            # The common case, inlined: "-A CHAIN [MATCHES] [TARGET]".
            matches = st.matches
            head = f"-A {st.chain}"
            if len(matches) == 1:  # keyed by the piece: one-piece tuples are rarely shared
                m = matches[0]
                text = get(id(m))
                if text is None:
                    text = cache[id(m)] = match_text(m, quote_restore, False)
                head = f"{head} {text}"
            elif matches:
                text = get(id(matches))
                if text is None:
                    text = cache[id(matches)] = _matches_restore(matches, cache)
                head = f"{head} {text}"
            t = st.target
            if t is None:
                append(head)
            elif type(t) is Jump:
                append(f"{head} -j {t.chain}")
            else:
                text = get(id(t))
                if text is None:
                    text = cache[id(t)] = target_text(t, quote_restore)
                append(f"{head} {text}")
        append("COMMIT")
    append("")
    return "\n".join(out)


def _matches_restore(matches: tuple[Match, ...], cache: dict[int, str]) -> str:
    texts = []
    for m in matches:
        text = cache.get(id(m))
        if text is None:
            text = cache[id(m)] = match_text(m, quote_restore, False)
        texts.append(text)
    return " ".join(texts)


def _restore_statement(st: Statement, cache: dict[int, str]) -> str:
    if isinstance(st, Rule):
        return _restore_rule(st, cache)
    if isinstance(st, Insert):
        pos = st.position
        head = "-I" if pos == 1 else f"-I {st.rule.chain} {pos}"
        return _restore_rule(st.rule, cache, head)
    return f"-X {st.name}"


def _restore_rule(rule: Rule, cache: dict[int, str], op: str = "-A") -> str:
    # "-I CHAIN 3" carries its chain already; "-A"/"-I" are followed by it.
    parts = [op] if op.count(" ") else [op, rule.chain]
    for m in rule.matches:
        text = cache.get(id(m))
        if text is None:
            text = cache[id(m)] = match_text(m, quote_restore, False)
        parts.append(text)
    t = rule.target
    if t is not None:
        text = cache.get(id(t))
        if text is None:
            text = cache[id(t)] = target_text(t, quote_restore)
        parts.append(text)
    line = " ".join(parts)
    if rule.counters is not None:
        line = f"[{rule.counters.packets}:{rule.counters.bytes}] {line}"
    return line


def to_save(ruleset: Ruleset | Table | Iterable[Table], *, header: str | None = None) -> str:
    """What ``iptables-save`` prints once the kernel holds these rules.

    Built-in chains first, then user chains sorted by name, as iptables-save lists them;
    rules chain after chain in that order (see :func:`.xtables_canon.canonical_table`). With
    a ``header`` (like ``"iptables-save v1.8.9 (nf_tables)"``) each table is framed by
    ``# Generated by HEADER`` and ``# Completed`` comment lines.
    """
    family, tables = _tables(ruleset)
    out: list[str] = []
    for table in tables:
        canon = canonical_table(table, family)
        if header is not None:
            out.append(f"# Generated by {header}")
        out.append(f"*{table.name}")
        out.extend(_declaration(c) for c in canon.chains)
        out.extend(_save_rule(r) for r in canon.statements if isinstance(r, Rule))
        out.append("COMMIT")
        if header is not None:
            out.append("# Completed")
    out.append("")
    return "\n".join(out)


def _save_rule(rule: Rule) -> str:
    parts = [f"-A {rule.chain}"]
    parts += [match_text(m, quote_save, True) for m in rule.matches]
    if rule.target is not None:
        parts.append(target_text(rule.target, quote_save))
    line = " ".join(parts)
    if rule.counters is not None:
        line = f"[{rule.counters.packets}:{rule.counters.bytes}] {line}"
    return line
