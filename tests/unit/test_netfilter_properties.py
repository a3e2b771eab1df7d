"""Random rulesets round-trip through both text forms; random and mutated dumps either parse
or fail with a DumpError that names a line — nothing else escapes."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.netfilter import (
    DNAT,
    Accept,
    Addr,
    AddrType,
    Chain,
    Comment,
    ConnTrack,
    Drop,
    DumpError,
    Iface,
    Jump,
    Mark,
    MarkTarget,
    Masquerade,
    Match,
    Multiport,
    NfAcct,
    Protocol,
    Recent,
    Reject,
    Rule,
    Ruleset,
    Statistic,
    Table,
    Target,
    TcpUdp,
    UnknownMatch,
    canonical,
    parse_save,
    to_restore,
    to_save,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real-world"
CHAINS = ["KUBE-SERVICES", "KUBE-SVC-A", "KUBE-SEP-B", "MY-CHAIN"]

text = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4, st.integers(0, 32)).map(
    lambda t: f"{t[0]}.{t[1]}.{t[2]}.{t[3]}" + ("" if t[4] == 32 else f"/{t[4]}")
)
port = st.one_of(
    st.integers(0, 65535),
    st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(lambda t: (min(t), max(t))),
)
hexval = st.integers(0, 0xFFFFFFFF).map(lambda v: f"0x{v:08x}")
piece: st.SearchStrategy[Match] = st.one_of(
    st.builds(Comment, text),
    st.builds(Addr, st.sampled_from("sd"), ipv4, st.booleans()),
    st.builds(Iface, st.sampled_from("io"), st.sampled_from(["eth0", "cni+", "lo"]), st.booleans()),
    st.builds(Mark, hexval, st.none() | hexval, st.booleans()),
    st.builds(Statistic, st.just("random"), st.integers(0, 10**10).map(lambda n: f"{n / 10**10:.10f}")),
    st.builds(Recent, st.sampled_from(["set", "rcheck", "update"]), st.none() | st.just("KUBE-SEP-B"),
              st.none() | st.integers(1, 10800), reap=st.booleans()),
    st.builds(AddrType, st.none() | st.just("LOCAL"), st.none() | st.just("LOCAL"),
              limit_iface_in=st.booleans()),
    st.builds(ConnTrack, st.sampled_from([("NEW",), ("RELATED", "ESTABLISHED")]), st.booleans()),
    st.builds(NfAcct, st.sampled_from(["c1", "localhost_nps_accepted_pkts"])),
    st.builds(Multiport, st.sampled_from(["dports", "sports"]), st.lists(port, min_size=1, max_size=5).map(tuple)),
    st.builds(UnknownMatch, st.just("owner"), st.just(("--uid-owner", "0"))),
)  # fmt: skip
target: st.SearchStrategy[Target | None] = st.one_of(
    st.none(),
    st.builds(Jump, st.sampled_from(CHAINS[1:])),
    st.just(Accept()),
    st.just(Drop()),
    st.builds(Reject, st.none() | st.just("icmp-host-prohibited")),
    st.builds(DNAT, st.just("10.0.0.1:80")),
    st.builds(Masquerade, random_fully=st.booleans()),
    st.builds(MarkTarget, st.sampled_from(["or-mark", "xor-mark", "set-xmark"]), hexval),
)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    pieces = list(draw(st.lists(piece, max_size=5)))
    if draw(st.booleans()):
        proto = draw(st.sampled_from(["tcp", "udp"]))
        # kube-proxy's block: -m tcp -p tcp [-d IP] --dport N
        pieces[0:0] = [Protocol(proto, module=True), TcpUdp(proto, dport=draw(port), module=False)]
    return Rule(draw(st.sampled_from(CHAINS)), tuple(pieces), draw(target))


@st.composite
def rulesets(draw: st.DrawFn) -> Ruleset:
    body = tuple(draw(st.lists(rules(), max_size=8)))
    return Ruleset(4, (Table("nat", tuple(Chain(c) for c in CHAINS), body),))


@settings(database=None, max_examples=300, deadline=None)
@given(rulesets())
def test_restore_text_round_trips(rs: Ruleset) -> None:
    assert parse_save(to_restore(rs)) == rs


@settings(database=None, max_examples=300, deadline=None)
@given(rulesets())
def test_save_text_round_trips(rs: Ruleset) -> None:
    saved = to_save(rs)
    again = parse_save(saved)
    assert canonical(again) == canonical(rs)
    assert to_save(again) == saved


def _mutate(rng: random.Random, lines: list[str]) -> str:
    lines = list(lines)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        words = lines[i].split(" ")
        op = rng.randrange(6)
        if op == 0:
            del lines[i]
        elif op == 1 and len(words) > 1:
            del words[rng.randrange(len(words))]
        elif op == 2:
            words.insert(
                rng.randrange(len(words) + 1),
                rng.choice(
                    [
                        "!",
                        '"',
                        "-m",
                        "-j",
                        "--dport",
                        "x",
                        "0x",
                        "[1:2]",
                        "-p",
                        "tcp",
                        "COMMIT",
                        "*nat",
                    ]
                ),
            )
        elif op == 3 and len(words) > 1:
            j = rng.randrange(len(words))
            words[j] = words[j][: rng.randrange(len(words[j]) + 1)]
        elif op == 4:
            lines.insert(i, lines[rng.randrange(len(lines))])
        else:
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + chr(rng.randrange(32, 127)) + lines[i][pos:]
        if op in (1, 2, 3):
            lines[i] = " ".join(words)
        if not lines:
            lines = ["*filter"]
    return "\n".join(lines) + "\n"


def test_fuzz_parse_or_dump_error() -> None:
    rng = random.Random(20240311)
    seeds = [p.read_text().splitlines() for p in sorted(FIXTURES.glob("*.iptables-save"))]
    outcomes = {"parsed": 0, "error": 0}
    for n in range(10_000):
        base = seeds[n % len(seeds)]
        start = rng.randrange(len(base))
        chunk = base[start : start + rng.randint(1, 30)] if n % 3 else base
        text = _mutate(rng, chunk)
        try:
            rs = parse_save(text, source="fuzz")
        except DumpError as err:
            problems = _problems(err)
            assert not problems, problems
            outcomes["error"] += 1
        else:
            # Whatever parses must also print and read back.
            assert canonical(parse_save(to_save(rs))) == canonical(rs)
            outcomes["parsed"] += 1
    assert outcomes["parsed"] > 100
    assert outcomes["error"] > 1000


def _problems(err: DumpError) -> list[str]:
    """What is wrong with a DumpError's shape (it must name its line: ``fuzz:LINE: ...``)."""
    if err.line is None or err.line < 1:
        return [f"no line number: {err}"]
    if not str(err).startswith(f"fuzz:{err.line}: "):
        return [f"message does not start with fuzz:{err.line}: {err}"]
    return []
