"""``ksl cluster`` with ``kubeProxyMode: nftables``: kube-proxy's table in every node, for real.

The same user path as test_cli_cluster.py (its ``name`` fixture takes the lab down and
compares the host), with a kind config selecting nftables mode: ``status`` finds every node's
``ip kube-proxy`` table equal to a fresh render of the model, ``trace --kernel`` agrees with the
nftables tracer, and a scale is followed by a converged table again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernel.test_cli_cluster import MANIFEST, ksl, name

pytestmark = pytest.mark.kernel
__all__ = ["name"]  # the fixture, imported for pytest

KIND_NFTABLES = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  kubeProxyMode: nftables
nodes:
- role: control-plane
- role: worker
- role: worker
"""


def test_nftables_lab_converges_and_traces(name: str, tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text(MANIFEST)
    (tmp_path / "kind.yaml").write_text(KIND_NFTABLES)
    ksl("cluster", "up", "--name", name, "-f", str(tmp_path / "lab.yaml"),
        "--config", str(tmp_path / "kind.yaml"))  # fmt: skip
    env = {"KSL_CLUSTER": name}
    status = ksl("cluster", "status", "--name", name)
    assert status.returncode == 0, status.stdout
    trace = ksl("trace", "--kernel", "--src", "pod/default/client", "--dst", "svc/default/web",
                env=env)  # fmt: skip
    assert "kernel and simulator agree" in trace.stdout
    assert "ip kube-proxy" in trace.stdout  # the nftables path, not iptables chains
    ksl("cluster", "scale", "deployment/web", "--replicas", "5", "--name", name)
    assert ksl("cluster", "status", "--name", name).returncode == 0
