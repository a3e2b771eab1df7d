"""Scapy glue: real packets in, rewritten packets out, around the tracer's 5-tuples.

The tracer reasons about a :class:`~k8s_service_lab.tracer.model.Packet` — the 5-tuple of
the first packet of a new flow. This module turns a scapy packet (or its bytes) into that
5-tuple, builds the scapy packet a new flow would start with, and, once a trace has chosen a
:class:`~k8s_service_lab.tracer.model.Branch`, rewrites the original scapy packet the way the
kernel's NAT would (addresses and ports; checksums recomputed; payload untouched).

Scapy is imported inside the functions, never at module import: scapy reads the host's
interfaces and routes when it is first imported, which is slow and which ``ksl --help`` must
not pay for (DESIGN §9).

    >>> from k8s_service_lab.tracer.model import Packet
    >>> pkt = to_scapy(Packet("10.244.1.5", "10.96.0.10", "udp", 40000, 53))
    >>> pkt.summary()
    'IP / UDP 10.244.1.5:40000 > 10.96.0.10:domain'
    >>> packet_from_scapy(bytes(pkt))
    Packet(src='10.244.1.5', dst='10.96.0.10', proto='udp', sport=40000, dport=53, \
in_iface=None, out_iface=None)
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.tracer.model import Branch, Packet

if TYPE_CHECKING:
    from scapy.packet import Packet as ScapyPacket

__all__ = ["FIRST_PACKET", "PROTOCOLS", "PacketError", "packet_from_scapy", "rewritten", "to_scapy"]

#: The transport protocols kube-proxy programs rules for (``-p tcp|udp|sctp``).
PROTOCOLS = ("tcp", "udp", "sctp")

#: What :func:`to_scapy` puts on the wire for each protocol: the packet that opens a flow.
FIRST_PACKET = {
    "tcp": "TCP with SYN alone (what --tcp-flags and conntrack's NEW see first)",
    "udp": "UDP with an empty payload",
    "sctp": "SCTP with verification tag 0 and a lone INIT chunk (RFC 9260 §8.5.1, §6.10)",
}

# RFC 9260 §3.3.2: an INIT's initiate tag must not be 0, its a_rwnd at least 1500, and it
# must offer at least one stream each way. Fixed values (a real stack draws the tag at
# random) so the bytes are the same on every run.
_SCTP_INIT_TAG = 0x6B736C31  # "ksl1"
_SCTP_RWND = 65535
_SCTP_STREAMS = 1


class PacketError(ServiceLabError, ValueError):
    """A packet the tracer cannot follow as the first packet of a Service flow.

    The message says what the packet is and why it cannot be traced (ICMP has no ports;
    a fragment is reassembled by conntrack before nat sees it; a truncated header ...).
    """


def _layers() -> dict[str, Any]:
    # Lazily, by name: one place that knows where scapy keeps its protocol classes.
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import (
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
    )
    from scapy.layers.sctp import SCTP, SCTPChunkInit

    return {
        "IP": IP,
        "IPv6": IPv6,
        "tcp": TCP,
        "udp": UDP,
        "sctp": SCTP,
        "ICMP": ICMP,
        "SCTPChunkInit": SCTPChunkInit,
        "fragment6": IPv6ExtHdrFragment,
        # Extension headers a router passes over to find the transport header.
        "skip6": (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt),
    }


def _from_bytes(data: bytes, layers: dict[str, Any]) -> ScapyPacket:
    if not data:
        raise PacketError("empty packet: no IP header")
    version = data[0] >> 4
    if version == 4:
        return layers["IP"](data)  # type: ignore[no-any-return]
    if version == 6:
        return layers["IPv6"](data)  # type: ignore[no-any-return]
    raise PacketError(f"not an IP packet: version nibble is {version}, not 4 or 6")


def _ip_and_transport(pkt: ScapyPacket, layers: dict[str, Any]) -> tuple[Any, Any, str]:
    """The IP (or IPv6) layer, the transport layer right after it, and the protocol name."""
    ip = pkt.getlayer(layers["IP"])
    ip6 = pkt.getlayer(layers["IPv6"])
    # The outermost IP header wins (an IP-in-IP or ICMP error quotes another one inside).
    if ip is None or (ip6 is not None and _depth(pkt, ip6) < _depth(pkt, ip)):
        ip = ip6
    if ip is None:
        raise PacketError(f"not an IP packet: {pkt.summary()}")
    l4 = ip.payload
    if type(ip) is layers["IP"]:
        if ip.frag != 0 or ip.flags.MF:
            # nf_defrag_ipv4 reassembles at priority -400, before conntrack and nat: the
            # tracer should be given the whole datagram, which has its own ports.
            raise PacketError(
                f"IPv4 fragment (offset {ip.frag * 8}, more fragments: {bool(ip.flags.MF)}):"
                " conntrack reassembles fragments before nat sees them; trace the whole datagram"
            )
    else:
        while isinstance(l4, layers["skip6"]):
            l4 = l4.payload
        if isinstance(l4, layers["fragment6"]):
            raise PacketError(
                "IPv6 fragment: conntrack reassembles fragments before nat sees them;"
                " trace the whole datagram"
            )
    for name in PROTOCOLS:
        if type(l4) is layers[name]:
            return ip, l4, name
    if str(l4.name).startswith("ICMP"):
        raise PacketError(
            f"{l4.name} has no ports: kube-proxy's Service rules match tcp, udp and sctp only"
        )
    what = "nothing" if not l4 else f"{l4.name}"
    raise PacketError(
        f"no tcp, udp or sctp header after the IP header (found {what}): {pkt.summary()}"
    )


def _depth(pkt: ScapyPacket, layer: Any) -> int:
    depth, cur = 0, pkt
    while cur and cur is not layer:
        cur, depth = cur.payload, depth + 1
    return depth


def _canonical(address: str) -> str:
    return str(ipaddress.ip_address(address))


def packet_from_scapy(pkt: ScapyPacket | bytes) -> Packet:
    """The tracer's :class:`Packet` for a scapy packet (or raw IP bytes).

    Link layers (Ethernet, VLAN tags) are skipped; the first IP or IPv6 header and the
    transport header right after it (past IPv6 hop-by-hop, routing and destination-options
    headers) give the 5-tuple. Interfaces are ``None``: a packet does not say where it came
    in. Raises :class:`PacketError` for ICMP, fragments and packets without a tcp, udp or
    sctp header.
    """
    layers = _layers()
    if isinstance(pkt, bytes | bytearray):
        pkt = _from_bytes(bytes(pkt), layers)
    ip, l4, proto = _ip_and_transport(pkt, layers)
    return Packet(_canonical(ip.src), _canonical(ip.dst), proto, int(l4.sport), int(l4.dport))


def _check(packet: Packet) -> int:
    """The packet's IP version, after checking it can be built."""
    if packet.proto not in PROTOCOLS:
        raise PacketError(f"protocol {packet.proto!r} is not one of {', '.join(PROTOCOLS)}")
    for name, port in (("sport", packet.sport), ("dport", packet.dport)):
        if not 0 <= port <= 65535:
            raise PacketError(f"{name} {port} is not between 0 and 65535")
    try:
        src, dst = ipaddress.ip_address(packet.src), ipaddress.ip_address(packet.dst)
    except ValueError as err:
        raise PacketError(str(err)) from None
    if src.version != dst.version:
        raise PacketError(f"source {src} and destination {dst} are of different IP families")
    return src.version


