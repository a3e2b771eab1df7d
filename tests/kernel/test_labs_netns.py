"""Every shipped lab passes on the kernel lab: ``ksl lab run ID --driver netns``.

Each lab gets its own prefix (``ksl-t-l`` would leave no room, so ``kl`` + the lab id + three
characters of the process id: at most 7 characters, no role word). The driver builds the lab's
namespaces, loads every node's rules with ``iptables-restore`` and sends real connections and
DNS questions; every answer is also compared with the tracer's. Afterwards nothing with the
prefix is left, and the host's links, routes and namespaces are as they were.

No lab skips a check on this driver today. A check that cannot run on the kernel lab must call
``ctx.skip(reason)`` and be listed in ``EXPECTED_SKIPS`` with that reason, so a skip is never
silent.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from k8s_service_lab.labs import find_lab, find_labs, run_lab
from k8s_service_lab.netns.kernel import destroy_all, lab_namespaces

pytestmark = pytest.mark.kernel

#: (lab id, check) -> why the kernel lab cannot answer it yet. Empty: every check runs.
EXPECTED_SKIPS: dict[tuple[str, str], str] = {}


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(digits[(n // 36**i) % 36] for i in (2, 1, 0))


def host_view() -> dict[str, str]:
    def sh(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    netns = [n for n in sh("ip", "netns", "list").splitlines() if n.startswith("kl")]
    return {
        "ip link": sh("ip", "-o", "link", "show"),
        "ip route": sh("ip", "route", "show", "table", "all"),
        "lab namespaces": "\n".join(netns),
    }


@pytest.mark.parametrize("lab_id", [lab.id for lab in find_labs()])
def test_the_reference_solution_passes_on_the_kernel_lab(lab_id: str) -> None:
    prefix = f"kl{lab_id}{base36(os.getpid())}"
    assert lab_namespaces(prefix) == (), f"leftover lab: run destroy_all({prefix!r})"
    before = host_view()
    try:
        run = run_lab(find_lab(lab_id), "netns", prefix=prefix)
    finally:
        leftover = lab_namespaces(prefix)
        destroy_all(prefix)
    assert leftover == ()
    assert host_view() == before
    skipped = {(lab_id, r.name): r.reason for r in run.results if r.status == "SKIP"}
    expected = {k: v for k, v in EXPECTED_SKIPS.items() if k[0] == lab_id}
    assert set(skipped) == set(expected), f"unexpected skips: {skipped}"
    for key, why in expected.items():
        assert why in skipped[key]
    failed = [r.line() for r in run.results if r.status == "FAIL"]
    assert not failed, "\n".join(failed)
    assert run.counts()["PASS"] == len(run.results) - len(expected)


def test_lab_check_reads_a_running_ksl_cluster_lab() -> None:
    """``ksl lab check 02 --driver netns`` grades the lab ``ksl cluster up`` built, and leaves it up."""
    from tests.unit.test_cli import ksl

    name = f"kc{base36(os.getpid())}"
    manifests = find_lab("02").path / "manifests"
    files = [str(manifests / f) for f in ("web.yaml", "client.yaml", "web-typo.yaml")]
    up = ksl("cluster", "up", "--name", name, *[a for f in files for a in ("-f", f)])
    try:
        assert up.returncode == 0, up.stderr
        broken = ksl("lab", "check", "02", "--driver", "netns", "--name", name)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "FAIL  fixed_service_answers: web-typo's endpoints are [], not" in broken.stdout
        assert lab_namespaces(name), "checking must not take the lab down"
        fixed = str(manifests / "web-typo-fixed.yaml")
        assert ksl("cluster", "apply", "--name", name, "-f", fixed).returncode == 0
        good = ksl("lab", "check", "02", "--driver", "netns", "--name", name)
        assert good.returncode == 0, good.stdout + good.stderr
        assert "(observed)" in good.stdout
    finally:
        ksl("cluster", "down", "--name", name)
        destroy_all(name)
    assert lab_namespaces(name) == ()
