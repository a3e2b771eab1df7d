"""The tracer's values: a packet, the node it meets, and what a trace found.

A :class:`Packet` is the first packet of a new flow; a :class:`NodeContext` says which
addresses the node owns (``-m addrtype LOCAL``) and where MASQUERADE rewrites to. A
:class:`TraceResult` holds every :class:`Branch` a trace split into (``-m statistic``) with
its exact probability, its :class:`Hop` list and the packet as it leaves.

    >>> node = NodeContext.of(["172.18.0.3", "127.0.0.1"])
    >>> node.masquerade_address
    '172.18.0.3'
    >>> Packet("10.244.2.5", "10.96.0.10", "udp", 40000, 53).proto
    'udp'
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Branch", "Hop", "NodeContext", "Packet", "TraceResult"]


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet's 5-tuple plus the interfaces it uses (``None``: not known).

    ``in_iface`` is where an arriving packet came in; ``out_iface`` where the route sends it.
    A rule with ``-i``/``-o`` is "not evaluated" when the interface it asks about is unknown.
    """

    src: str
    dst: str
    proto: str
    sport: int
    dport: int
    in_iface: str | None = None
    out_iface: str | None = None


@dataclass(frozen=True, slots=True)
class NodeContext:
    """The node a trace runs on: its own addresses and (optionally) the pod CIDR.

    ``masquerade_address`` is what MASQUERADE rewrites the source to: the kernel picks the
    egress interface's primary address; we take the node's first non-loopback address in
    address order (the node IP on a kind node, which has one interface). ``egress`` refines
    that per destination: ``(cidr, address)`` pairs, first match wins — on a kind node a
    local pod is reached through its veth, whose address is the pod CIDR's gateway
    (10.244.N.1), so a masqueraded packet to a local pod comes from there.

        >>> node = NodeContext.of(["172.18.0.3"], egress=[("10.244.1.0/24", "10.244.1.1")])
        >>> node.masquerade_for("10.244.1.5"), node.masquerade_for("10.244.2.7")
        ('10.244.1.1', '172.18.0.3')
    """

    local_addresses: frozenset[str]
    cluster_cidr: str | None = None
    egress: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Canonical text once, so is_local (asked for every addrtype rule) is a set lookup.
        canonical = frozenset(str(ipaddress.ip_address(a)) for a in self.local_addresses)
        object.__setattr__(self, "local_addresses", canonical)

    @staticmethod
    def of(
        addresses: Iterable[str],
        cluster_cidr: str | None = None,
        egress: Iterable[tuple[str, str]] = (),
    ) -> NodeContext:
        return NodeContext(frozenset(addresses), cluster_cidr, tuple(egress))

    def masquerade_for(self, destination: str) -> str | None:
        """The source address MASQUERADE picks for a packet routed to ``destination``."""
        ip = ipaddress.ip_address(destination)
        for cidr, address in self.egress:
            net = ipaddress.ip_network(cidr, strict=False)
            if net.version == ip.version and ip in net:
                return address
        return self.masquerade_address

    def is_local(self, address: str) -> bool:
        return address in self.local_addresses or _canonical(address) in self.local_addresses

    @property
    def masquerade_address(self) -> str | None:
        ips = sorted(
            (ipaddress.ip_address(a) for a in self.local_addresses),
            key=lambda ip: (ip.version, ip.is_loopback, ip),
        )
        return str(ips[0]) if ips else None


@functools.lru_cache(maxsize=65536)
def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``ipaddress.ip_address``, remembered: a pure memo of text to an immutable value,
    because a trace asks about the same few addresses for rule after rule."""
    return ipaddress.ip_address(text)


@functools.lru_cache(maxsize=65536)
def _canonical(address: str) -> str:
    return str(parse_address(address))


@dataclass(frozen=True, slots=True)
class Hop:
    """One rule a branch went through: where, the rule's text, its comment and why."""

    table: str
    chain: str
    rule: str
    comment: str | None
    why: str


@dataclass(frozen=True, slots=True)
class Branch:
    """One way the packet can go, with its exact probability.

    ``verdict`` is ``DNAT`` (accepted after a destination rewrite), ``ACCEPT`` (accepted by
    an ``ACCEPT`` target somewhere, or by a source NAT), ``NONE`` (accepted only by falling
    off chains into an ``ACCEPT`` policy), ``DROP`` or ``REJECT``. ``endpoint`` is the DNAT
    destination.
    """

    probability: Fraction
    verdict: str
    packet: Packet
    hops: tuple[Hop, ...]
    masquerade: bool
    endpoint: tuple[str, int] | None
    #: ``(list, address)`` pairs this branch's ``-m recent --set`` rules recorded.
    recent: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class TraceResult:
    """Everything a trace found.

    ``verdict``: ``DNAT`` when any branch DNATs; otherwise the branches' common verdict,
    where ``ACCEPT`` and ``NONE`` together count as ``ACCEPT``; ``MIXED`` when branches
    disagree otherwise (a random rule leading to different fates without DNAT).
    ``endpoints`` are ``(ip, port, probability)`` in first-seen order, one per distinct
    endpoint; ``masquerade`` is true when any branch was source-NATed. ``uncertain`` is
    true when some rule could not be evaluated; ``not_evaluated`` names those rules.
    """

    verdict: str
    branches: tuple[Branch, ...]
    endpoints: tuple[tuple[str, int, Fraction], ...]
    masquerade: bool
    uncertain: bool
    not_evaluated: tuple[str, ...] = ()

    @staticmethod
    def of(branches: Iterable[Branch], not_evaluated: Iterable[str]) -> TraceResult:
        bs = tuple(branches)
        probs: dict[tuple[str, int], Fraction] = {}
        for b in bs:
            if b.verdict == "DNAT" and b.endpoint is not None:
                probs[b.endpoint] = probs.get(b.endpoint, Fraction(0)) + b.probability
        verdicts = {b.verdict for b in bs}
        if "DNAT" in verdicts:
            verdict = "DNAT"
        elif verdicts == {"NONE"}:
            verdict = "NONE"
        elif verdicts <= {"ACCEPT", "NONE"}:
            verdict = "ACCEPT"
        elif len(verdicts) == 1:
            verdict = verdicts.pop()
        else:
            verdict = "MIXED"
        names = tuple(dict.fromkeys(not_evaluated))
        return TraceResult(
            verdict,
            bs,
            tuple((ip, port, p) for (ip, port), p in probs.items()),
            any(b.masquerade for b in bs),
            bool(names),
            names,
        )
