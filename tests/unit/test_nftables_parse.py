"""Reading nft dumps: ``nft list`` text and ``nft -j`` JSON, ours and a real k3s node's.

The real node is ``../shared/fixtures/real-world/k3s-nftables.nft`` (read in place; see its
README entry): node 10.34.4.246, pods 10.42.0.0/16, Services 10.43.0.0/16, the 1.31–1.32
base-chain layout (all filter chains at -110, ``filter-output-post-dnat`` at -90) and
ClusterIP masquerade rules that still say ``tcp dport``.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from k8s_service_lab.netfilter.nftables import AddrSet, NftRule, NftSet
from k8s_service_lab.netfilter.nftables_dump import (
    AnyRule,
    DumpRule,
    NftRuleset,
    NftTableDump,
    Opaque,
    PortMatch,
)
from k8s_service_lab.netfilter.nftables_json import parse_nft_json
from k8s_service_lab.netfilter.nftables_parse import parse_nft
from k8s_service_lab.netfilter.nftables_text import quote, rule_text
from k8s_service_lab.netfilter.nftables_words import parse_rule, tokens
from k8s_service_lab.netfilter.xtables import DumpError
from k8s_service_lab.tracer import NodeContext, Packet
from k8s_service_lab.tracer.nft_engine import NftTracer
from tests.flows.scenarios import SCENARIOS
from tests.flows.test_flows_nftables import transaction

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real-world"
K3S = FIXTURES / "k3s-nftables.nft"
K3S_NODE = NodeContext.of(["10.34.4.246", "127.0.0.1"], "10.42.0.0/16")
HELLO_EPS = ["10.42.2.218", *(f"10.42.4.{n}" for n in range(201, 208)), "10.42.5.164"]


#: Packets the k3s tests trace (``True``: the node sends it), also replayed by the kernel tier.
PACKETS_K3S = (
    (Packet("10.42.2.5", "10.43.0.10", "udp", 40000, 53), False),
    (Packet("192.168.50.7", "10.34.4.246", "tcp", 40000, 30000), False),
    (Packet("10.42.2.5", "10.43.195.72", "tcp", 40000, 8000), False),
    (Packet("10.34.4.246", "10.43.0.1", "tcp", 40000, 443), True),
    (Packet("10.42.2.5", "10.43.21.102", "tcp", 40000, 4317), False),
    (Packet("10.42.2.5", "10.43.0.10", "tcp", 40000, 80), False),
    (Packet("10.42.2.5", "10.43.99.99", "tcp", 40000, 80), False),
)


def list_text(rs: NftRuleset) -> str:
    """A ruleset printed in ``nft list ruleset``'s shape (blocks, tabs, elements lists)."""
    out = []
    for t in rs.tables:
        out.append(f"table {t.family} {t.name} {{")
        if t.comment is not None:
            out.append(f"\tcomment {quote(t.comment)}")
        out += _containers(t)
        for c in t.chains:
            out.append(f"\tchain {c.name} {{")
            if c.hook is not None:
                policy = t.policies.get(c.name, "accept")
                out.append(
                    f"\t\ttype {c.type} hook {c.hook} priority {c.priority}; policy {policy};"
                )
            if c.comment is not None:
                out.append(f"\t\tcomment {quote(c.comment)}")
            for r in t.rules[c.name]:
                assert isinstance(r, NftRule)
                out.append("\t\t" + rule_text(r, "ip6" if t.family == "ip6" else "ip"))
            out.append("\t}")
        out.append("}")
    return "\n".join(out) + "\n"


