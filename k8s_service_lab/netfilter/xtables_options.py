"""Reading one match module's or target's options into its typed value.

Each known module (``-m tcp``, ``-m recent`` ...) and target (``-j DNAT`` ...) has a table of
options with their arity and a builder. An option the table does not know makes the caller
keep the whole module verbatim (:class:`.UnknownMatch`), so newer or rarer options are never
misread; a known option with a bad value is a :class:`ValueError` the parser reports with its
line number.

    >>> m = build_match("recent", [("--name", ["KUBE-SEP-X"], False), ("--rcheck", [], False),
    ...                            ("--seconds", ["10800"], False), ("--reap", [], False)])
    >>> m.command, m.name, m.seconds, m.reap
    ('rcheck', 'KUBE-SEP-X', 10800, True)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from k8s_service_lab.netfilter.xtables_canon import CT_STATES, CT_STATUS, LOG_LEVELS, TCP_FLAGS
from k8s_service_lab.netfilter.xtables_matches import (
    DNAT,
    SNAT,
    Accept,
    AddrType,
    Comment,
    ConnMark,
    ConnTrack,
    Drop,
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
    Recent,
    Reject,
    Return,
    Set,
    State,
    Statistic,
    Target,
    TcpUdp,
)

__all__ = [
    "MATCH_OPTIONS",
    "PORT_OPTIONS",
    "TARGET_OPTIONS",
    "Option",
    "build_match",
    "build_target",
    "parse_port",
]

# (option, values, inverted) as read from a rule.
Option = tuple[str, list[str], bool]

PORT_OPTIONS = {"--sport": 1, "--source-port": 1, "--dport": 1, "--destination-port": 1}
TCP_ONLY = {"--tcp-flags": 2, "--syn": 0}
MATCH_OPTIONS: dict[str, dict[str, int]] = {
    "comment": {"--comment": 1},
    "tcp": {**PORT_OPTIONS, **TCP_ONLY},
    "udp": dict(PORT_OPTIONS),
    "sctp": dict(PORT_OPTIONS),
    "multiport": {
        "--sports": 1, "--source-ports": 1, "--dports": 1, "--destination-ports": 1, "--ports": 1,
    },
    "addrtype": {"--src-type": 1, "--dst-type": 1, "--limit-iface-in": 0, "--limit-iface-out": 0},
    "conntrack": {
        "--ctstate": 1, "--ctorigsrc": 1, "--ctorigdst": 1, "--ctstatus": 1, "--ctdir": 1,
    },
    "state": {"--state": 1},
    "mark": {"--mark": 1},
    "statistic": {"--mode": 1, "--probability": 1, "--every": 1, "--packet": 1},
    "recent": {
        "--set": 0, "--rcheck": 0, "--update": 0, "--remove": 0, "--seconds": 1, "--hitcount": 1,
        "--reap": 0, "--rttl": 0, "--name": 1, "--rsource": 0, "--rdest": 0, "--mask": 1,
    },
    "nfacct": {"--nfacct-name": 1},
    "physdev": {
        "--physdev-in": 1, "--physdev-out": 1, "--physdev-is-in": 0, "--physdev-is-out": 0,
        "--physdev-is-bridged": 0,
    },
    "set": {"--match-set": 2},
    "limit": {"--limit": 1, "--limit-burst": 1},
}  # fmt: skip
TARGET_OPTIONS: dict[str, dict[str, int]] = {
    "ACCEPT": {},
    "DROP": {},
    "RETURN": {},
    "REJECT": {"--reject-with": 1},
    "DNAT": {"--to-destination": 1, "--random": 0, "--persistent": 0},
    "SNAT": {"--to-source": 1, "--random": 0, "--random-fully": 0, "--persistent": 0},
    "MASQUERADE": {"--to-ports": 1, "--random": 0, "--random-fully": 0},
    "MARK": {"--set-xmark": 1, "--set-mark": 1, "--or-mark": 1, "--and-mark": 1, "--xor-mark": 1},
    "CONNMARK": {
        "--set-xmark": 1, "--set-mark": 1, "--or-mark": 1, "--and-mark": 1, "--xor-mark": 1,
        "--save-mark": 0, "--restore-mark": 0, "--mask": 1, "--nfmask": 1, "--ctmask": 1,
    },
    "LOG": {
        "--log-prefix": 1, "--log-level": 1, "--log-tcp-sequence": 0, "--log-tcp-options": 0,
        "--log-ip-options": 0, "--log-uid": 0, "--log-macdecode": 0,
    },
}  # fmt: skip
ADDR_TYPES = (
    "UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
    "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE",
)  # fmt: skip


def parse_port(text: str) -> PortSpec:
    """``80`` -> 80, ``3001:3005`` -> (3001, 3005); missing range ends are 0 and 65535."""
    if ":" in text:
        lo, _, hi = text.partition(":")
        low = _int(lo, 0, 65535) if lo else 0
        high = _int(hi, 0, 65535) if hi else 65535
        if low > high:
            raise ValueError(f"invalid port range {text!r}")
        return (low, high)
    return _int(text, 0, 65535)


def _int(text: str, low: int = 0, high: int = 0xFFFFFFFF) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"invalid number {text!r}")
    return int(text)


def _mark(text: str) -> str:
    for part in text.split("/", 1):
        try:
            value = int(part, 0)
        except ValueError:
            raise ValueError(f"invalid mark {text!r}") from None
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"invalid mark {text!r}")
    return text


def _names(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(text.split(","))
    for name in names:
        if name.upper() not in allowed:
            raise ValueError(f"invalid {what} {name!r}")
    return names


def _addr(text: str) -> str:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"invalid address {text!r}") from None
    return text


def _single(opts: list[Option], what: str) -> Option:
    if len(opts) != 1:
        raise ValueError(f"{what} needs exactly one option")
    return opts[0]


def _tcpudp(proto: str) -> Callable[[list[Option]], Match]:
    def build(opts: list[Option]) -> Match:
        m = TcpUdp(proto)
        for opt, vals, inv in opts:
            if opt in ("--sport", "--source-port"):
                m = _with(m, sport=parse_port(vals[0]), sport_invert=inv)
            elif opt in ("--dport", "--destination-port"):
                m = _with(m, dport=parse_port(vals[0]), dport_invert=inv)
            elif opt == "--syn":
                m = _with(m, tcp_flags=("FIN,SYN,RST,ACK", "SYN"), tcp_flags_invert=inv)
            else:
                for flag in ",".join(vals).split(","):
                    if flag.upper() not in (*TCP_FLAGS, "ALL", "NONE"):
                        raise ValueError(f"invalid tcp flag {flag!r}")
                m = _with(m, tcp_flags=(vals[0], vals[1]), tcp_flags_invert=inv)
        return m

    return build


def _with(m: TcpUdp, **changes: object) -> TcpUdp:
    from dataclasses import replace

    return replace(m, **changes)  # type: ignore[arg-type]


def _multiport(opts: list[Option]) -> Match:
    opt, vals, inv = _single(opts, "multiport")
    kind = {"--source-ports": "sports", "--destination-ports": "dports"}.get(opt, opt[2:])
    ports = tuple(parse_port(p) for p in vals[0].split(","))
    if len(ports) > 15:
        raise ValueError("multiport takes at most 15 ports")
    return Multiport(kind, ports, inv)


def _addrtype(opts: list[Option]) -> Match:
    kw: dict[str, object] = {}
    for opt, vals, inv in opts:
        if opt in ("--src-type", "--dst-type"):
            side = opt[2:5]
            kw[f"{side}_type"] = ",".join(_names(vals[0], ADDR_TYPES, "address type"))
            kw[f"{side}_invert"] = inv
        else:
            kw[opt[2:].replace("-", "_")] = True
    return AddrType(**kw)  # type: ignore[arg-type]


def _conntrack(opts: list[Option]) -> Match:
    kw: dict[str, object] = {}
    for opt, vals, inv in opts:
        name = opt[2:]
        if name == "ctstate":
            kw["ctstate"] = _names(vals[0], CT_STATES, "state")
        elif name == "ctstatus":
            kw["ctstatus"] = _names(vals[0], CT_STATUS, "status")
        elif name == "ctdir":
            if vals[0].upper() not in ("ORIGINAL", "REPLY"):
                raise ValueError(f"invalid ctdir {vals[0]!r}")
            kw["ctdir"] = vals[0]
            continue
        else:
            kw[name] = _addr(vals[0])
        kw[f"{name}_invert"] = inv
    return ConnTrack(**kw)  # type: ignore[arg-type]


def _statistic(opts: list[Option]) -> Match:
    kw: dict[str, object] = {}
    invert = False
    for opt, vals, inv in opts:
        name = opt[2:]
        if name == "mode":
            if vals[0] not in ("random", "nth"):
                raise ValueError(f"invalid statistic mode {vals[0]!r}")
            kw["mode"] = vals[0]
        elif name == "probability":
            try:
                p = float(vals[0])
            except ValueError:
                raise ValueError(f"invalid probability {vals[0]!r}") from None
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"invalid probability {vals[0]!r}")
            kw["probability"] = vals[0]
            invert = invert or inv
        else:
            kw[name] = _int(vals[0])
            invert = invert or inv
    m = Statistic(invert=invert, **kw)  # type: ignore[arg-type]
    if (m.mode == "random") != (m.probability is not None) or (m.mode == "nth") != (
        m.every is not None
    ):
        raise ValueError("statistic needs --mode random --probability P or --mode nth --every N")
    return m


def _recent(opts: list[Option]) -> Match:
    kw: dict[str, object] = {}
    for opt, vals, inv in opts:
        name = opt[2:]
        if name in ("set", "rcheck", "update", "remove"):
            if "command" in kw:
                raise ValueError("recent takes one of --set, --rcheck, --update, --remove")
            kw["command"], kw["invert"] = name, inv
        elif name in ("seconds", "hitcount"):
            kw[name] = _int(vals[0])
        elif name in ("reap", "rttl"):
            kw[name] = True
        elif name in ("rsource", "rdest"):
            kw["side"] = name
        elif name == "mask":
            kw["mask"] = str(ipaddress.ip_address(vals[0]))
        else:
            kw["name"] = vals[0]
    if "command" not in kw:
        kw["command"] = "set"
    return Recent(**kw)  # type: ignore[arg-type]


def _physdev(opts: list[Option]) -> Match:
    kw: dict[str, object] = {}
    for opt, vals, inv in opts:
        if opt in ("--physdev-in", "--physdev-out"):
            side = opt[10:]
            kw[f"physdev_{side}"], kw[f"{side}_invert"] = vals[0], inv
        else:
            kw[opt[10:].replace("-", "_")] = not inv
    return Physdev(**kw)  # type: ignore[arg-type]


def _limit(opts: list[Option]) -> Match:
    from k8s_service_lab.netfilter.xtables_canon import canon_limit_rate

    rate: str | None = None
    burst: int | None = None
    for opt, vals, _ in opts:
        if opt == "--limit":
            try:
                canon_limit_rate(vals[0])
            except (ValueError, ZeroDivisionError):
                raise ValueError(f"invalid rate {vals[0]!r}") from None
            rate = vals[0]
        else:
            burst = _int(vals[0], 1, 10000)
    return Limit(rate, burst)


_MATCH_BUILDERS: dict[str, Callable[[list[Option]], Match]] = {
    "comment": lambda o: Comment(_single(o, "comment")[1][0]),
    "tcp": _tcpudp("tcp"),
    "udp": _tcpudp("udp"),
    "sctp": _tcpudp("sctp"),
    "multiport": _multiport,
    "addrtype": _addrtype,
    "conntrack": _conntrack,
    "state": lambda o: State(_names(_single(o, "state")[1][0], CT_STATES, "state"), o[0][2]),
    "mark": lambda o: _markmatch(_single(o, "mark")),
    "statistic": _statistic,
    "recent": _recent,
    "nfacct": lambda o: NfAcct(_single(o, "nfacct")[1][0]),
    "physdev": _physdev,
    "set": lambda o: Set(_single(o, "set")[1][0], o[0][1][1], o[0][2]),
    "limit": _limit,
}


def _markmatch(opt: Option) -> Mark:
    value, _, mask = _mark(opt[1][0]).partition("/")
    return Mark(value, mask or None, opt[2])


def build_match(module: str, opts: list[Option]) -> Match:
    """The typed value for ``-m MODULE`` with these options (``ValueError`` if malformed)."""
    if any(inv for opt, _, inv in opts if opt in _NOT_INVERTIBLE):
        raise ValueError(f"option {_first_inverted(opts)} cannot be inverted")
    return _MATCH_BUILDERS[module](opts)


_NOT_INVERTIBLE = frozenset(
    ["--comment", "--nfacct-name", "--limit", "--limit-burst", "--mode", "--ctdir", "--name",
     "--seconds", "--hitcount", "--reap", "--rttl", "--rsource", "--rdest", "--mask",
     "--limit-iface-in", "--limit-iface-out", "--packet"]
)  # fmt: skip


def _first_inverted(opts: list[Option]) -> str:
    return next(opt for opt, _, inv in opts if inv)


def build_target(name: str, opts: list[Option]) -> Target:
    """The typed value for ``-j NAME`` with these options (``ValueError`` if malformed)."""
    if any(inv for _, _, inv in opts):
        raise ValueError(f"target option {_first_inverted(opts)} cannot be inverted")
    flags = {opt[2:] for opt, vals, _ in opts if not vals}
    values = {opt[2:]: vals[0] for opt, vals, _ in opts if vals}
    if name == "ACCEPT":
        return Accept()
    if name == "DROP":
        return Drop()
    if name == "RETURN":
        return Return()
    if name == "REJECT":
        return Reject(values.get("reject-with"))
    if name == "DNAT":
        return DNAT(values.get("to-destination"), "random" in flags, "persistent" in flags)
    if name == "SNAT":
        return SNAT(
            values.get("to-source"), "random" in flags, "random-fully" in flags,
            "persistent" in flags,
        )  # fmt: skip
    if name == "MASQUERADE":
        return Masquerade(values.get("to-ports"), "random" in flags, "random-fully" in flags)
    if name == "MARK":
        op, vals, _ = _single(opts, "MARK")
        value, _, mask = _mark(vals[0]).partition("/")
        if mask and op[2:] not in ("set-xmark", "set-mark"):
            raise ValueError(f"{op} takes no mask")
        return MarkTarget(op[2:], value, mask or None)
    if name == "CONNMARK":
        return _connmark(opts)
    level = values.get("log-level")
    if level is not None and level.lower() not in LOG_LEVELS:
        _int(level, 0, 7)
    written = tuple(opt[2:] for opt, vals, _ in opts if not vals)
    return Log(values.get("log-prefix"), level, written)


def _connmark(opts: list[Option]) -> Target:
    ops = [o for o, _, _ in opts if o not in ("--mask", "--nfmask", "--ctmask")]
    if len(ops) != 1:
        raise ValueError("CONNMARK needs exactly one action")
    kw = {o[2:]: v[0] for o, v, _ in opts if v}
    op = ops[0][2:]
    if op in ("save-mark", "restore-mark"):
        for key in ("mask", "nfmask", "ctmask"):
            if key in kw:
                _mark(kw[key])
        return ConnMark(op, None, kw.get("mask"), kw.get("nfmask"), kw.get("ctmask"))
    value, _, mask = _mark(kw[op]).partition("/")
    return ConnMark(op, value, mask or None)
