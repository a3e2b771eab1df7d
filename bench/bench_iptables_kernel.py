"""Our iptables render against the kernel's own restore, side by side in one run (DESIGN §9).

At 5,000 Services x 10 endpoints: our ``render`` + ``to_restore`` time, and the time
``iptables-legacy-restore --noflush`` takes to load that same text into a fresh scratch
namespace (nfacct counters created first; only the restore process is timed). Ours must be
under half the kernel's. Alongside: the 10,000 x 10 full render (< 1.0 s) and a partial sync
after one endpoint moved (< 20 ms). Run as root with::

    pytest bench/bench_iptables_kernel.py --benchmark-only -p no:cacheprovider -s

The state builders are ``bench/bench_iptables.py``'s (upstream's fake proxier harness), so
the figures measure the backend alone.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.bench_iptables import cluster
from k8s_service_lab.netfilter import to_restore
from tests.golden.scenarios_iptables import fake_backend
from tests.kernel.iptables_clusters import loaded_namespace, missing_tools

pytestmark = pytest.mark.kernel

KERNEL_SERVICES = 5_000
LARGE_SERVICES = 10_000
RATIO_BUDGET = 0.5
RENDER_BUDGET = 1.0
PARTIAL_BUDGET = 0.020


def best_of(rounds: int, fn: Callable[[], object]) -> float:
    """The fastest of ``rounds`` runs, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def kernel_restore_seconds(text: str) -> float:
    """``iptables-legacy-restore --noflush`` of ``text`` into a fresh namespace, timed."""
    with loaded_namespace() as ns:
        start = time.perf_counter()
        proc = subprocess.run(
            ["ip", "netns", "exec", ns.name, "iptables-legacy-restore", "--noflush"],
            input=text,
            capture_output=True,
            text=True,
            timeout=300,
        )
        elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    return elapsed


def test_render_against_the_kernel(benchmark: BenchmarkFixture) -> None:
    missing = missing_tools("iptables-legacy-restore")
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages iptables, nfacct, iproute2)")

    # 5,000 x 10: ours (render + text) against the kernel loading the same text.
    state = cluster(KERNEL_SERVICES)
    backend = fake_backend()
    text = to_restore(backend.render(state))
    ours = best_of(3, lambda: to_restore(backend.render(state)))
    kernel = min(kernel_restore_seconds(text) for _ in range(2))

    # 10,000 x 10: the full render; then a partial sync after one endpoint moved.
    large = cluster(LARGE_SERVICES)
    large_backend = fake_backend()
    full = best_of(3, lambda: large_backend.render(large))
    large_backend.sync(large)
    moved = cluster(LARGE_SERVICES, moved=LARGE_SERVICES // 2)
    partial = best_of(5, lambda: large_backend.sync(moved))
    assert large_backend.last_stats is not None
    assert not large_backend.last_stats.full
    assert large_backend.last_stats.services_written == 1

    # pytest-benchmark's own row: the partial sync, the figure users feel on every change.
    benchmark.pedantic(  # type: ignore[no-untyped-call]
        large_backend.sync, args=(moved,), rounds=5, iterations=1
    )
    ratio = ours / kernel
    figures = {
        "services_x_endpoints_kernel": f"{KERNEL_SERVICES}x10",
        "restore_lines": text.count("\n"),
        "ours_render_to_restore_s": round(ours, 4),
        "kernel_legacy_restore_s": round(kernel, 4),
        "ratio": round(ratio, 3),
        "full_render_10k_s": round(full, 4),
        "partial_sync_10k_ms": round(partial * 1000, 2),
    }
    benchmark.extra_info.update(figures)
    rows = [
        ("5,000 x 10 render + to_restore (ours)", f"{ours:.3f} s", ""),
        ("5,000 x 10 iptables-legacy-restore (kernel)", f"{kernel:.3f} s", ""),
        ("ours / kernel", f"{ratio:.3f}", f"< {RATIO_BUDGET}"),
        ("10,000 x 10 full render", f"{full:.3f} s", f"< {RENDER_BUDGET} s"),
        ("10,000 x 10 partial sync, one endpoint moved", f"{partial * 1000:.2f} ms", "< 20 ms"),
    ]
    print()
    for label, value, budget in rows:
        print(f"{label:<46} {value:>10}  {budget}")
    assert ratio < RATIO_BUDGET
    assert full < RENDER_BUDGET
    assert partial < PARTIAL_BUDGET
