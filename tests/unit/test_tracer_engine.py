"""Hooks, jumps and targets of the tracer on tiny hand-written rulesets."""

from __future__ import annotations

from fractions import Fraction

import pytest

from k8s_service_lab.netfilter import parse_save
from k8s_service_lab.tracer import NodeContext, Packet, TraceError, Tracer, merge

NODE = NodeContext.of(["172.18.0.3", "127.0.0.1"])
FROM_POD = Packet("10.244.1.5", "10.96.0.1", "tcp", 40000, 80)


def trace(text: str) -> Tracer:
    return Tracer(parse_save(text), NODE)


def nat(*rules: str, chains: str = "") -> str:
    decl = "".join(f":{c} - [0:0]\n" for c in chains.split())
    body = "".join(f"{r}\n" for r in rules)
    return f"*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n{decl}{body}COMMIT\n"


def test_empty_ruleset_is_none() -> None:
    result = Tracer(parse_save(""), NODE).arriving(FROM_POD)
    assert result.verdict == "NONE"
    assert result.branches[0].probability == 1
    assert not result.uncertain


def test_jump_returns_and_continues() -> None:
    text = nat(
        "-A PREROUTING -j A",
        "-A A -j MARK --or-mark 0x4000",
        "-A A -j RETURN",
        "-A A -j DNAT --to-destination 10.0.0.9:1",
        "-A PREROUTING -m mark --mark 0x4000/0x4000 -j DNAT --to-destination 10.0.0.1:8080",
        chains="A",
    )
    result = trace(text).arriving(FROM_POD)
    assert result.verdict == "DNAT"
    assert result.endpoints == (("10.0.0.1", 8080, Fraction(1)),)
    branch = result.branches[0]
    assert branch.packet.dst == "10.0.0.1"
    assert branch.packet.dport == 8080
    assert [h.chain for h in branch.hops[:3]] == ["PREROUTING", "A", "A"]


def test_goto_does_not_come_back_to_the_caller() -> None:
    text = nat(
        "-A PREROUTING -j A",
        "-A PREROUTING -j DNAT --to-destination 10.0.0.2",
        "-A A -g B",
        "-A A -j DNAT --to-destination 10.0.0.9",
        "-A B -j MARK --set-xmark 0x1/0xffffffff",
        chains="A B",
    )
    result = trace(text).arriving(FROM_POD)
    # B ends, so A returns (skipping A's DNAT); PREROUTING continues to its DNAT.
    assert result.endpoints == (("10.0.0.2", 80, Fraction(1)),)


@pytest.mark.parametrize(("target", "verdict"), [("DROP", "DROP"), ("REJECT", "REJECT")])
def test_filter_verdicts(target: str, verdict: str) -> None:
    text = f"*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -d 10.96.0.1/32 -j {target}\nCOMMIT\n"
    result = trace(text).arriving(FROM_POD)
    assert result.verdict == verdict
    assert result.branches[0].hops[-1].rule == f"-A FORWARD -d 10.96.0.1/32 -j {target}"


def test_accept_is_explicit_and_policy_applies_after_chain_end() -> None:
    text = "*filter\n:FORWARD DROP [0:0]\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n"
    forwarded = trace(text).arriving(FROM_POD)
    assert forwarded.verdict == "DROP"
    assert forwarded.branches[0].hops[-1].why == "chain policy"
    local = trace(text).arriving(Packet("10.244.1.5", "172.18.0.3", "tcp", 1, 22))
    assert local.verdict == "ACCEPT"


def test_statistic_branches_have_exact_probabilities() -> None:
    text = nat(
        "-A PREROUTING -m statistic --mode random --probability 0.3333333333"
        " -j DNAT --to-destination 10.0.0.1:80",
        "-A PREROUTING -m statistic --mode random --probability 0.5000000000"
        " -j DNAT --to-destination 10.0.0.2:80",
        "-A PREROUTING -j DNAT --to-destination 10.0.0.3:80",
    )
    result = trace(text).arriving(FROM_POD)
    assert [ip for ip, _, _ in result.endpoints] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert {p for _, _, p in result.endpoints} == {Fraction(1, 3)}
    written = Tracer(parse_save(text), NODE, probabilities="written").arriving(FROM_POD)
    assert written.endpoints[0][2] == Fraction("0.3333333333")
    assert sum(p for _, _, p in written.endpoints) == 1


