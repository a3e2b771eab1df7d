"""Label-selector budget: parse a realistic selector mix and match 100,000 label sets, < 1 s.

Run with ``nox -s bench`` or::

    pytest bench/bench_selectors.py --benchmark-only -p no:cacheprovider

Each round parses the selectors afresh (so parsing is inside the figure) and then asks every
selector about every label set, as an endpoints controller asks every Service about every pod
of a namespace: 9 selectors x 100,000 label sets = 900,000 matches. The label sets are pod-like
(two to six labels, a pod-template-hash now and then) and built once, outside the timing.
"""

from __future__ import annotations

import random

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from k8s_service_lab.labels import Selector, parse_selector

BUDGET_SECONDS = 1.0
LABEL_SETS = 100_000

# What kubectl -l, Deployments, NetworkPolicies and Services commonly say.
SELECTOR_MIX = [
    "app=web",
    "app=web,tier=frontend",
    "app.kubernetes.io/name=nginx,app.kubernetes.io/instance=prod",
    "environment in (production,staging),tier notin (cache)",
    "app=api,!canary",
    "k8s-app=kube-dns",
    "release==stable,track!=canary",
    "tier,partition>3",
    "app in (web,api,worker),environment=production,version<10",
]

LABEL_POOLS = {
    "app": ["web", "api", "worker", "db"],
    "tier": ["frontend", "backend", "cache"],
    "environment": ["production", "staging", "dev"],
    "app.kubernetes.io/name": ["nginx", "redis"],
    "app.kubernetes.io/instance": ["prod", "test"],
    "k8s-app": ["kube-dns", "metrics-server"],
    "release": ["stable", "beta"],
    "track": ["canary", "stable"],
    "partition": [str(n) for n in range(8)],
    "version": [str(n) for n in range(15)],
    "canary": ["true"],
    "pod-template-hash": ["5d8f9c7b6", "7c9d6f5b8"],
}


@pytest.fixture(scope="module")
def label_sets() -> list[dict[str, str]]:
    """100,000 pod-like label sets, the same on every run (fixed seed)."""
    rng = random.Random(0)
    keys = list(LABEL_POOLS)
    sets = []
    for _ in range(LABEL_SETS):
        chosen = rng.sample(keys, rng.randint(2, 6))
        sets.append({key: rng.choice(LABEL_POOLS[key]) for key in chosen})
    return sets


def parse_and_match(texts: list[str], label_sets: list[dict[str, str]]) -> int:
    """Parse every selector, then count the (selector, label set) pairs that match."""
    selectors = [parse_selector(text) for text in texts]
    hits = 0
    for labels in label_sets:
        for selector in selectors:
            if selector.matches(labels):
                hits += 1
    return hits


def test_parse_mix_and_match_100k_label_sets(
    benchmark: BenchmarkFixture, label_sets: list[dict[str, str]]
) -> None:
    hits = benchmark.pedantic(
        parse_and_match, args=(SELECTOR_MIX, label_sets), rounds=5, iterations=1, warmup_rounds=1
    )
    benchmark.extra_info.update(
        selectors=len(SELECTOR_MIX),
        label_sets=len(label_sets),
        matches_evaluated=len(SELECTOR_MIX) * len(label_sets),
        matches_true=hits,
    )
    # The same count the slow way, so the benchmark cannot pass by matching wrongly fast.
    expected = sum(
        parse_selector(text).matches(labels) for text in SELECTOR_MIX for labels in label_sets
    )
    assert hits == expected
    assert 0 < hits < len(SELECTOR_MIX) * len(label_sets)
    if benchmark.stats is not None:  # None when benchmarks are disabled
        assert benchmark.stats.stats.median < BUDGET_SECONDS


def test_service_selector_over_100k_pods(
    benchmark: BenchmarkFixture, label_sets: list[dict[str, str]]
) -> None:
    """A Service's equality selector (``Selector.from_set``) asked about every pod."""
    selector = Selector.from_set({"app": "web", "tier": "frontend"})

    def scan() -> int:
        return sum(1 for labels in label_sets if selector.matches(labels))

    hits = benchmark.pedantic(scan, rounds=5, iterations=1)
    assert hits == sum(
        1 for s in label_sets if s.get("app") == "web" and s.get("tier") == "frontend"
    )


def test_parse_10k_selectors(benchmark: BenchmarkFixture) -> None:
    """The parser alone: the mix, parsed 10,000 times over (about 1,100 times each)."""
    texts = [SELECTOR_MIX[i % len(SELECTOR_MIX)] for i in range(10_000)]
    parsed = benchmark.pedantic(lambda: [parse_selector(t) for t in texts], rounds=3, iterations=1)
    assert [str(s) for s in parsed[: len(SELECTOR_MIX)]] == [
        str(parse_selector(t)) for t in SELECTOR_MIX
    ]