def _containers(t: NftTableDump) -> list[str]:
    out = []
    for name, c in t.containers.items():
        out.append(f"\t{'set' if isinstance(c, NftSet) else 'map'} {name} {{")
        out.append(f"\t\ttype {c.type}")
        if c.flags:
            out.append(f"\t\tflags {','.join(c.flags)}")
        if isinstance(c, NftSet) and c.timeout is not None:
            out.append(f"\t\ttimeout {c.timeout}s")
        if c.comment is not None:
            out.append(f"\t\tcomment {quote(c.comment)}")
        items = []
        for e in t.elements[name]:
            item = " . ".join(e.key)
            if e.comment is not None:
                item += f" comment {quote(e.comment)}"
            if e.value is not None:
                item += f" : {e.value.kind}" + (f" {e.value.chain}" if e.value.chain else "")
            items.append(item)
        if items:
            out.append("\t\telements = { " + ",\n\t\t\t     ".join(items) + " }")
        out.append("\t}")
    return out


def k3s() -> NftTracer:
    return NftTracer(parse_nft(K3S.read_text(), source="k3s-nftables.nft"), K3S_NODE)


def test_k3s_dump_parses_completely() -> None:
    rs = parse_nft(K3S.read_text(), source="k3s-nftables.nft")
    t = rs.table("ip", "kube-proxy")
    assert t.comment == "rules for kube-proxy"
    assert len(t.chains) == 43
    assert {c.name: c.priority for c in t.chains if c.hook is not None} == {
        "nat-prerouting": -100, "filter-prerouting": -110, "filter-input": -110,
        "filter-forward": -110, "filter-output": -110, "filter-output-post-dnat": -90,
        "nat-output": -100, "nat-postrouting": 100,
    }  # fmt: skip
    assert len(t.elements["service-ips"]) == 9
    assert len(t.elements["cluster-ips"]) == 7
    assert t.elements["no-endpoint-nodeports"] == ()
    rules = [r for rs_ in t.rules.values() for r in rs_]
    assert not any(isinstance(e, Opaque) for r in rules for e in r.exprs)
    # The older masquerade rule keeps its port match: "ip daddr ... tcp dport 8000 ...".
    masq = t.rules["service-P6J77WGM-riset/hellopod-np-svc/tcp/"][0]
    assert PortMatch("tcp", "dport", ("8000",)) in masq.exprs


def test_k3s_pod_to_kube_dns() -> None:
    result = k3s().arriving(Packet("10.42.2.5", "10.43.0.10", "udp", 40000, 53))
    assert (result.verdict, result.masquerade, result.uncertain) == ("DNAT", False, False)
    assert result.endpoints == (("10.42.0.171", 53, Fraction(1)),)


def test_k3s_external_to_nodeport_spreads_over_nine_endpoints_masqueraded() -> None:
    result = k3s().arriving(Packet("192.168.50.7", "10.34.4.246", "tcp", 40000, 30000))
    assert result.verdict == "DNAT"
    assert [(ip, port, p) for ip, port, p in result.endpoints] == [
        (ip, 8080, Fraction(1, 9)) for ip in HELLO_EPS
    ]
    assert result.masquerade
    assert {b.packet.src for b in result.branches} == {"10.34.4.246"}
    chains = [h.chain for h in result.branches[0].hops]
    assert chains[:4] == ["filter-prerouting", "nat-prerouting", "services", chains[3]]
    assert chains[3] == "external-P6J77WGM-riset/hellopod-np-svc/tcp/"


def test_k3s_pod_to_cluster_ip_of_the_nodeport_service_is_not_masqueraded() -> None:
    result = k3s().arriving(Packet("10.42.2.5", "10.43.195.72", "tcp", 40000, 8000))
    assert len(result.endpoints) == 9
    assert not result.masquerade


def test_k3s_node_to_api_server_is_masqueraded() -> None:
    result = k3s().sent(Packet("10.34.4.246", "10.43.0.1", "tcp", 40000, 443))
    assert result.endpoints == (("10.34.4.142", 6443, Fraction(1)),)
    assert result.masquerade


