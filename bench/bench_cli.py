"""Start-up budget: ``ksl --help`` answers in < 0.3 s (DESIGN §9).

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
ROOT = Path(__file__).resolve().parents[1]


def _help() -> None:
    subprocess.run(
        [sys.executable, "-m", "k8s_service_lab", "--help"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_ksl_help_start_up(benchmark: BenchmarkFixture) -> None:
    benchmark.pedantic(_help, rounds=10, warmup_rounds=1)  # type: ignore[no-untyped-call]
    assert benchmark.stats is not None
    assert benchmark.stats.stats.median < BUDGET_SECONDS
