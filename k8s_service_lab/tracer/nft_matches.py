"""How nftables expressions judge the first packet of a new flow, and how sets are looked up.

:func:`evaluate` answers for one match expression: ``(True | False | None, why)``, ``None``
when it cannot be decided from what the tracer knows (an interface nobody named, an expression
the parser kept as :class:`~k8s_service_lab.netfilter.nftables_dump.Opaque`) — the engine then
reports the rule as "not evaluated" rather than guess. :class:`ElementIndex` is a set's or
map's elements keyed for O(1) lookup — the whole point of kube-proxy's ``vmap @service-ips``
dispatch — with prefix and range elements (``flags interval``) checked one by one.
:func:`numgen_shares` gives each ``numgen random mod N`` branch its exact probability.

    >>> from k8s_service_lab.netfilter.nftables import AddrMatch, NftElement, goto
    >>> from k8s_service_lab.tracer.matches import Flow
    >>> from k8s_service_lab.tracer.model import NodeContext, Packet
    >>> flow = Flow(Packet("10.244.1.2", "10.96.0.1", "tcp", 40000, 443))
    >>> evaluate(AddrMatch("saddr", "10.244.0.0/16", negate=True), flow, NodeContext.of([]))
    (False, 'ip saddr != 10.244.0.0/16 vs 10.244.1.2')
    >>> index = ElementIndex([NftElement("m", ("10.96.0.1", "tcp", "443"), goto("svc"))])
    >>> index.lookup(("10.96.0.1", "tcp", "443")).value
    Verdict(kind='goto', chain='svc')
    >>> [str(p) for p in numgen_shares(3, "kernel")]
    ['715827883/2147483648', '1431655765/4294967296', '1431655765/4294967296']
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from fractions import Fraction

from k8s_service_lab.netfilter.nftables import (
    AddrLookup,
    AddrMatch,
    AddrSet,
    CtState,
    FibLocal,
    Field,
    IfName,
    L4Proto,
    MarkCheck,
    NftElement,
)
from k8s_service_lab.netfilter.nftables_dump import OifName, PortMatch
from k8s_service_lab.tracer.matches import Flow, in_cidr
from k8s_service_lab.tracer.model import NodeContext, Packet, parse_address

__all__ = [
    "ElementIndex",
    "Outcome",
    "addr_in",
    "evaluate",
    "host_port",
    "key_part",
    "numgen_shares",
    "packet_key",
]

Outcome = bool | None

# IANA numbers nft prints for protocols it has no name for (and accepts either way).
_PROTO_NAMES = {"6": "tcp", "17": "udp", "132": "sctp", "1": "icmp", "58": "ipv6-icmp"}
# Transport protocols whose header starts with source and destination ports ("th").
_PORTED = frozenset({"tcp", "udp", "sctp", "udplite", "dccp"})
_TWO32 = 1 << 32


def numgen_shares(n: int, probabilities: str = "intended") -> tuple[Fraction, ...]:
    """The chance ``numgen random mod n`` yields each of ``0 .. n-1``.

    Intended (and written: nft writes no probabilities) it is exactly ``1/n``. The kernel
    (``nft_ng_random_gen`` in net/netfilter/nft_numgen.c) takes ``reciprocal_scale(r, n)``,
    i.e. ``(r * n) >> 32`` of a uniform 32-bit ``r``: value ``i`` gets the ``r`` in
    ``[ceil(i * 2^32 / n), ceil((i + 1) * 2^32 / n))``, so shares differ by at most 2^-32.
    """
    if probabilities != "kernel":
        return (Fraction(1, n),) * n
    bounds = [-(-i * _TWO32 // n) for i in range(n + 1)]
    return tuple(Fraction(bounds[i + 1] - bounds[i], _TWO32) for i in range(n))


def host_port(to: str) -> tuple[str, int | None]:
    """``10.0.0.1:80`` / ``[fd00::1]:80`` / ``10.0.0.1`` as address and port (canonical)."""
    if to.startswith("["):
        host, _, rest = to[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else None
    elif to.count(":") == 1:
        host, _, text = to.partition(":")
        port = int(text.split("-")[0])
    else:
        host, port = to, None
    return str(parse_address(host)), port


def addr_in(address: str, value: str) -> bool:
    """Whether ``address`` is ``value``: an address, a prefix, or an ``lo-hi`` range."""
    if "-" in value and "/" not in value:
        lo, hi = (parse_address(v) for v in value.split("-", 1))
        ip = parse_address(address)
        return ip.version == lo.version and lo <= ip <= hi  # type: ignore[operator]
    return in_cidr(address, value)


def key_part(text: str | int) -> str:
    """One key part as the index compares it: canonical address, protocol name, port."""
    word = str(text)
    if word.isdigit():
        return str(int(word))
    if word in _PROTO_NAMES.values() or word.isalpha():
        return word.lower()
    try:
        return str(ipaddress.ip_address(word))
    except ValueError:
        return word


def packet_key(fields: Iterable[Field], packet: Packet) -> tuple[str, ...]:
    """The packet's values for a concatenation such as ``ip daddr . meta l4proto . th dport``."""
    out = []
    for f in fields:
        if f == "dport":
            out.append(str(packet.dport))
        elif f == "l4proto":
            out.append(packet.proto)
        else:
            out.append(str(parse_address(packet.src if f == "saddr" else packet.dst)))
    return tuple(out)


