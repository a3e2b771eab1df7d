"""10,000 hostile messages at the lab's DNS server: each gets a reply or, where CoreDNS stays
silent, nothing — never an exception, never a reply that does not decode.

The silent cases are miekg/dns's: fewer than 12 octets ("Let client hang, they are sending
crap") and messages with QR set (never answer an answer). Everything else is either refused
(FORMERR, or NOTIMP for an opcode other than QUERY and NOTIFY, with no records) or answered for
its one question (the model's rcode, SERVFAIL for a bare header, BADVERS for EDNS versions above
0), echoing the question it was asked.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_service_lab import Cluster
from k8s_service_lab.netns.dnsserver import Responder, ZoneSnapshot
from k8s_service_lab.netns.dnswire import (
    RCODES,
    Opt,
    WireError,
    decode_message,
    encode_query,
)

NAMES = [
    "kube-dns.kube-system.svc.cluster.local",
    "_dns._udp.kube-dns.kube-system.svc.cluster.local",
    "10.0.96.10.in-addr.arpa",
    "cluster.local",
    "example.com",
]
QUERIES = [
    encode_query(name, qtype, id=0x1234, opt=opt)
    for name in NAMES
    for qtype in ("A", "SRV", "PTR", "NS")
    for opt in (None, Opt(udp_size=1232, options=((10, b"12345678"),)))
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real query with bytes flipped, dropped or inserted."""
    data = bytearray(draw(st.sampled_from(QUERIES)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "drop", "insert"]))
        if op == "insert" or at == len(data):
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "drop":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data[at] ^= draw(st.integers(1, 255))
    return bytes(data)


@st.composite
def plausible(draw: st.DrawFn) -> bytes:
    """A header that passes miekg's accept function more often than chance, and any body."""
    bits = draw(st.integers(0, 0xFFFF)) & ~0x8000 & ~(0xF << 11)
    bits |= draw(st.sampled_from([0, 0, 0, 4, 2, 5])) << 11
    counts = (1, draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.integers(0, 3)))
    return struct.pack("!6H", draw(st.integers(0, 0xFFFF)), bits, *counts) + draw(
        st.binary(max_size=300)
    )


MESSAGES = st.one_of(st.binary(max_size=600), plausible(), mutated())


@pytest.fixture(scope="module")
def responder() -> Responder:
    return Responder(ZoneSnapshot.of(Cluster().dns))


@settings(
    database=None,
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=MESSAGES, tcp=st.booleans())
def test_every_message_gets_a_reply_or_miekgs_silence(
    responder: Responder, data: bytes, tcp: bool
) -> None:
    reply = responder.respond(data, tcp=tcp)
    if len(data) < 12 or data[2] & 0x80:
        assert reply is None
        return
    assert reply is not None
    assert tcp or len(reply) <= 512 or _advertised(data) >= len(reply)
    msg = decode_message(reply)
    assert msg.header.qr
    assert msg.header.id == int.from_bytes(data[:2], "big")
    if msg.header.rcode in (RCODES["FORMERR"], RCODES["NOTIMP"]):
        assert (msg.answer, msg.authority, msg.additional, msg.opt) == ((), (), (), None)
        assert len(msg.question) <= 1
        return
    request = decode_message(data)  # it was answered, so it must have decoded
    if len(data) == 12:
        assert msg.header.rcode == RCODES["SERVFAIL"]
        assert msg.question == ()
        return
    assert msg.question == request.question[:1]
    assert msg.header.rcode in {RCODES[r] for r in ("NOERROR", "NXDOMAIN", "SERVFAIL", "BADVERS")}
    assert responder.recovered == 0


def _advertised(data: bytes) -> int:
    try:
        opt = decode_message(data).opt
    except WireError:
        return 0
    return opt.udp_size if opt is not None else 0