@pytest.mark.parametrize(
    ("dst", "dport", "verdict", "chain"),
    [
        ("10.43.21.102", 4317, "REJECT", "reject-chain"),  # no endpoints
        ("10.43.0.10", 80, "REJECT", "cluster-ips-check"),  # allocated IP, wrong port
        ("10.43.99.99", 80, "DROP", "cluster-ips-check"),  # unallocated ServiceCIDR IP
    ],
)
def test_k3s_filter_verdicts(dst: str, dport: int, verdict: str, chain: str) -> None:
    result = k3s().arriving(Packet("10.42.2.5", dst, "tcp", 40000, dport))
    assert result.verdict == verdict
    assert result.branches[0].hops[-1].chain == chain


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_our_tables_printed_as_nft_list_read_back_the_same(scenario: str) -> None:
    rs = NftRuleset.of(transaction(scenario))
    back = parse_nft(list_text(rs))
    ours, theirs = rs.tables[0], back.tables[0]
    assert list(theirs.chains) == list(ours.chains)
    assert dict(theirs.containers) == dict(ours.containers)
    assert {k: set(v) for k, v in theirs.elements.items()} == {
        k: set(v) for k, v in ours.elements.items()
    }
    for name, rules in ours.rules.items():
        assert [r.exprs for r in theirs.rules[name]] == [_plain(r.exprs) for r in rules]


def _plain(exprs: tuple[object, ...]) -> tuple[object, ...]:
    # AddrSet's "compact" says how *we* write it; a reader cannot (and need not) tell.
    return tuple(
        AddrSet(e.field, e.values, e.negate) if isinstance(e, AddrSet) else e for e in exprs
    )


def test_kernel_spellings_read_as_the_same_expressions() -> None:
    kernel = parse_rule(tokens("meta mark & 0x00004000 == 0x00000000 return"))[0]
    ours = parse_rule(tokens("mark and 0x00004000 == 0x00000000 return"))[0]
    assert kernel == ours
    assert (
        parse_rule(tokens("meta mark set meta mark | 0x4000"))[0]
        == parse_rule(tokens("mark set mark or 0x4000"))[0]
    )
    exprs, comment = parse_rule(tokens('ct state established,related accept comment "x y"'))
    assert exprs[0].states == ("established", "related")  # type: ignore[union-attr]
    assert comment == "x y"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("table ip t {\n chain c {\n  jump\n }\n}", 3, "jump needs a chain name"),
        ("table ip t {\n chain c {\n  ip saddr 1.2.3.4/40 drop\n }\n}", 3, "1.2.3.4/40"),
        ("table ip t {\n chain c {\n  accept\n", 3, "chain c is not closed"),
        ("table ip t {\n set s {\n  type ipv4_addr\n  elements = { 1.2.3 }\n }\n}", 4, "1.2.3"),
        ('table ip t {\n chain c {\n  accept comment "x\n }\n}', 3, "unterminated"),
        ("table ip t {\n chain c {\n  type nat hook input priority bogus;\n }\n}", 3, "bogus"),
        ("table ipx t {\n}", 1, "unknown table family"),
        ("chain c {\n}", 1, "expected 'table FAMILY NAME {'"),
        ("table ip t {\n map m {\n  elements = { 1 : drop }\n }\n}", 2, "has no type"),
        ("table ip t {\n chain c {\n }\n chain c {\n }\n}", 4, "appears twice"),
        (
            "table ip t {\n chain c {\n  numgen random mod 2 vmap { x : drop }\n }\n}",
            3,
            "bad numgen",
        ),
    ],
)
def test_malformed_text_names_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(DumpError, match=message) as err:
        parse_nft(text, source="node.nft")
    assert err.value.line == line
    assert str(err.value).startswith(f"node.nft:{line}: ")


def _payload(proto: str, field: str) -> dict[str, object]:
    return {"payload": {"protocol": proto, "field": field}}


def _rule(chain: str, *expr: object) -> dict[str, object]:
    return {"rule": {"family": "ip", "table": "kube-proxy", "chain": chain, "expr": list(expr)}}


_L4 = {"meta": {"key": "l4proto"}}
_MARK = {"meta": {"key": "mark"}}
_NEW = {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}}
_DEST = {"concat": [_payload("ip", "daddr"), _L4, _payload("th", "dport")]}
_AFF = "affinity-X"
_EP = ["ep-a", "ep-b"]