class ElementIndex:
    """A set's or map's elements: exact keys in a dict, intervals in a list."""

    def __init__(self, elements: Iterable[NftElement]) -> None:
        self.exact: dict[tuple[str, ...], NftElement] = {}
        self.ranged: list[NftElement] = []
        for e in elements:
            if any(("/" in p or "-" in p) for p in e.key):
                self.ranged.append(e)
            else:
                self.exact.setdefault(tuple(key_part(p) for p in e.key), e)

    def lookup(self, key: tuple[str, ...]) -> NftElement | None:
        found = self.exact.get(key)
        if found is not None or not self.ranged:
            return found
        for e in self.ranged:
            if len(e.key) == len(key) and all(
                _part_in(k, p) for k, p in zip(key, e.key, strict=True)
            ):
                return e
        return None


def _part_in(value: str, part: str) -> bool:
    if ("/" in part or "-" in part) and not part.isalpha():
        if part.replace("-", "").isdigit():
            lo, _, hi = part.partition("-")
            return value.isdigit() and int(lo) <= int(value) <= int(hi or lo)
        try:
            return addr_in(value, part)
        except ValueError:
            return False
    return key_part(part) == value


def _ports(port: int, values: tuple[str, ...]) -> bool:
    for v in values:
        lo, _, hi = v.partition("-")
        if int(lo) <= port <= int(hi or lo):
            return True
    return False


def evaluate(
    expr: object,
    flow: Flow,
    node: NodeContext,
    sets: Callable[[str], ElementIndex | None] | None = None,
) -> tuple[Outcome, str]:
    """Judge one match expression against ``flow`` on ``node``: ``(outcome, reason)``.

    ``sets`` finds the index of a named set of the rule's table (for ``@set`` lookups); an
    address an ``update @set`` recorded earlier in the trace session also counts.
    """
    p = flow.packet
    ne = "!= " if getattr(expr, "negate", False) else ""
    if type(expr) is AddrMatch:
        address = p.src if expr.field == "saddr" else p.dst
        hit = addr_in(address, expr.value) != expr.negate
        return hit, f"ip {expr.field} {ne}{expr.value} vs {address}"
    if type(expr) is AddrSet:
        address = p.src if expr.field == "saddr" else p.dst
        hit = any(addr_in(address, v) for v in expr.values) != expr.negate
        return hit, f"ip {expr.field} {ne}{{ {', '.join(expr.values)} }} vs {address}"
    if type(expr) is AddrLookup:
        address = p.src if expr.field == "saddr" else p.dst
        index = None if sets is None else sets(expr.set_name)
        if index is None:
            return None, f"set @{expr.set_name} is not in the dump"
        found = index.lookup((key_part(address),)) is not None
        remembered = (expr.set_name, key_part(address)) in flow.recent
        hit = (found or remembered) != expr.negate
        where = "in" if found or remembered else "not in"
        return hit, f"ip {expr.field} {ne}@{expr.set_name}: {address} {where} the set"
    if type(expr) is FibLocal:
        address = p.src if expr.field == "saddr" else p.dst
        local = node.is_local(address)
        return local, f"fib {expr.field} type local: {address} is {'' if local else 'not '}local"
    if type(expr) is CtState:
        # The traced packet opens a connection: conntrack calls it "new".
        return "new" in expr.states, f"ct state {','.join(expr.states)} vs new"
    if type(expr) is L4Proto:
        proto = _PROTO_NAMES.get(expr.protocol, expr.protocol)
        return proto == p.proto, f"meta l4proto {expr.protocol} vs {p.proto}"
    if type(expr) is PortMatch:
        if (expr.protocol == "th" and p.proto not in _PORTED) or (
            expr.protocol != "th" and expr.protocol != p.proto
        ):
            return False, f"{expr.protocol} {expr.field} vs {p.proto}"
        port = p.dport if expr.field == "dport" else p.sport
        hit = _ports(port, expr.values) != expr.negate
        return hit, f"{expr.protocol} {expr.field} {ne}{','.join(expr.values)} vs {port}"
    if type(expr) is IfName or type(expr) is OifName:
        iface = p.in_iface if type(expr) is IfName else p.out_iface
        word = "iifname" if type(expr) is IfName else "oifname"
        if iface is None:
            return None, f"{word} {expr.name}: interface not known"
        same = iface.startswith(expr.name[:-1]) if expr.name.endswith("*") else iface == expr.name
        return same != expr.negate, f"{word} {ne}{expr.name} vs {iface}"
    if type(expr) is MarkCheck:
        hit = flow.mark & int(expr.mask, 0) == int(expr.value, 0)
        return hit, f"mark and {expr.mask} == {expr.value} vs {flow.mark:#x}"
    return None, f"{type(expr).__name__} not modelled"
