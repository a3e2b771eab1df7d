"""CLI budgets: ``ksl --help`` answers in < 0.3 s (DESIGN §9); ``ksl demo`` runs in < 5 s.

Run with ``nox -s bench`` or::

    pytest bench/bench_cli.py --benchmark-only -p no:cacheprovider

Each round starts a fresh interpreter, as a user's shell does, so the figure includes Python's
own start-up and every import the command line makes before it can print help.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

BUDGET_SECONDS = 0.3
DEMO_BUDGET_SECONDS = 5.0
ROOT = Path(__file__).resolve().parents[1]


def _ksl(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "k8s_service_lab", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _help() -> None:
    _ksl("--help")


def test_ksl_help_start_up(benchmark: BenchmarkFixture) -> None:
    benchmark.pedantic(_help, rounds=10, warmup_rounds=1)  # type: ignore[no-untyped-call]
    assert benchmark.stats is not None
    assert benchmark.stats.stats.median < BUDGET_SECONDS


def test_ksl_demo_end_to_end(benchmark: BenchmarkFixture) -> None:
    # The whole tour: a fresh cluster, the manifests applied, rules rendered, a packet traced.
    benchmark.pedantic(_ksl, args=("demo",), rounds=5, warmup_rounds=1)  # type: ignore[no-untyped-call]
    assert benchmark.stats is not None
    assert benchmark.stats.stats.median < DEMO_BUDGET_SECONDS