def test_masquerade_rewrites_source_to_the_node_address() -> None:
    text = nat(
        "-A OUTPUT -j MARK --or-mark 0x4000",
        "-A POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A POSTROUTING -j MARK --xor-mark 0x4000",
        "-A POSTROUTING -j MASQUERADE --random-fully",
    )
    result = trace(text).sent(Packet("127.0.0.1", "10.96.0.1", "tcp", 1, 80))
    branch = result.branches[0]
    assert result.masquerade
    assert branch.masquerade
    assert branch.packet.src == "172.18.0.3"
    assert result.verdict == "ACCEPT"  # accepted by the MASQUERADE rule in nat


def test_snat_records_its_address() -> None:
    text = nat("-A POSTROUTING -j SNAT --to-source 192.0.2.1")
    result = trace(text).arriving(FROM_POD)
    assert result.masquerade
    assert result.branches[0].packet.src == "192.0.2.1"


@pytest.mark.parametrize(
    ("op", "before", "after"),
    [
        ("--or-mark 0x4000", 0x1, 0x4001),
        ("--xor-mark 0x4000", 0x4001, 0x1),
        ("--and-mark 0x1", 0x4001, 0x1),
        ("--set-mark 0x2/0xf", 0x4001, 0x4002),
        ("--set-xmark 0x4000/0x0", 0x4000, 0x0),
        ("--set-xmark 0x8/0xffffffff", 0x4001, 0x8),
    ],
)
def test_mark_target_arithmetic(op: str, before: int, after: int) -> None:
    text = nat(
        f"-A PREROUTING -j MARK --set-xmark {before:#x}/0xffffffff",
        f"-A PREROUTING -j MARK {op}",
        f"-A PREROUTING -m mark --mark {after:#x} -j DNAT --to-destination 10.0.0.1",
    )
    assert trace(text).arriving(FROM_POD).verdict == "DNAT"


def test_unknown_match_is_reported_and_not_taken() -> None:
    text = nat("-A PREROUTING -m bpf --bytecode 1,2 -j DNAT --to-destination 10.0.0.1")
    result = trace(text).arriving(FROM_POD)
    assert result.verdict == "NONE"
    assert result.uncertain
    assert len(result.not_evaluated) == 1
    assert "bpf" in result.not_evaluated[0]
    hop = result.branches[0].hops[0]
    assert hop.why.startswith("not evaluated: ")
    assert "-m bpf" in hop.rule


def test_unknown_target_is_reported_and_passed_over() -> None:
    text = "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j TPROXY --on-port 1\nCOMMIT\n"
    result = trace(text).arriving(FROM_POD)
    assert result.uncertain
    assert "TPROXY" in result.not_evaluated[0]


def test_affinity_rcheck_misses_without_an_earlier_set_then_hits_after_one() -> None:
    text = nat(
        "-A PREROUTING -m recent --name S1 --rcheck --seconds 10800 --reap"
        " -j DNAT --to-destination 10.0.0.9",
        "-A PREROUTING -m recent --name S1 --set -j A",
        "-A PREROUTING -m recent --name S1 --rcheck --seconds 10800"
        " -j DNAT --to-destination 10.0.0.1",
        chains="A",
    )
    text = text.replace("COMMIT", "-A A -j RETURN\nCOMMIT")
    result = trace(text).arriving(FROM_POD)
    assert result.endpoints == (("10.0.0.1", 80, Fraction(1)),)


def test_dnat_to_a_local_address_goes_to_input() -> None:
    text = nat("-A PREROUTING -j DNAT --to-destination 172.18.0.3:22") + (
        "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n"
    )
    assert trace(text).arriving(FROM_POD).verdict == "DROP"


def test_jump_loop_and_missing_chain_raise() -> None:
    loop = nat("-A PREROUTING -j A", "-A A -j B", "-A B -j A", chains="A B")
    with pytest.raises(TraceError, match="nested"):
        trace(loop).arriving(FROM_POD)
    missing = nat("-A PREROUTING -j NOWHERE")
    with pytest.raises(TraceError, match="undeclared"):
        trace(missing).arriving(FROM_POD)


def test_merge_puts_inserted_jumps_in_front() -> None:
    payload = parse_save(nat("-A S -j DNAT --to-destination 10.0.0.1", chains="S"))
    jumps = parse_save("*nat\n:S - [0:0]\n-I PREROUTING -j S\nCOMMIT\n")
    result = Tracer(merge(payload, jumps), NODE).arriving(FROM_POD)
    assert result.endpoints == (("10.0.0.1", 80, Fraction(1)),)
    with pytest.raises(ValueError, match="probabilities"):
        Tracer(payload, NODE, probabilities="guess")