#: Every statement form ``nft -j list ruleset`` (1.0.6) printed for our overall scenario,
#: on a small table: the kernel tier compares whole real dumps.
JSON_DOC = {"nftables": [
    {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
    {"table": {"family": "ip", "name": "kube-proxy", "handle": 1}},
    {"set": {"family": "ip", "name": "cluster-ips", "table": "kube-proxy",
             "type": "ipv4_addr", "elem": ["172.30.0.41", "172.30.0.44"]}},
    {"set": {"family": "ip", "name": _AFF, "table": "kube-proxy", "type": "ipv4_addr",
             "flags": ["dynamic", "timeout"], "timeout": 10800}},
    {"map": {"family": "ip", "name": "service-ips", "table": "kube-proxy",
             "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "verdict",
             "elem": [[{"concat": ["172.30.0.44", "tcp", 80]}, {"goto": {"target": "svc"}}]]}},
    {"map": {"family": "ip", "name": "no-endpoint-services", "table": "kube-proxy",
             "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "verdict",
             "elem": [[{"elem": {"val": {"concat": ["172.30.0.41", "tcp", 80]},
                                 "comment": "ns1/svc1:p80"}}, {"goto": {"target": "rej"}}]]}},
    {"chain": {"family": "ip", "table": "kube-proxy", "name": "pre", "type": "nat",
               "hook": "prerouting", "prio": -100, "policy": "accept"}},
    {"chain": {"family": "ip", "table": "kube-proxy", "name": "fwd", "type": "filter",
               "hook": "forward", "prio": 0, "policy": "accept"}},
    {"chain": {"family": "ip", "table": "kube-proxy", "name": "post", "type": "nat",
               "hook": "postrouting", "prio": 100, "policy": "accept"}},
    *({"chain": {"family": "ip", "table": "kube-proxy", "name": n}}
      for n in ("svc", "ep-a", "ep-b", "rej", "masq", "chk")),
    _rule("pre", {"vmap": {"key": _DEST, "data": "@service-ips"}}),
    _rule("svc", {"match": {"op": "!=", "left": _payload("ip", "saddr"),
                            "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}},
          {"mangle": {"key": _MARK, "value": {"|": [_MARK, 16384]}}}),
    _rule("svc", {"match": {"op": "==", "left": _payload("ip", "saddr"), "right": f"@{_AFF}"}},
          {"goto": {"target": "ep-a"}}),
    _rule("svc", {"vmap": {"key": {"numgen": {"mode": "random", "mod": 2, "offset": 0}},
                           "data": {"set": [[i, {"goto": {"target": t}}]
                                            for i, t in enumerate(_EP)]}}}),
    *(_rule(ep, {"set": {"op": "update", "elem": _payload("ip", "saddr"), "set": f"@{_AFF}"}},
            {"match": {"op": "==", "left": _L4, "right": "tcp"}},
            {"dnat": {"addr": f"10.180.0.{i + 4}", "port": 80}}) for i, ep in enumerate(_EP)),
    _rule("fwd", _NEW, {"jump": {"target": "chk"}}),
    _rule("chk", {"vmap": {"key": _DEST, "data": "@no-endpoint-services"}}),
    _rule("chk", {"match": {"op": "==", "left": _payload("ip", "daddr"),
                            "right": "@cluster-ips"}},
          {"reject": {"type": "icmp", "expr": "port-unreachable"}}),
    _rule("rej", {"reject": {"type": "icmp", "expr": "port-unreachable"}}),
    _rule("post", {"jump": {"target": "masq"}}),
    _rule("masq", {"match": {"op": "==", "left": {"&": [_MARK, 16384]}, "right": 0}},
          {"return": None}),
    _rule("masq", {"mangle": {"key": _MARK, "value": {"^": [_MARK, 16384]}}}),
    _rule("masq", {"masquerade": {"flags": "fully-random"}}),
]}  # fmt: skip
JSON_NODE = NodeContext.of(["192.168.0.2"], "10.0.0.0/8")


def _texts(rules: tuple[AnyRule, ...]) -> list[str | None]:
    return [r.text if isinstance(r, DumpRule) else None for r in rules]


def test_json_statements_read_as_the_text_forms() -> None:
    t = parse_nft_json(json.dumps(JSON_DOC, indent=1)).table("ip", "kube-proxy")
    assert _texts(t.rules["masq"]) == [
        "mark and 0x4000 == 0x0 return",
        "mark set mark xor 0x4000",
        "masquerade fully-random",
    ]
    assert _texts(t.rules["svc"])[2] == "numgen random mod 2 vmap { 0 : goto ep-a , 1 : goto ep-b }"
    assert (
        _texts(t.rules["ep-a"])[0]
        == "update @affinity-X { ip saddr } meta l4proto tcp dnat to 10.180.0.4:80"
    )
    assert t.elements["no-endpoint-services"][0].comment == "ns1/svc1:p80"
    assert t.containers[_AFF] == NftSet(_AFF, "ipv4_addr", ("dynamic", "timeout"), 10800)
    assert not any(isinstance(e, Opaque) for rs_ in t.rules.values() for r in rs_ for e in r.exprs)


@pytest.mark.parametrize(
    ("src", "dst", "verdict", "eps", "masq"),
    [
        ("10.0.0.2", "172.30.0.44", "DNAT", {"10.180.0.4", "10.180.0.5"}, False),
        ("203.0.113.2", "172.30.0.44", "DNAT", {"10.180.0.4", "10.180.0.5"}, True),
        ("10.0.0.2", "172.30.0.41", "REJECT", set(), False),
    ],
)
def test_json_table_traces(src: str, dst: str, verdict: str, eps: set[str], masq: bool) -> None:
    tracer = NftTracer(parse_nft_json(json.dumps(JSON_DOC)), JSON_NODE)
    result = tracer.arriving(Packet(src, dst, "tcp", 40000, 80))
    assert (result.verdict, result.masquerade, result.uncertain) == (verdict, masq, False)
    assert {ip for ip, _, _ in result.endpoints} == eps
    assert all(p == Fraction(1, 2) for _, _, p in result.endpoints)


def test_json_unknown_statements_are_kept_opaque() -> None:
    doc = json.loads(json.dumps(JSON_DOC))
    doc["nftables"].append(_rule("fwd", {"log": {"prefix": "x"}}, {"drop": None}))
    rule = parse_nft_json(json.dumps(doc)).table("ip", "kube-proxy").rules["fwd"][-1]
    assert rule.exprs == (Opaque('[{"log": {"prefix": "x"}}, {"drop": null}]'),)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["nftables"].append({"rule": {"family": "ip", "table": "nope"}}), "no table"),
        (lambda d: d["nftables"][2]["set"].update(elem=["1.2.3"]), "1.2.3"),
        (lambda d: d["nftables"][8]["chain"].pop("prio"), "numeric prio"),
        (lambda d: d["nftables"].append(_rule("nochain", {"drop": None})), "unknown chain"),
        (lambda d: d["nftables"].append(_rule("fwd", {"jump": {}})), "bad field"),
        (lambda d: d["nftables"].append({"a": 1, "b": 2}), "one key"),
    ],
)
def test_json_errors_name_the_line_of_the_object(mutate: object, message: str) -> None:
    doc = json.loads(json.dumps(JSON_DOC))
    mutate(doc)  # type: ignore[operator]
    text = json.dumps(doc, indent=1)
    with pytest.raises(DumpError, match=message) as err:
        parse_nft_json(text, source="node.json")
    assert err.value.line is not None
    assert err.value.line > 1
    assert text.splitlines()[err.value.line - 1].strip().startswith("{")


def test_json_syntax_errors_carry_the_decoder_line() -> None:
    with pytest.raises(DumpError) as err:
        parse_nft_json('{"nftables": [\n  {"table": }\n]}')
    assert err.value.line == 2
