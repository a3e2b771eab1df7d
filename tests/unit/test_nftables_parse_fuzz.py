"""10,000 fuzzed nft dumps: each parses, or raises a DumpError naming a line — nothing else.

Seeds: the real k3s node's ``nft list table`` (read in place), our overall scenario printed in
``nft list`` shape, and a libnftables JSON document. Hypothesis drives and shrinks the
mutations: lines deleted, duplicated or swapped; words replaced by nft keywords, punctuation
or garbage; truncation anywhere (mid-word, mid-quote, mid-element-list); raw bytes (NUL, CR,
form feed, non-ASCII). Whatever parses must also trace without crashing (a ``NftTraceError``
for a jump to a chain the mutation deleted is the tracer's own, documented refusal).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_service_lab.netfilter.nftables_dump import NftRuleset
from k8s_service_lab.netfilter.nftables_json import parse_nft_json
from k8s_service_lab.netfilter.nftables_parse import parse_nft
from k8s_service_lab.netfilter.xtables import DumpError
from k8s_service_lab.tracer import NodeContext, Packet
from k8s_service_lab.tracer.nft_engine import NftTraceError, NftTracer
from tests.flows.test_flows_nftables import transaction
from tests.unit.test_nftables_parse import JSON_DOC, K3S, list_text

GARBAGE = [
    "{", "}", ",", ";", ":", ".", '"', '"open', "#", "@", "@x", "!=", "==", "&", "|", "^",
    "jump", "goto", "vmap", "numgen", "random", "mod", "0", "-1", "99999", "1.2.3", "::1/200",
    "10.0.0.0/33", "type", "hook", "priority", "policy", "elements", "=", "table", "chain",
    "set", "map", "ip", "ip6", "inet", "saddr", "daddr", "th", "dport", "tcp", "meta", "mark",
    "fib", "ct", "state", "dnat", "to", "masquerade", "update", "reject", "with", "comment",
    "counter", "packets", "timeout", "3x", "\t", "\x00", "\r", "\x0c", "é", "",
]  # fmt: skip
PACKETS = [
    Packet("10.42.2.5", "10.43.0.10", "udp", 40000, 53),
    Packet("192.168.50.7", "10.34.4.246", "tcp", 40000, 30000),
    Packet("10.0.0.2", "172.30.0.44", "tcp", 40000, 80),
]
NODE = NodeContext.of(["10.34.4.246", "192.168.0.2", "127.0.0.1"], "10.42.0.0/16")


@cache
def text_seeds() -> tuple[str, ...]:
    return (K3S.read_text(), list_text(NftRuleset.of(transaction("overall"))))


@cache
def json_seed() -> str:
    return json.dumps(JSON_DOC, indent=1)


@st.composite
def mutated(draw: st.DrawFn, seed: str) -> str:
    lines = seed.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "dup", "swap", "word", "insert", "truncate", "byte"]))
        if op == "delete":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op in ("word", "insert"):
            words = lines[i].split(" ")
            k = draw(st.integers(0, len(words) - (1 if op == "word" else 0)))
            new = draw(st.sampled_from(GARBAGE))
            words[k : k + (1 if op == "word" else 0)] = [new]
            lines[i] = " ".join(words)
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
            lines = lines[: i + 1] if draw(st.booleans()) else lines
        else:
            k = draw(st.integers(0, len(lines[i])))
            lines[i] = (
                lines[i][:k]
                + draw(st.sampled_from(["\x00", "\r", "\x0c", "\u00e9"]))
                + lines[i][k:]
            )
    return "\n".join(lines) + "\n"


def _trace_all(rs: NftRuleset) -> None:
    tracer = NftTracer(rs, NODE)
    for p in PACKETS:
        try:
            result = tracer.arriving(p)
        except NftTraceError:
            continue
        assert sum(b.probability for b in result.branches) == 1


_FUZZ = settings(
    database=None,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _parses_or_names_a_line(parse: Callable[..., NftRuleset], text: str, source: str) -> None:
    try:
        rs = parse(text, source=source)
    except DumpError as e:
        err = e
    else:
        _trace_all(rs)
        return
    assert err.line is not None
    assert 1 <= err.line <= text.count("\n") + 1
    assert str(err).startswith(f"{source}:{err.line}: ")


@settings(_FUZZ, max_examples=8_000)
@given(st.sampled_from([0, 1]).flatmap(lambda i: mutated(text_seeds()[i])))
def test_mutated_text_dumps_parse_or_name_a_line(text: str) -> None:
    _parses_or_names_a_line(parse_nft, text, "fuzz.nft")


@settings(_FUZZ, max_examples=2_000)
@given(st.just(0).flatmap(lambda _: mutated(json_seed())))
def test_mutated_json_dumps_parse_or_name_a_line(text: str) -> None:
    _parses_or_names_a_line(parse_nft_json, text, "fuzz.json")
