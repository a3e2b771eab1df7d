"""The kernel trace read back from real recordings, and compared with the simulator.

``data/kerneltrace/`` holds what the tools printed during ``tests/kernel/test_kerneltrace.py``
on a 6.18 kernel (nft 1.0.6, iptables 1.8.9 nf_tables): ``nft -a monitor``, the node's
``nft -j list ruleset``, ``iptables-nft-save`` and the flow's ``conntrack -L``, for a
ClusterIP from a pod on another node, a NodePort from the external host, a Service without
endpoints and a node's own UDP datagram. The cluster of ``cluster.yaml`` is rebuilt here, so
the simulator's trace of the same packet must agree with each recording — and must not
agree once the kernel's path, endpoint or masquerade is altered.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab import Cluster
from k8s_service_lab.netfilter import parse_save
from k8s_service_lab.netns.capture import stage
from k8s_service_lab.netns.kerneltrace import (
    KernelRecord,
    KernelTraceError,
    conntrack_nat,
    trace_from_record,
)
from k8s_service_lab.netns.nfttrace import (
    chain_handles,
    kernel_hops,
    packet_fields,
    packet_traces,
    parse_event,
    parse_monitor,
)
from k8s_service_lab.netns.tracecompare import compare
from k8s_service_lab.tracer import Branch, Packet, TraceResult

DATA = Path(__file__).parent / "data" / "kerneltrace"
CASES = ("clusterip", "nodeport", "reject", "node-udp")


def read(name: str, suffix: str) -> str:
    return gzip.decompress((DATA / f"{name}.{suffix}.gz").read_bytes()).decode()


def recording(name: str) -> tuple[KernelRecord, Packet, str, str]:
    meta = json.loads((DATA / f"{name}.json").read_text())
    record = KernelRecord(
        read(name, "monitor.txt"),
        read(name, "nft.json"),
        read(name, "save.txt"),
        read(name, "conntrack.txt"),
    )
    packet = Packet(meta["src"], meta["dst"], meta["proto"], meta["sport"], meta["dport"])
    return record, packet, meta["node"], meta["marker"]


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    c = Cluster()
    c.apply((DATA / "cluster.yaml").read_text())
    return c


def simulate(cluster: Cluster, packet: Packet, node: str) -> TraceResult:
    p = packet
    return cluster.trace(p.src, p.dst, p.dport, p.proto, sport=p.sport, node=node)


@pytest.mark.parametrize("name", CASES)
def test_each_recording_is_one_of_the_simulators_branches(cluster: Cluster, name: str) -> None:
    record, packet, node, marker = recording(name)
    kernel, events = trace_from_record(record, packet, marker=marker)
    assert len(kernel.branches) == 1
    assert kernel.branches[0].probability == 1
    assert events[0].table == marker
    result = compare(simulate(cluster, packet, node), kernel)
    assert result.agrees, result.render()
    assert result.path_equal
    assert all(row.mark in ("=", "·") for row in result.rows)


def test_clusterip_recording(cluster: Cluster) -> None:
    record, packet, _, marker = recording("clusterip")
    kernel, _ = trace_from_record(record, packet, marker=marker)
    branch = kernel.branches[0]
    assert kernel.verdict == "DNAT"
    assert not branch.masquerade
    assert branch.endpoint is not None
    assert branch.packet.dst == branch.endpoint[0]
    assert branch.packet.src == packet.src
    chains = [h.chain for h in branch.hops]
    assert chains[0] == "PREROUTING"
    assert chains[2].startswith("KUBE-SVC-")
    assert chains[3].startswith("KUBE-SEP-")
    sep = branch.hops[3]
    # The kernel's rule, named as iptables-save names it, comment and all.
    assert sep.comment == "default/web:http"
    assert sep.rule.endswith(f"-j DNAT --to-destination {branch.endpoint[0]}:8080")
    assert "dnat to" in sep.why
    assert sep.why.endswith("(verdict accept)")


def test_nodeport_recording_is_masqueraded(cluster: Cluster) -> None:
    record, packet, node, marker = recording("nodeport")
    kernel, _ = trace_from_record(record, packet, marker=marker)
    branch = kernel.branches[0]
    assert branch.masquerade
    assert branch.endpoint is not None
    sim = simulate(cluster, packet, node)
    expected = next(b for b in sim.branches if b.endpoint == branch.endpoint)
    assert branch.packet.src == expected.packet.src  # the same masquerade address
    assert [h.chain for h in branch.hops][-1] == "KUBE-POSTROUTING"


def test_reject_recording(cluster: Cluster) -> None:
    record, packet, _, marker = recording("reject")
    kernel, _ = trace_from_record(record, packet, marker=marker)
    assert kernel.verdict == "REJECT"
    assert kernel.branches[0].endpoint is None
    assert kernel.branches[0].hops[1].rule == ":PREROUTING ACCEPT"


def test_without_conntrack_the_trace_still_names_the_endpoint() -> None:
    record, packet, _, marker = recording("clusterip")
    with_ct, _ = trace_from_record(record, packet, marker=marker)
    bare, _ = trace_from_record(dataclasses.replace(record, conntrack=""), packet, marker=marker)
    assert bare.branches[0].endpoint == with_ct.branches[0].endpoint


def test_a_changed_kernel_path_disagrees(cluster: Cluster) -> None:
    record, packet, node, marker = recording("clusterip")
    kernel, _ = trace_from_record(record, packet, marker=marker)
    k = kernel.branches[0]
    sim = simulate(cluster, packet, node)
    # A hop the simulator never takes.
    dropped = dataclasses.replace(k, hops=k.hops[:2] + k.hops[3:])
    result = compare(sim, TraceResult.of([dropped], ()))
    assert not result.agrees
    assert "none of the simulator's branches" in result.differences[0]
    assert any(row.mark in ("<", ">", "≠") for row in result.rows)
    assert "DISAGREE" in result.render(width=120)
    # An endpoint outside the simulator's set, and a masquerade the simulator did not do.
    assert k.endpoint is not None
    stray = dataclasses.replace(k, endpoint=("10.244.9.9", 8080))
    assert not compare(sim, TraceResult.of([stray], ())).endpoint_ok
    masq = dataclasses.replace(
        k, masquerade=True, packet=dataclasses.replace(k.packet, src="172.18.0.2")
    )
    assert not compare(sim, TraceResult.of([masq], ())).masquerade_ok


def test_another_flows_simulation_disagrees(cluster: Cluster) -> None:
    record, packet, node, marker = recording("clusterip")
    kernel, _ = trace_from_record(record, packet, marker=marker)
    empty = str(cluster.get("services", "empty").spec.cluster_ip)
    other = cluster.trace(packet.src, empty, 80, "tcp", sport=packet.sport, node=node)
    result = compare(other, kernel)
    assert not result.agrees
    assert not result.path_equal
    assert "verdict: simulator REJECT, kernel DNAT" in result.differences


def test_no_trace_is_an_error() -> None:
    record, packet, _, marker = recording("clusterip")
    empty = dataclasses.replace(record, monitor="add table ip x # handle 1\n")
    with pytest.raises(KernelTraceError, match="traced no packet"):
        trace_from_record(empty, packet, marker=marker)


# -- parsing -----------------------------------------------------------------------------------


def test_packets_split_by_the_marking_table() -> None:
    record, _, _, marker = recording("clusterip")
    traces = packet_traces(parse_monitor(record.monitor), marker)
    # A TCP connection: SYN, ACK, requests, FIN … each marked and traced separately.
    assert len(traces) > 3
    first = [e for e in traces[0] if e.kind == "packet"]
    assert "tcp flags == syn" in (first[0].text or "")
    # Later packets are established: they meet filter FORWARD, never nat.
    assert all(e.table != "nat" for t in traces[1:] for e in t)


def test_rules_map_by_handle_even_when_nft_did_not_know_them() -> None:
    # nft prints "unknown rule handle N" for rules added after the monitor cached the
    # ruleset (a resync's); the handle alone must find the iptables rule.
    record, _, _, marker = recording("clusterip")
    unknown = parse_event("trace id 1 ip nat PREROUTING unknown rule handle 3 (verdict continue)")
    assert unknown is not None
    assert (unknown.kind, unknown.text, unknown.handle) == ("rule", None, 3)
    events = packet_traces(parse_monitor(record.monitor), marker)[0]
    blind = tuple(dataclasses.replace(e, text=None) if e.kind == "rule" else e for e in events)
    ruleset = parse_save(record.save)
    handles = chain_handles(record.nft_json)
    seen = [h.rule for h in kernel_hops(events, handles, ruleset, marker)]
    assert [h.rule for h in kernel_hops(blind, handles, ruleset, marker)] == seen
    assert all(r.startswith(("-A ", ":")) for r in seen)


def test_policy_and_return_lines() -> None:
    policy = parse_event("trace id 45627545 ip filter OUTPUT policy accept meta mark 0x00004000 ")
    assert policy is not None
    assert (policy.kind, policy.verdict, policy.mark) == ("policy", "accept", 0x4000)
    ret = parse_event("trace id 1 ip nat KUBE-X verdict continue ")
    assert ret is not None
    assert (ret.kind, ret.verdict) == ("return", "continue")
    jump = parse_event(
        "trace id 1 ip nat PREROUTING rule  counter packets 2 bytes 96 jump KUBE-SERVICES "
        "# handle 7 (verdict jump KUBE-SERVICES)"
    )
    assert jump is not None
    assert (jump.target, jump.handle, jump.text) == (
        "KUBE-SERVICES",
        7,
        "counter jump KUBE-SERVICES",
    )
    assert parse_event("add rule ip nat X counter # handle 3") is None


def test_packet_fields_of_a_recording() -> None:
    record, packet, _, _ = recording("nodeport")
    events = parse_monitor(record.monitor)
    forward = next(e for e in events if e.kind == "packet" and e.chain == "FORWARD")
    f = packet_fields(forward)
    assert (f.src, f.sport, f.proto) == (packet.src, packet.sport, "tcp")
    assert f.dst != packet.dst  # already DNATed when filter FORWARD sees it
    assert f.iif == "eth0"


def test_chain_handles_follow_the_listing() -> None:
    record, _, _, _ = recording("clusterip")
    handles = chain_handles(record.nft_json)
    assert len(handles[("nat", "PREROUTING")]) == 1
    assert ("filter", "FORWARD") in handles
    assert chain_handles(record.nft_json, family=6) == {}


def test_conntrack_nat() -> None:
    line = read("nodeport", "conntrack.txt")
    nat = conntrack_nat(line)
    assert nat is not None
    orig, reply = nat
    assert orig[:2] == ("172.18.0.100", json.loads((DATA / "nodeport.json").read_text())["sport"])
    assert reply[2] != orig[0]  # masqueraded
    assert conntrack_nat("") is None


@settings(database=None, max_examples=200)
@given(st.text(max_size=200))
def test_any_line_parses_or_is_skipped(line: str) -> None:
    event = parse_event("trace id 1 ip nat X " + line.replace("\n", " "))
    assert event is None or event.chain == "X"


def test_capture_stages() -> None:
    flow = Packet("172.18.0.100", "172.18.0.3", "tcp", 40000, 31808)
    ep = ("10.244.1.2", 8080)
    assert stage(flow, ep, ("172.18.0.100", 40000, "172.18.0.3", 31808)) == "→ as sent"
    assert stage(flow, ep, ("10.244.1.1", 50000, "10.244.1.2", 8080)) == "→ after DNAT and SNAT"
    assert stage(flow, ep, ("172.18.0.3", 31808, "172.18.0.100", 40000), True) == (
        "← after un-SNAT and un-DNAT"
    )
    assert stage(flow, ep, ("1.2.3.4", 1, "5.6.7.8", 2)) == "other"


def test_compare_with_no_simulated_branch() -> None:
    pkt = Packet("10.0.0.1", "10.0.0.2", "tcp", 1, 2)
    kernel = TraceResult.of([Branch(Fraction(1), "NONE", pkt, (), False, None)], ())
    result = compare(TraceResult.of([], ()), kernel)
    assert not result.agrees
    assert result.branch is None
