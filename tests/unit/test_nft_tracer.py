"""NftTracer semantics: hook order, jump/goto/return, numgen, vmap, affinity, NAT, uncertainty.

Small tables written in ``nft list`` form (read by :func:`parse_nft`) pin one kernel rule
each; the kube-proxy flows themselves are in ``tests/flows/test_flows_nftables.py``.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.netfilter.nftables import (
    AddrMatch,
    Dnat,
    L4Proto,
    NftChain,
    NftObject,
    NftRule,
    NftTable,
    NftTransaction,
    NumgenVmap,
    add,
    delete,
    flush,
    goto,
)
from k8s_service_lab.netfilter.nftables_dump import NftRuleset
from k8s_service_lab.netfilter.nftables_parse import parse_nft
from k8s_service_lab.netfilter.nftables_state import NftState
from k8s_service_lab.tracer import NodeContext, Packet
from k8s_service_lab.tracer.nft_engine import NftTraceError, NftTracer
from tests.flows.scenarios import NODE as HARNESS
from tests.flows.test_flows_nftables import transaction

NODE = NodeContext.of(["172.18.0.3", "127.0.0.1"], "10.244.0.0/16")
POD_PACKET = Packet("10.244.1.5", "10.96.0.1", "tcp", 40000, 443)


def table(body: str, name: str = "t", family: str = "ip") -> str:
    return f"table {family} {name} {{\n{body}\n}}\n"


def chain(name: str, *rules: str, head: str | None = None) -> str:
    lines = [f"chain {name} {{"]
    if head is not None:
        lines.append(head)
    return "\n".join([*lines, *rules, "}"])


PRE_NAT = "type nat hook prerouting priority dstnat; policy accept;"


def tracer(text: str, probabilities: str = "intended") -> NftTracer:
    return NftTracer(parse_nft(text), NODE, probabilities=probabilities)


def test_arriving_path_runs_prerouting_by_priority_then_forward_and_postrouting() -> None:
    text = table(
        "\n".join(
            [
                chain("nat-pre", "jump x", head=PRE_NAT),
                chain("filt-pre", "jump x", head="type filter hook prerouting priority -110;"),
                chain("fwd", "jump x", head="type filter hook forward priority filter;"),
                chain("inp", "jump x", head="type filter hook input priority filter;"),
                chain("post", "jump x", head="type nat hook postrouting priority srcnat;"),
                chain("x"),
            ]
        )
    )
    result = tracer(text).arriving(POD_PACKET)
    assert [h.chain for h in result.branches[0].hops] == ["filt-pre", "nat-pre", "fwd", "post"]
    assert result.verdict == "NONE"


def test_sent_path_to_the_node_itself_comes_back_through_input_without_nat() -> None:
    text = table(
        "\n".join(
            [
                chain("out", "jump x", head="type filter hook output priority filter;"),
                chain("nat-out", "jump x", head="type nat hook output priority -100;"),
                chain("nat-in", "jump x", head="type nat hook input priority 100;"),
                chain("inp", 'iifname "lo" accept', head="type filter hook input priority 0;"),
                chain("x"),
            ]
        )
    )
    result = tracer(text).sent(Packet("172.18.0.3", "172.18.0.3", "tcp", 40000, 22))
    assert [h.chain for h in result.branches[0].hops] == ["nat-out", "out", "inp"]
    assert result.verdict == "ACCEPT"  # accepted by a rule, not by falling through


def test_accept_ends_one_base_chain_drop_ends_the_packet() -> None:
    kube = table(chain("a", "accept", head="type filter hook forward priority 0;"), "one")
    other = table(chain("b", "drop", head="type filter hook forward priority 10;"), "two")
    result = tracer(kube + other).arriving(POD_PACKET)
    assert result.verdict == "DROP"
    assert [h.table for h in result.branches[0].hops] == ["ip one", "ip two"]


def test_policy_drop_decides_when_no_rule_does() -> None:
    text = table(chain("fwd", "ip saddr 1.1.1.1 accept", head="type filter hook forward "
                       "priority 0; policy drop;"))  # fmt: skip
    result = tracer(text).arriving(POD_PACKET)
    assert result.verdict == "DROP"
    assert result.branches[0].hops[-1].rule == "policy drop"


def test_jump_returns_goto_does_not() -> None:
    body = "\n".join(
        [
            chain("fwd", "jump j", "drop", head="type filter hook forward priority 0;"),
            chain("j", "goto g", "accept"),  # never reached after the goto
            chain("g", "return"),
        ]
    )
    result = tracer(table(body)).arriving(POD_PACKET)
    # g returns to whoever *jumped* (fwd), skipping the rest of j: fwd's drop decides.
    assert result.verdict == "DROP"
    assert [h.chain for h in result.branches[0].hops] == ["fwd", "j", "g", "fwd"]


def test_loops_and_missing_chains_are_errors() -> None:
    loop = table(chain("fwd", "jump fwd", head="type filter hook forward priority 0;"))
    with pytest.raises(NftTraceError, match="nested too deep"):
        tracer(loop).arriving(POD_PACKET)
    missing = table(chain("fwd", "jump nowhere", head="type filter hook forward priority 0;"))
    with pytest.raises(NftTraceError, match="missing chain nowhere"):
        tracer(missing).arriving(POD_PACKET)


@settings(database=None, max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=40))
def test_numgen_gives_n_branches_of_exactly_one_nth(n: int) -> None:
    chains = [NftChain("pre", "nat", "prerouting", -100)]
    chains += [NftChain(f"ep{i}") for i in range(n)]
    rules = [NftRule("pre", (NumgenVmap(tuple(goto(f"ep{i}") for i in range(n))),))]
    rules += [NftRule(f"ep{i}", (L4Proto("tcp"), Dnat(f"10.0.{i}.1:80"))) for i in range(n)]
    objects: list[NftObject] = [NftTable("ip", "t"), *chains, *rules]
    tx = NftTransaction("ip", "t", tuple(add(o) for o in objects))
    result = NftTracer(tx, NODE).arriving(POD_PACKET)
    assert len(result.branches) == n
    assert [p for _, _, p in result.endpoints] == [Fraction(1, n)] * n
    kernel = NftTracer(tx, NODE, probabilities="kernel").arriving(POD_PACKET)
    shares = [p for _, _, p in kernel.endpoints]
    assert sum(shares) == 1
    assert max(shares) - min(shares) <= Fraction(1, 2**32)
    assert (max(shares) == min(shares)) == (2**32 % n == 0)


def test_vmap_miss_falls_through_and_hit_follows_the_element() -> None:
    body = "\n".join(
        [
            "map m {\n type ipv4_addr . inet_proto . inet_service : verdict\n"
            " elements = { 10.96.0.1 . tcp . 443 : drop, 10.96.0.0/24 . udp . 53 : accept }\n}",
            chain("fwd", "ip daddr . meta l4proto . th dport vmap @m", "reject",
                  head="type filter hook forward priority 0;"),
        ]
    )  # fmt: skip
    t = tracer(table(body.replace("map m {", "map m {\n flags interval")))
    assert t.arriving(POD_PACKET).verdict == "DROP"
    assert t.arriving(Packet("10.244.1.5", "10.96.0.7", "udp", 1, 53)).verdict == "ACCEPT"
    assert t.arriving(Packet("10.244.1.5", "10.96.0.1", "tcp", 1, 80)).verdict == "REJECT"


def test_dnat_rewrites_and_masquerade_uses_the_node_address() -> None:
    body = "\n".join(
        [
            chain("pre", "meta l4proto tcp dnat to 10.244.2.9:8443", head=PRE_NAT),
            chain("post", "masquerade", head="type nat hook postrouting priority srcnat;"),
        ]
    )
    result = tracer(table(body)).arriving(POD_PACKET)
    branch = result.branches[0]
    assert (result.verdict, branch.endpoint) == ("DNAT", ("10.244.2.9", 8443))
    assert (branch.packet.src, branch.packet.dst, branch.packet.dport) == (
        "172.18.0.3",
        "10.244.2.9",
        8443,
    )
    assert result.masquerade


def test_a_second_nat_chain_of_the_hook_is_skipped_once_one_has_nat() -> None:
    first = table(chain("a", "dnat to 10.0.0.1:1", head=PRE_NAT), "a")
    second = table(chain("b", "dnat to 10.0.0.2:2", head=PRE_NAT), "b")
    result = tracer(first + second).arriving(POD_PACKET)
    assert result.endpoints == (("10.0.0.1", 1, Fraction(1)),)


def test_unknown_expressions_and_interfaces_are_not_evaluated_never_guessed() -> None:
    body = chain(
        "fwd",
        'iifname "cni0" drop',
        "ip saddr 10.244.0.0/16 log prefix x drop",
        "meta l4proto tcp accept",
        head="type filter hook forward priority 0;",
    )
    result = tracer(table(body)).arriving(POD_PACKET)
    assert result.verdict == "ACCEPT"  # the undecidable drops are treated as not matching
    assert result.uncertain
    assert len(result.not_evaluated) == 2
    assert "interface not known" in result.not_evaluated[0]
    assert "log prefix x drop" in result.not_evaluated[1]
    # With the interface known, the first rule decides.
    known = Packet("10.244.1.5", "10.96.0.1", "tcp", 40000, 443, in_iface="cni0")
    assert tracer(table(body)).arriving(known).verdict == "DROP"


def test_affinity_is_remembered_then_forgotten() -> None:
    t = NftTracer(transaction("overall"), HARNESS)
    packet = Packet("203.0.113.2", "5.6.7.8", "tcp", 40000, 80)
    first = t.arriving(packet)
    aff = "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
    assert first.branches[0].recent == frozenset({(aff, "203.0.113.2")})
    assert not any(h.rule.startswith("ip saddr @affinity") for h in first.branches[0].hops)
    t.remember(first.branches[0])
    again = t.arriving(packet)
    assert any(h.rule.startswith(f"ip saddr @{aff} goto") for h in again.branches[0].hops)
    t.forget()
    assert not any(h.rule.startswith("ip saddr @aff") for h in t.arriving(packet).branches[0].hops)


def test_state_transaction_and_ruleset_inputs_agree() -> None:
    tx = transaction("overall")
    state = NftState("ip", "kube-proxy")
    state.apply(tx)
    packets = [Packet("10.0.0.2", f"172.30.0.4{i}", "tcp", 40000, 80) for i in range(1, 7)]
    for p in packets:
        results = [NftTracer(src, HARNESS).arriving(p) for src in (tx, state, NftRuleset.of(tx))]
        assert len({(r.verdict, r.endpoints, r.masquerade) for r in results}) == 1


def test_bad_probability_reading_is_refused() -> None:
    with pytest.raises(ValueError, match="probabilities must be one of"):
        NftTracer(NftRuleset(), NODE, probabilities="guess")


def test_an_ipv6_packet_sees_only_ip6_and_inet_tables() -> None:
    v4 = table(chain("f", "drop", head="type filter hook forward priority 0;"), "v4")
    inet = table(chain("f", "accept", head="type filter hook forward priority 0;"), "i", "inet")
    t = NftTracer(parse_nft(v4 + inet), NodeContext.of(["fd00::1"]))
    result = t.arriving(Packet("fd00:10::5", "fd00:96::1", "tcp", 1, 80))
    assert result.verdict == "ACCEPT"
    assert [h.table for h in result.branches[0].hops] == ["inet i"]


def test_our_objects_render_their_own_rule_text_in_hops() -> None:
    tx = NftTransaction(
        "ip",
        "t",
        (
            add(NftTable("ip", "t")),
            add(NftChain("f", "filter", "forward", 0)),
            add(NftChain("g")),
            add(NftRule("f", (AddrMatch("saddr", "10.244.0.0/16"), goto("g")), "pods")),
        ),
    )
    hop = NftTracer(tx, NODE).arriving(POD_PACKET).branches[0].hops[0]
    assert (hop.rule, hop.comment) == ('ip saddr 10.244.0.0/16 goto g comment "pods"', "pods")


@pytest.mark.parametrize("scenario", ["overall", "load-balancer", "masq-all", "itp-local-deleted"])
def test_transaction_replay_holds_what_nft_state_holds(scenario: str) -> None:
    tx = transaction(scenario)
    state = NftState("ip", "kube-proxy")
    state.apply(tx)
    replayed, held = NftRuleset.of(tx).tables[0], NftRuleset.of(state).tables[0]
    assert sorted(replayed.chains, key=str) == sorted(held.chains, key=str)
    assert dict(replayed.rules) == dict(held.rules)
    assert dict(replayed.containers) == dict(held.containers)
    assert {k: set(v) for k, v in replayed.elements.items()} == {
        k: set(v) for k, v in held.elements.items()
    }


def test_replay_follows_flush_and_delete() -> None:
    base = NftChain("f", "filter", "forward", 0)
    rule = NftRule("f", (L4Proto("tcp"), goto("g")))
    tx = NftTransaction(
        "ip",
        "t",
        (
            add(NftTable("ip", "t")), add(base), add(NftChain("g")), add(NftChain("h")),
            add(rule), flush(base), add(NftRule("f", (goto("g"),))), delete(NftChain("h")),
        ),
    )  # fmt: skip
    t = NftRuleset.of(tx).tables[0]
    assert [c.name for c in t.chains] == ["f", "g"]
    assert t.rules["f"] == (NftRule("f", (goto("g"),)),)
    assert NftRuleset.of(tx, NftTransaction("ip", "t", (delete(NftTable("ip", "t")),))) == (
        NftRuleset()
    )
