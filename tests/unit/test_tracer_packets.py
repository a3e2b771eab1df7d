"""Scapy glue: 5-tuples to packets and back, refusals, and NAT rewrites that survive the wire."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import ARP, Ether
from scapy.layers.sctp import SCTP, SCTPChunkInit
from scapy.packet import Raw

from k8s_service_lab import Cluster
from k8s_service_lab.netfilter import parse_save
from k8s_service_lab.tracer import Branch, NodeContext, Packet, Tracer
from k8s_service_lab.tracer.packets import PacketError, packet_from_scapy, rewritten, to_scapy

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ports = st.integers(0, 65535)
protos = st.sampled_from(["tcp", "udp", "sctp"])


@st.composite
def packets(draw: st.DrawFn, family: int | None = None) -> Packet:
    addr = {4: ipv4, 6: ipv6}[family or draw(st.sampled_from([4, 6]))]
    return Packet(draw(addr), draw(addr), draw(protos), draw(ports), draw(ports))


def _checksums_valid(data: bytes) -> bool:
    """Whether scapy, recomputing every checksum and length, builds the same bytes.

    The transport payload is kept as raw bytes (scapy would otherwise dissect it by port,
    as DNS or SCTP chunks, and rebuild it in its own way).
    """
    pkt = IP(data) if data[0] >> 4 == 4 else IPv6(data)
    ip_len = pkt.ihl * 4 if pkt.version == 4 else 40
    l4 = pkt.payload
    l4_len = {TCP: l4.dataofs * 4 if type(l4) is TCP else 0, UDP: 8, SCTP: 12}[type(l4)]
    again = pkt.copy()
    again.payload.remove_payload()
    again = again / Raw(data[ip_len + l4_len :]) if len(data) > ip_len + l4_len else again
    for layer in (again, again.payload):
        for field in ("chksum", "len", "plen"):
            if field in layer.fields:
                delattr(layer, field)
    return bytes(again) == data


# -- round trips ---------------------------------------------------------------------------


@settings(database=None, max_examples=300, deadline=None)
@given(packets())
def test_packet_round_trips_through_scapy_and_the_wire(packet: Packet) -> None:
    pkt = to_scapy(packet)
    assert packet_from_scapy(pkt) == packet
    assert packet_from_scapy(bytes(pkt)) == packet
    assert packet_from_scapy(Ether() / pkt) == packet
    assert _checksums_valid(bytes(pkt))


@settings(database=None, max_examples=200, deadline=None)
@given(st.sampled_from([4, 6]).flatmap(lambda f: st.tuples(packets(f), packets(f))), st.binary())
def test_rewritten_carries_the_branch_tuple_and_keeps_the_payload(
    pair: tuple[Packet, Packet], payload: bytes
) -> None:
    before, after = pair
    after = replace(after, proto=before.proto)
    original = to_scapy(before) / Raw(payload) if payload else to_scapy(before)
    sent = bytes(original)
    branch = Branch(Fraction(1), "DNAT", after, (), False, (after.dst, after.dport))
    out = bytes(rewritten(original, branch))
    assert packet_from_scapy(out) == after
    assert _checksums_valid(out)
    assert out.endswith(payload)
    assert len(out) == len(sent)
    assert bytes(original) == sent  # the caller's packet is not modified


def test_addresses_come_back_in_canonical_text() -> None:
    pkt = IPv6(src="FD00:0:0:0::1", dst="::ffff:10.0.0.1") / UDP(sport=1, dport=2)
    assert packet_from_scapy(pkt) == Packet(
        "fd00::1", str(ipaddress.ip_address("::ffff:a00:1")), "udp", 1, 2
    )


# -- what the first packet of a flow looks like ---------------------------------------------


def test_tcp_opens_with_a_lone_syn() -> None:
    pkt = IP(bytes(to_scapy(Packet("10.0.0.1", "10.0.0.2", "tcp", 1000, 80))))
    assert str(pkt[TCP].flags) == "S"


def test_sctp_opens_with_an_init_chunk_and_tag_zero() -> None:
    pkt = IP(bytes(to_scapy(Packet("10.0.0.1", "10.0.0.2", "sctp", 1000, 9999))))
    assert pkt[SCTP].tag == 0
    init = pkt[SCTPChunkInit]
    assert init.init_tag != 0
    assert init.n_in_streams >= 1
    assert init.n_out_streams >= 1
    assert not init.payload  # INIT is the only chunk in its packet


def test_udp_first_packet_is_empty() -> None:
    pkt = IP(bytes(to_scapy(Packet("10.0.0.1", "10.0.0.2", "udp", 1000, 53))))
    assert pkt[UDP].len == 8


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pkt", "message"),
    [
        (IP(src="1.1.1.1", dst="2.2.2.2") / ICMP(), "ICMP has no ports"),
        (IPv6(src="::1", dst="::2") / ICMPv6EchoRequest(), "has no ports"),
        (IP(src="1.1.1.1", dst="2.2.2.2", flags="MF") / UDP(), "IPv4 fragment"),
        (IP(src="1.1.1.1", dst="2.2.2.2", frag=10) / Raw(b"x" * 8), "IPv4 fragment"),
        (IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment() / UDP(), "IPv6 fragment"),
        (IP(src="1.1.1.1", dst="2.2.2.2", proto=6), "found nothing"),
        (IP(src="1.1.1.1", dst="2.2.2.2", proto=47) / Raw(b"gre!"), "found Raw"),
        (Ether() / ARP(), "not an IP packet"),
        (b"", "empty packet"),
        (b"\x50" + bytes(30), "version nibble is 5"),
    ],
)
def test_untraceable_packets_are_refused_with_a_reason(pkt: object, message: str) -> None:
    with pytest.raises(PacketError, match=message) as info:
        packet_from_scapy(pkt)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_an_icmp_error_quoting_a_tcp_header_is_not_that_tcp_flow() -> None:
    quoted = IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=1000)
    error = IP(src="10.0.0.254", dst="10.0.0.2") / ICMP(type=3, code=3) / quoted
    with pytest.raises(PacketError, match="ICMP has no ports"):
        packet_from_scapy(IP(bytes(error)))


def test_ipv6_extension_headers_are_skipped() -> None:
    pkt = IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrHopByHop() / TCP(sport=5, dport=6)
    assert packet_from_scapy(bytes(pkt)) == Packet("fd00::1", "fd00::2", "tcp", 5, 6)


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (Packet("10.0.0.1", "fd00::1", "tcp", 1, 2), "different IP families"),
        (Packet("10.0.0.1", "10.0.0.2", "icmp", 1, 2), "protocol 'icmp'"),
        (Packet("10.0.0.1", "10.0.0.2", "tcp", 70000, 2), "sport 70000"),
        (Packet("10.0.0.1", "10.0.0.2", "udp", 1, -1), "dport -1"),
        (Packet("10.0.0.300", "10.0.0.2", "udp", 1, 1), "does not appear to be an IPv4"),
    ],
)
def test_unbuildable_tuples_are_refused(packet: Packet, message: str) -> None:
    with pytest.raises(PacketError, match=message):
        to_scapy(packet)


def test_rewritten_refuses_dropped_branches_and_mismatches() -> None:
    pkt = to_scapy(Packet("10.0.0.1", "10.0.0.2", "tcp", 1, 2))
    dropped = Branch(
        Fraction(1), "REJECT", Packet("10.0.0.1", "10.0.0.2", "tcp", 1, 2), (), False, None
    )
    with pytest.raises(PacketError, match="ends in REJECT"):
        rewritten(pkt, dropped)
    udp = replace(dropped, verdict="NONE", packet=Packet("10.0.0.1", "10.0.0.2", "udp", 1, 2))
    with pytest.raises(PacketError, match="traced a udp packet, this one is tcp"):
        rewritten(pkt, udp)
    v6 = replace(dropped, verdict="NONE", packet=Packet("fd00::1", "fd00::2", "tcp", 1, 2))
    with pytest.raises(PacketError, match="IPv6, this one is IPv4"):
        rewritten(pkt, v6)


# -- end to end: scapy packet -> tracer -> rewritten packet on the wire -----------------------

DUMP = """*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:SVC - [0:0]
-A PREROUTING -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j SVC
-A POSTROUTING ! -s 10.244.0.0/16 -j MASQUERADE
-A SVC -m statistic --mode random --probability 0.25000000000 -j DNAT --to-destination 10.244.1.7:8080
-A SVC -j DNAT --to-destination 10.244.2.9:8080
COMMIT
"""


def test_scapy_packet_through_a_dump_comes_out_dnated() -> None:
    tracer = Tracer(parse_save(DUMP), NodeContext.of(["172.18.0.3"], "10.244.0.0/16"))
    client = (
        IP(src="10.244.1.5", dst="10.96.0.20") / TCP(sport=40000, dport=80, flags="S") / b"GET /"
    )
    result = tracer.arriving(packet_from_scapy(bytes(client)))
    assert result.endpoints == (
        ("10.244.1.7", 8080, Fraction(1, 4)),
        ("10.244.2.9", 8080, Fraction(3, 4)),
    )
    assert not result.masquerade
    for branch in result.branches:
        wire = IP(bytes(rewritten(client, branch)))
        assert branch.endpoint is not None
        assert (wire.src, wire[TCP].sport) == ("10.244.1.5", 40000)
        assert (wire.dst, wire[TCP].dport) == branch.endpoint
        assert bytes(wire[TCP].payload) == b"GET /"
        assert _checksums_valid(bytes(wire))


def test_an_external_client_is_masqueraded_to_the_node_address() -> None:
    tracer = Tracer(parse_save(DUMP), NodeContext.of(["172.18.0.3"], "10.244.0.0/16"))
    client = Ether() / IP(src="203.0.113.9", dst="10.96.0.20") / TCP(sport=5555, dport=80)
    result = tracer.arriving(packet_from_scapy(client))
    assert result.masquerade
    outs = {IP(bytes(rewritten(client, b)[IP])).src for b in result.branches}
    assert outs == {"172.18.0.3"}
    assert isinstance(rewritten(client, result.branches[0]), Ether)  # link layer kept


def test_a_dns_query_to_kube_dns_on_a_kind_cluster_reaches_a_coredns_pod() -> None:
    cluster = Cluster()
    query = (
        IP(src="10.244.1.5", dst="10.96.0.10")
        / UDP(sport=40000, dport=53)
        / DNS(rd=1, qd=DNSQR(qname="kubernetes.default.svc.cluster.local"))
    )
    p = packet_from_scapy(query)
    result = cluster.trace(p.src, p.dst, p.dport, p.proto, sport=p.sport)
    assert result.verdict == "DNAT"
    seen = set()
    for branch in result.branches:
        wire = IP(bytes(rewritten(query, branch)))
        seen.add((wire.dst, wire[UDP].dport))
        assert wire[DNS].qd[0].qname == b"kubernetes.default.svc.cluster.local."
        assert _checksums_valid(bytes(wire))
    assert seen == {(ip, port) for ip, port, _ in result.endpoints}
    assert len(seen) == 2
