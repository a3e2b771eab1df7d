r"""Indexed dispatch for big chains: candidate rules by (destination, protocol, port).

A KUBE-SERVICES chain holds one rule per Service port, each ``-d IP/32 -p PROTO --dport
PORT`` plus a comment. Such a rule can only match a packet with exactly that key, so
:meth:`ChainIndex.candidates` returns those keyed to the packet plus every rule that is not
of that shape, in rule order — the same rules a linear scan could match.

    >>> from k8s_service_lab.netfilter import parse_save
    >>> rs = parse_save("*nat\n:S - [0:0]\n"
    ...     "-A S -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j ACCEPT\n"
    ...     "-A S -d 10.96.0.10/32 -p udp -m udp --dport 53 -j ACCEPT\n-A S -j RETURN\nCOMMIT\n")
    >>> from k8s_service_lab.tracer.model import Packet
    >>> index = ChainIndex(rs.tables[0].rules("S"))
    >>> index.candidates(Packet("1.1.1.1", "10.96.0.10", "udp", 1, 53))
    [1, 2]
"""

from __future__ import annotations

import heapq
import ipaddress

from k8s_service_lab.netfilter import Addr, Comment, Protocol, Rule, TcpUdp
from k8s_service_lab.tracer.model import Packet, parse_address

__all__ = ["ChainIndex", "rule_key"]

Key = tuple[str, str, int]


def rule_key(rule: Rule) -> Key | None:
    """``(dst, proto, dport)`` when the rule's only real matches are those three, else None."""
    dst: str | None = None
    proto: str | None = None
    dport: int | None = None
    for m in rule.matches:
        if type(m) is Comment:
            continue
        if type(m) is Addr and m.direction == "d" and not m.invert and dst is None:
            net = ipaddress.ip_network(m.cidr, strict=False)
            if net.num_addresses != 1:
                return None
            dst = str(net.network_address)
        elif type(m) is Protocol and not m.invert and proto is None:
            proto = m.name
        elif (
            type(m) is TcpUdp
            and isinstance(m.dport, int)
            and not m.dport_invert
            and m.sport is None
            and m.tcp_flags is None
            and dport is None
        ):
            dport = m.dport
            if m.protocol != (proto or m.protocol):
                return None
            proto = proto or m.protocol
        else:
            return None
    if dst is None or proto not in ("tcp", "udp", "sctp") or dport is None:
        return None
    return dst, proto, dport


class ChainIndex:
    """Rule positions of one chain grouped by :func:`rule_key`."""

    def __init__(self, rules: list[Rule]) -> None:
        self.keyed: dict[Key, list[int]] = {}
        self.other: list[int] = []
        for i, rule in enumerate(rules):
            key = rule_key(rule)
            if key is None:
                self.other.append(i)
            else:
                self.keyed.setdefault(key, []).append(i)

    def candidates(self, packet: Packet) -> list[int]:
        """Positions of the rules that could match ``packet``, ascending."""
        dst = str(parse_address(packet.dst))
        keyed = self.keyed.get((dst, packet.proto, packet.dport))
        if keyed is None:
            return self.other  # read-only for callers
        return list(heapq.merge(keyed, self.other))
