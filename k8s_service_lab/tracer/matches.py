"""How each xtables match judges the first packet of a new flow.

:func:`evaluate` returns ``(outcome, reason)``: ``True``/``False``; a :class:`~fractions.Fraction`
for ``-m statistic --mode random`` (the rule matches with that probability, and the trace
splits); or ``None`` when the match cannot be decided from what the tracer knows (an unknown
module, an interface nobody named, ipset contents) — the engine then reports the rule as
"not evaluated" rather than guess.

    >>> from k8s_service_lab.netfilter import Addr, Statistic
    >>> from k8s_service_lab.tracer.model import NodeContext, Packet, parse_address
    >>> flow = Flow(Packet("10.244.1.2", "10.96.0.1", "tcp", 40000, 443))
    >>> node = NodeContext.of(["172.18.0.3"])
    >>> evaluate(Addr("s", "10.244.0.0/16", invert=True), flow, node)
    (False, '! -s 10.244.0.0/16 vs 10.244.1.2')
    >>> evaluate(Statistic(probability="0.3333333333"), flow, node)[0]
    Fraction(1, 3)
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from fractions import Fraction

from k8s_service_lab.netfilter import (
    Addr,
    AddrType,
    Comment,
    ConnTrack,
    Fragment,
    Iface,
    Limit,
    Mark,
    Match,
    Multiport,
    NfAcct,
    PortSpec,
    Protocol,
    Recent,
    State,
    Statistic,
    TcpUdp,
)
from k8s_service_lab.tracer.model import NodeContext, Packet, parse_address

__all__ = ["PROBABILITIES", "Flow", "Outcome", "evaluate", "in_cidr", "probability"]

# How a written --probability becomes a Fraction: "intended" (the simplest fraction that
# rounds to the written decimal: 0.3333333333 -> 1/3, recovering kube-proxy's 1/(n-i)),
# "written" (the decimal exactly, Statistic.fraction()) or "kernel" (the 31-bit fraction
# libxt_statistic stores, Statistic.kernel_fraction()).
PROBABILITIES = ("intended", "written", "kernel")

Outcome = bool | Fraction | None

# IANA protocol numbers iptables accepts for -p (and prints back as names).
_PROTO_NUMBERS = {"6": "tcp", "17": "udp", "132": "sctp", "1": "icmp"}
# libxt_tcp's flag names; the first packet of a new TCP flow carries SYN alone.
_ALL_FLAGS = frozenset({"FIN", "SYN", "RST", "PSH", "ACK", "URG"})
_FIRST_PACKET_FLAGS = frozenset({"SYN"})


@dataclass(frozen=True, slots=True)
class Flow:
    """The packet as it stands mid-trace plus the state of its (new) connection.

    ``nat`` holds ``"DNAT"``/``"SNAT"`` once the connection was rewritten (conntrack's
    virtual ctstates); ``recent`` the ``(list, address)`` pairs a ``--set`` recorded
    earlier in this trace; ``original`` the packet before any rewrite (``--ctorigdst``).
    """

    packet: Packet
    mark: int = 0
    nat: frozenset[str] = frozenset()
    recent: frozenset[tuple[str, str]] = frozenset()
    original: Packet | None = field(default=None)

    @property
    def origin(self) -> Packet:
        return self.packet if self.original is None else self.original


def _simplest(lo: Fraction, hi: Fraction) -> Fraction:
    # The Stern-Brocot walk by continued fractions: the fraction with the smallest
    # denominator in [lo, hi] (0 <= lo <= hi).
    n = lo.numerator // lo.denominator
    if n == lo:
        return Fraction(n)
    if n + 1 <= hi:
        return Fraction(n + 1)
    return n + 1 / _simplest(1 / (hi - n), 1 / (lo - n))


def probability(match: Statistic, mode: str = "intended") -> Fraction:
    """The probability a random ``match`` matches, read as ``mode`` (see PROBABILITIES).

    >>> str(probability(Statistic(probability="0.1666666667")))
    '1/6'
    >>> str(probability(Statistic(probability="0.1666666667"), "written"))
    '1666666667/10000000000'
    >>> str(probability(Statistic(probability="0.33333333349")))  # as iptables-save prints it
    '1/3'

    "intended" is the simplest fraction that either rounds to the written decimal or that
    kube-proxy could have written for the 31-bit value the kernel stores: kube-proxy writes
    ``%0.10f`` of 1/n, libxt_statistic stores ``lround(2^31 * p)``, and ``iptables-save``
    prints that back with 11 decimals — so both texts lead back to 1/n.
    """
    if mode == "written":
        return match.fraction()
    if mode == "kernel":
        return match.kernel_fraction()
    return _intended(match)


@functools.lru_cache(maxsize=4096)
def _intended(match: Statistic) -> Fraction:
    # A pure memo (Statistic is frozen): every trace meets the same few probabilities.
    written = match.fraction()
    text = match.probability or "0"
    digits = len(text.partition(".")[2])
    half = Fraction(1, 2 * 10**digits)
    by_text = _simplest(max(written - half, Fraction(0)), min(written + half, Fraction(1)))
    stored = match.kernel_fraction()
    # Every 10-decimal text that stores as this value, and every fraction that rounds to one.
    slack = Fraction(1, 2 * 0x80000000) + Fraction(1, 2 * 10**10)
    by_kernel = _simplest(max(stored - slack, Fraction(0)), min(stored + slack, Fraction(1)))
    return min(by_text, by_kernel, key=lambda f: (f.denominator, f != written))


def in_cidr(address: str, cidr: str) -> bool:
    """Whether ``address`` is inside ``cidr`` (a bare address is a host route)."""
    ip = parse_address(address)
    net = _network(cidr)
    return ip.version == net.version and ip in net


# A pure memo, like model.parse_address: the same CIDRs are asked about for every packet.
@functools.lru_cache(maxsize=65536)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


def _port_in(port: int, spec: PortSpec) -> bool:
    if isinstance(spec, int):
        return port == spec
    return spec[0] <= port <= spec[1]


def _flags(text: str) -> frozenset[str]:
    if text == "ALL":
        return _ALL_FLAGS
    if text == "NONE":
        return frozenset()
    return frozenset(text.split(","))


def _proto_name(name: str) -> str:
    return _PROTO_NUMBERS.get(name, name.lower())


def evaluate(
    match: Match, flow: Flow, node: NodeContext, probabilities: str = "intended"
) -> tuple[Outcome, str]:
    """Judge one match against ``flow`` on ``node``: ``(outcome, reason)``."""
    p = flow.packet
    bang = "! " if getattr(match, "invert", False) else ""
    if type(match) is Comment or type(match) is NfAcct:
        return True, "always"
    if type(match) is Addr:
        addr = p.src if match.direction == "s" else p.dst
        hit = in_cidr(addr, match.cidr) != match.invert
        return hit, f"{bang}-{match.direction} {match.cidr} vs {addr}"
    if type(match) is Protocol:
        name = _proto_name(match.name)
        hit = (name in ("all", "0") or name == p.proto) != match.invert
        return hit, f"{bang}-p {match.name} vs {p.proto}"
    if type(match) is TcpUdp:
        return _tcpudp(match, p)
    if type(match) is Multiport:
        ports = {"sports": (p.sport,), "dports": (p.dport,), "ports": (p.sport, p.dport)}
        wanted = ports[match.option]
        found = any(_port_in(x, s) for x in wanted for s in match.ports)
        return found != match.invert, f"{bang}--{match.option} vs {wanted}"
    if type(match) is Iface:
        iface = p.in_iface if match.direction == "i" else p.out_iface
        if iface is None:
            return None, f"-{match.direction} {match.name}: interface not known"
        if match.name.endswith("+"):
            same = iface.startswith(match.name[:-1])
        else:
            same = iface == match.name
        return same != match.invert, f"{bang}-{match.direction} {match.name} vs {iface}"
    if type(match) is AddrType:
        return _addrtype(match, p, node)
    if type(match) is Mark:
        hit = ((flow.mark & match.mask_int) == match.value_int) != match.invert
        return hit, f"{bang}--mark {match.value}/{match.mask} vs {flow.mark:#x}"
    if type(match) is ConnTrack:
        return _conntrack(match, flow)
    if type(match) is State:
        states = _ctstates(flow)
        hit = bool(states & set(match.states)) != match.invert
        return hit, f"{bang}--state {','.join(match.states)} vs {','.join(sorted(states))}"
    if type(match) is Statistic:
        if match.mode != "random" or match.probability is None:
            return None, f"statistic --mode {match.mode} depends on packet counters"
        prob = probability(match, probabilities)
        prob = 1 - prob if match.invert else prob
        why = f"{bang}--probability {match.probability}: {prob} of the flows that get here"
        return prob, why
    if type(match) is Recent:
        return _recent(match, flow)
    if type(match) is Fragment:
        # A first packet is never a second-or-later fragment.
        return match.invert, f"{bang}-f vs unfragmented"
    if type(match) is Limit:
        # A fresh token bucket starts full (burst), so a single packet always passes.
        return True, "limit: first packet within burst"
    return None, f"match {type(match).__name__} not modelled"


def _tcpudp(m: TcpUdp, p: Packet) -> tuple[Outcome, str]:
    if m.protocol != p.proto:
        return False, f"-m {m.protocol} vs {p.proto}"
    if m.sport is not None and _port_in(p.sport, m.sport) == m.sport_invert:
        return False, f"--sport {m.sport} vs {p.sport}"
    if m.dport is not None and _port_in(p.dport, m.dport) == m.dport_invert:
        return False, f"--dport {m.dport} vs {p.dport}"
    if m.tcp_flags is not None:
        mask, comp = (_flags(x) for x in m.tcp_flags)
        hit = ((_FIRST_PACKET_FLAGS & mask) == comp) != m.tcp_flags_invert
        if not hit:
            return False, "--tcp-flags vs SYN"
    return True, f"{m.protocol} ports {p.sport}->{p.dport}"


def _addr_type(address: str, node: NodeContext) -> str:
    # RTN_* classes as the kernel's routing lookup assigns them (xt_addrtype's match_type).
    ip = parse_address(address)
    if node.is_local(address):
        return "LOCAL"
    if ip.is_multicast:
        return "MULTICAST"
    if ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "BROADCAST"
    return "UNICAST"


def _addrtype(m: AddrType, p: Packet, node: NodeContext) -> tuple[Outcome, str]:
    if m.limit_iface_in or m.limit_iface_out:
        return None, "addrtype --limit-iface-*: per-interface addresses not modelled"
    known = {"LOCAL", "UNICAST", "MULTICAST", "BROADCAST"}
    reasons = []
    for wanted, invert, address, opt in (
        (m.src_type, m.src_invert, p.src, "--src-type"),
        (m.dst_type, m.dst_invert, p.dst, "--dst-type"),
    ):
        if wanted is None:
            continue
        types = set(wanted.split(","))
        if not types <= known:
            return None, f"addrtype {wanted} not modelled"
        actual = _addr_type(address, node)
        if (actual in types) == invert:
            return False, f"{opt} {wanted} vs {address} ({actual})"
        reasons.append(f"{opt} {wanted}: {address} is {actual}")
    return True, "; ".join(reasons)


def _ctstates(flow: Flow) -> set[str]:
    # A traced packet opens a connection: NEW, plus conntrack's virtual DNAT/SNAT states
    # once the connection's tuple was rewritten (xt_conntrack's ct_proto_... state bits).
    return {"NEW", *flow.nat}


def _conntrack(m: ConnTrack, flow: Flow) -> tuple[Outcome, str]:
    if m.ctstatus is not None:
        return None, "conntrack --ctstatus not modelled"
    reasons = []
    if m.ctstate is not None:
        states = _ctstates(flow)
        if bool(states & set(m.ctstate)) == m.ctstate_invert:
            return False, f"--ctstate {','.join(m.ctstate)} vs {','.join(sorted(states))}"
        reasons.append(f"ctstate {','.join(sorted(states))}")
    origin = flow.origin
    for cidr, invert, address in (
        (m.ctorigsrc, m.ctorigsrc_invert, origin.src),
        (m.ctorigdst, m.ctorigdst_invert, origin.dst),
    ):
        if cidr is not None and in_cidr(address, cidr) == invert:
            return False, f"--ctorig {cidr} vs {address}"
    if m.ctdir is not None and m.ctdir != "ORIGINAL":
        return False, f"--ctdir {m.ctdir} vs ORIGINAL"
    return True, "; ".join(reasons) or "conntrack"


def _recent(m: Recent, flow: Flow) -> tuple[Outcome, str]:
    name = m.name or "DEFAULT"
    side = flow.packet.dst if m.side == "rdest" else flow.packet.src
    if m.command == "set":
        return not m.invert, f"--set {name} {side}"
    # --rcheck/--update/--remove: only an earlier --set in this trace session can hit.
    seen = (name, side) in flow.recent
    return seen != m.invert, f"--{m.command} {name}: {side} {'seen' if seen else 'not seen'}"