def to_scapy(packet: Packet) -> ScapyPacket:
    """The scapy packet that opens ``packet``'s flow (see :data:`FIRST_PACKET`).

    IPv4 or IPv6 by the addresses; TCP carries SYN alone, as the first packet of a
    connection does (and as the tracer assumes for ``--tcp-flags``); SCTP carries an INIT
    chunk with verification tag 0, the only chunk that may open an association. Interfaces
    are not part of a packet and are dropped.

    >>> from k8s_service_lab.tracer.model import Packet
    >>> to_scapy(Packet("fd00:10::5", "fd00:20::a", "tcp", 40000, 80)).summary()
    'IPv6 / TCP fd00:10::5:40000 > fd00:20::a:http S'
    """
    version = _check(packet)
    layers = _layers()
    ip = layers["IP" if version == 4 else "IPv6"](src=packet.src, dst=packet.dst)
    l4 = layers[packet.proto](sport=packet.sport, dport=packet.dport)
    if packet.proto == "tcp":
        l4.flags = "S"
    elif packet.proto == "sctp":
        l4.tag = 0
        l4 = l4 / layers["SCTPChunkInit"](
            init_tag=_SCTP_INIT_TAG,
            a_rwnd=_SCTP_RWND,
            n_out_streams=_SCTP_STREAMS,
            n_in_streams=_SCTP_STREAMS,
            init_tsn=_SCTP_INIT_TAG,
        )
    return ip / l4  # type: ignore[no-any-return]


def rewritten(original: ScapyPacket | bytes, branch: Branch) -> ScapyPacket:
    """``original`` as it leaves the node on ``branch``: NATed addresses and ports.

    A copy of ``original`` (bytes are read as an IP packet) with the source and destination
    addresses and ports of ``branch.packet`` — the DNAT of a Service rule, the MASQUERADE
    or SNAT on the way out — and the IP, TCP, UDP and SCTP checksums and lengths cleared so
    scapy computes them afresh, as the kernel's NAT helpers fix them up
    (``nf_nat_ipv4_manip_pkt``). Everything else is kept: link layer, TTL, options, payload.
    Raises :class:`PacketError` when the branch dropped or rejected the packet (nothing
    leaves) or when the branch is not a trace of this packet's protocol and family.
    """
    if branch.verdict in ("DROP", "REJECT"):
        raise PacketError(f"the branch ends in {branch.verdict}: no packet leaves the node")
    layers = _layers()
    if isinstance(original, bytes | bytearray):
        original = _from_bytes(bytes(original), layers)
    pkt = original
    pkt = pkt.copy()
    ip, l4, proto = _ip_and_transport(pkt, layers)
    out = branch.packet
    if out.proto != proto:
        raise PacketError(f"the branch traced a {out.proto} packet, this one is {proto}")
    version = _check(out)
    if version != ip.version:
        raise PacketError(f"the branch's packet is IPv{version}, this one is IPv{ip.version}")
    ip.src, ip.dst = out.src, out.dst
    l4.sport, l4.dport = out.sport, out.dport
    # Deleting a field resets it to None, which scapy fills in when the packet is built.
    for layer, fields in (
        (ip, ("chksum", "len") if version == 4 else ("plen",)),
        (l4, ("chksum", "len") if proto == "udp" else ("chksum",)),
    ):
        for field in fields:
            delattr(layer, field)
    return pkt
