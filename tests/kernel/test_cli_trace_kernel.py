"""``ksl trace --kernel`` and ``--capture`` on a running lab, as a user runs them.

The lab comes up with ``ksl cluster up`` under a test-only name (the ``name`` fixture of
test_cli_cluster.py takes it down and compares the host); ``KSL_CLUSTER`` points ``ksl trace``
at it. The kernel's rule path must be one of the simulator's branches, and the capture must
show the ClusterIP rewritten to a pod on the way in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.kernel.test_cli_cluster import MANIFEST, ksl, name

pytestmark = pytest.mark.kernel
__all__ = ["name"]  # the fixture, imported for pytest


def _up(lab: str, tmp_path: Path) -> dict[str, str]:
    manifest = tmp_path / "lab.yaml"
    manifest.write_text(MANIFEST)
    ksl("cluster", "up", "--name", lab, "-f", str(manifest))
    return {"KSL_CLUSTER": lab}


def test_kernel_trace_agrees_with_the_simulator(name: str, tmp_path: Path) -> None:
    env = _up(name, tmp_path)
    args = ("trace", "--kernel", "--src", "pod/default/client", "--dst", "svc/default/web")
    text = ksl(*args, env=env)
    assert "kernel and simulator agree" in text.stdout
    doc = json.loads(ksl(*args, "-o", "json", env=env).stdout)
    assert doc["agrees"] is True
    assert doc["differences"] == []
    simulated = {(e["ip"], e["port"]) for e in doc["simulated"]["endpoints"]}
    [kernel_endpoint] = doc["kernel"]["endpoints"]
    assert (kernel_endpoint["ip"], kernel_endpoint["port"]) in simulated
    assert kernel_endpoint["probability"] == "1"  # the kernel took one way


def test_capture_shows_the_service_address_rewritten(name: str, tmp_path: Path) -> None:
    env = _up(name, tmp_path)
    pcap = tmp_path / "trace.pcapng"
    out = ksl(
        "trace", "--capture", "--pcap", str(pcap),
        "--src", "pod/default/client", "--dst", "svc/default/web", env=env,
    ).stdout  # fmt: skip
    assert "kernel and simulator agree" in out
    assert f"packets saved to {pcap}" in out
    assert pcap.stat().st_size > 0


def test_kernel_without_a_lab_says_how_to_start_one(tmp_path: Path) -> None:
    proc = ksl(
        "trace", "--kernel", "--src", "10.244.1.5", "--dst", "10.96.0.10", "--dport", "53",
        check=False, env={"KSL_CLUSTER": "ksl-t-none"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert 'needs the kernel lab "ksl-t-none" up' in proc.stderr
