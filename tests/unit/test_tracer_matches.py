"""Each match's judgement of a new flow's first packet (tracer/matches.py)."""

from __future__ import annotations

from fractions import Fraction

import pytest

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
    Protocol,
    Recent,
    Set,
    State,
    Statistic,
    TcpUdp,
    UnknownMatch,
)
from k8s_service_lab.tracer import Flow, NodeContext, Packet, evaluate
from k8s_service_lab.tracer.matches import probability

NODE = NodeContext.of(["172.18.0.3", "127.0.0.1"], "10.244.0.0/16")
PKT = Packet("10.244.1.5", "10.96.0.10", "udp", 40000, 53, in_iface="eth0")
FLOW = Flow(PKT, original=PKT)


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (Comment("x"), True),
        (NfAcct("x"), True),
        (Addr("s", "10.244.0.0/16"), True),
        (Addr("s", "10.244.0.0/16", invert=True), False),
        (Addr("d", "10.96.0.10/32"), True),
        (Addr("d", "10.96.0.11"), False),
        (Addr("d", "fd00::/64"), False),
        (Protocol("udp"), True),
        (Protocol("17"), True),
        (Protocol("tcp"), False),
        (Protocol("tcp", invert=True), True),
        (Protocol("all"), True),
        (TcpUdp("udp", dport=53), True),
        (TcpUdp("tcp", dport=53), False),
        (TcpUdp("udp", dport=54), False),
        (TcpUdp("udp", dport=53, dport_invert=True), False),
        (TcpUdp("udp", sport=(30000, 50000)), True),
        (TcpUdp("udp", sport=(30000, 39999)), False),
        (Multiport("dports", (80, (50, 60))), True),
        (Multiport("dports", (80, 443)), False),
        (Multiport("dports", (80, 443), invert=True), True),
        (Multiport("ports", (40000,)), True),
        (Iface("i", "eth0"), True),
        (Iface("i", "eth+"), True),
        (Iface("i", "cni0"), False),
        (Iface("i", "eth0", invert=True), False),
        (AddrType(dst_type="LOCAL"), False),
        (AddrType(dst_type="LOCAL", dst_invert=True), True),
        (AddrType(src_type="UNICAST"), True),
        (Mark("0x4000", "0x4000"), False),
        (Mark("0x0", "0x4000"), True),
        (Mark("0x4000", "0x4000", invert=True), True),
        (ConnTrack(ctstate=("NEW",)), True),
        (ConnTrack(ctstate=("INVALID",)), False),
        (ConnTrack(ctstate=("RELATED", "ESTABLISHED")), False),
        (ConnTrack(ctstate=("RELATED", "ESTABLISHED", "DNAT"), ctstate_invert=True), True),
        (ConnTrack(ctorigdst="10.96.0.0/12"), True),
        (ConnTrack(ctdir="REPLY"), False),
        (State(("NEW",)), True),
        (State(("ESTABLISHED",)), False),
        (Recent("rcheck", name="KUBE-SEP-X", seconds=10800, side="rsource"), False),
        (Recent("set", name="KUBE-SEP-X", side="rsource"), True),
        (Fragment(), False),
        (Fragment(invert=True), True),
        (Limit("5/min"), True),
    ],
)
def test_decided_matches(match: Match, expected: bool) -> None:
    assert evaluate(match, FLOW, NODE)[0] is expected


@pytest.mark.parametrize(
    "match",
    [
        UnknownMatch("foo", ("--bar",)),
        Iface("o", "eth0"),  # the packet's route is not known
        Set("KUBE-CLUSTER-IP", "dst,dst"),
        Statistic(mode="nth", every=2),
        AddrType(dst_type="LOCAL", limit_iface_in=True),
        AddrType(dst_type="BLACKHOLE"),
        ConnTrack(ctstatus=("ASSURED",)),
    ],
)
def test_undecidable_matches_say_so(match: Match) -> None:
    outcome, why = evaluate(match, FLOW, NODE)
    assert outcome is None
    assert why


def test_local_addresses_and_dnat_state() -> None:
    pkt = Packet("172.18.0.3", "127.0.0.1", "tcp", 40000, 30080)
    assert evaluate(AddrType(src_type="LOCAL", dst_type="LOCAL"), Flow(pkt), NODE)[0] is True
    dnatted = Flow(pkt, nat=frozenset({"DNAT"}))
    assert evaluate(ConnTrack(ctstate=("DNAT",)), dnatted, NODE)[0] is True
    assert evaluate(ConnTrack(ctstate=("DNAT",)), Flow(pkt), NODE)[0] is False


def test_mark_compares_under_the_mask() -> None:
    flow = Flow(PKT, mark=0x4001)
    assert evaluate(Mark("0x4000", "0x4000"), flow, NODE)[0] is True
    assert evaluate(Mark("0x4000"), flow, NODE)[0] is False


def test_rcheck_hits_after_a_set_in_the_same_session() -> None:
    flow = Flow(PKT, recent=frozenset({("KUBE-SEP-X", "10.244.1.5")}))
    assert evaluate(Recent("rcheck", name="KUBE-SEP-X", side="rsource"), flow, NODE)[0] is True
    assert evaluate(Recent("rcheck", name="KUBE-SEP-Y", side="rsource"), flow, NODE)[0] is False


@pytest.mark.parametrize(
    ("written", "intended"),
    [
        ("0.5000000000", Fraction(1, 2)),
        ("0.3333333333", Fraction(1, 3)),
        ("0.2500000000", Fraction(1, 4)),
        ("0.1666666667", Fraction(1, 6)),
        ("0.1428571429", Fraction(1, 7)),
        ("0.0010000000", Fraction(1, 1000)),
    ],
)
def test_probability_modes(written: str, intended: Fraction) -> None:
    stat = Statistic(probability=written)
    got = probability(stat)
    assert got == intended
    assert probability(stat, "written") == Fraction(written)
    assert probability(stat, "kernel") == stat.kernel_fraction()
    inverted = Statistic(probability=written, invert=True)
    assert evaluate(inverted, FLOW, NODE)[0] == 1 - got


def test_a_kernel_printed_probability_reads_back_as_one_in_n() -> None:
    # kube-proxy writes "%0.10f" of 1/n; libxt_statistic stores lround(2^31 * p); and
    # iptables-save prints that back as "%.11f" of stored / 2^31. Both texts mean 1/n.
    wrong = []
    for n in range(1, 2001):
        written = f"{1 / n:.10f}"
        stored = int(float(written) * 0x80000000 + 0.5)
        printed = f"{stored / 0x80000000:.11f}"
        for text in (written, printed):
            if probability(Statistic(probability=text)) != Fraction(1, n):
                wrong.append((n, text))
    assert wrong == []
