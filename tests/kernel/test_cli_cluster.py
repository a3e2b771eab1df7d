"""``ksl cluster`` end to end, as a user runs it: one command per process, the lab in between.

Every test brings its own lab up under a name of its own (``ksl-t-c`` plus three random
characters, so concurrent runs never collide), runs the real ``ksl`` in fresh interpreters —
``up``, ``status``, ``exec``, ``scale``, ``delete``, ``not-ready``, ``down`` — and always takes
the lab down in a ``finally``. The host is compared before and after: links, routes, named
namespaces, ``iptables-save``, ``nft list ruleset``, ``/etc/netns`` and ``/run/ksl``, also
after the ``up`` process was killed with SIGKILL half-way and ``down --all`` cleaned up.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from k8s_service_lab.netns.enter import NETNS_RUN_DIR
from k8s_service_lab.netns.names import owns
from k8s_service_lab.netns.reconcile import is_supervisor
from k8s_service_lab.netns.resolvconf import ETC_NETNS
from k8s_service_lab.netns.state import STATE_ROOT, load_state

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
#: How any lab names its namespaces: ``<prefix>-<role>-<subject>`` (``netns/names.py``).
LAB_NAME = re.compile(r"-(net|node|pod|ext)-")
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"
MANIFEST = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - {{name: web, image: "{AGNHOST}", ports: [{{containerPort: 8080}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec: {{selector: {{app: web}}, ports: [{{name: http, port: 80, targetPort: 8080}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  nodeName: kind-control-plane
  containers: [{{name: c, image: "{AGNHOST}"}}]
"""
#: Fetch a URL COUNT times, each a new connection, and print one answer a line.
FETCH = (
    "import sys, urllib.request\n"
    "for _ in range(int(sys.argv[2])):\n"
    "    print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())\n"
)


def ksl(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "k8s_service_lab", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ksl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def host_view(name: str) -> dict[str, object]:
    """The host as far as a lab could touch it; other labs' own objects are left out."""

    def sh(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def mine_or_foreign(entries: list[str]) -> list[str]:
        # Other labs (other tests, other people) come and go meanwhile: a name with a role
        # word is some lab's and is left out, unless it is ours, which must be gone.
        return sorted(e for e in entries if not LAB_NAME.search(e) or e.startswith(name))

    def listing(path: Path) -> list[str] | None:
        return mine_or_foreign(os.listdir(path)) if path.is_dir() else None

    return {
        "ip link": sh("ip", "-o", "link", "show"),
        "ip route": sh("ip", "route", "show", "table", "all"),
        "ip -6 route": sh("ip", "-6", "route", "show", "table", "all"),
        "ip netns": mine_or_foreign(
            [line.split()[0] for line in sh("ip", "netns", "list").splitlines()]
        ),
        "iptables-save": "\n".join(
            line for line in sh("iptables-save").splitlines() if not line.startswith("#")
        ),
        "nft list ruleset": sh("nft", "list", "ruleset"),
        "/etc/netns": [e for e in listing(ETC_NETNS) or [] if e.startswith(name)],
        "/run/ksl": [e for e in listing(STATE_ROOT) or [] if e.startswith(name)],
    }


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's exit is reaped only if PID 1 cares to)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@pytest.fixture
def name() -> Iterator[str]:
    """A fresh lab name; the lab is taken down (and the host compared) whatever happens."""
    lab = f"ksl-t-c{secrets.token_hex(2)[:3]}"
    before = host_view(lab)
    try:
        yield lab
    finally:
        ksl("cluster", "down", "--name", lab, "--all", check=False)
        assert host_view(lab) == before
        assert not [n for n in os.listdir(NETNS_RUN_DIR) if owns(lab, n)]


def fetch(name: str, pod: str, url: str, count: int) -> list[str]:
    out = ksl(
        "cluster", "exec", "--name", name, pod, "--", sys.executable, "-c", FETCH, url, str(count)
    )
    return out.stdout.split()


def cluster_ip(name: str) -> str:
    return str(load_state(name).replay().get("services", "web").spec.cluster_ip)


def web_pods(name: str) -> set[str]:
    return {
        p.metadata.name
        for p in load_state(name).replay().list("pods")
        if p.metadata.name.startswith("web-")
    }


def up(name: str, tmp_path: Path) -> None:
    manifest = tmp_path / "lab.yaml"
    manifest.write_text(MANIFEST)
    start = time.perf_counter()
    out = ksl("cluster", "up", "-f", str(manifest), "--name", name)
    assert f'lab "{name}" is up: 3 nodes, 6 pods' in out.stdout, out.stdout
    assert time.perf_counter() - start < 10


def test_up_status_exec_dns_get_and_down(name: str, tmp_path: Path) -> None:
    up(name, tmp_path)
    status = ksl("cluster", "status", "--name", name).stdout
    assert "pod servers: running" in status
    assert status.count("in sync with the model") == 3
    pods = web_pods(name)
    assert len(pods) == 3
    assert all(pod in status for pod in pods)
    assert "10.244." in status
    assert re.search(r"\bweb +ClusterIP +10\.96\.", status), status

    # A pod reaches the Service's ClusterIP; a pod behind it answers.
    answers = fetch(name, "default/client", f"http://{cluster_ip(name)}/hostname", 30)
    assert len(answers) == 30
    assert set(answers) <= pods
    assert len(set(answers)) > 1, "30 new connections spread over the endpoints"
    # By name: the pod's resolv.conf (search default.svc.cluster.local) and the lab's CoreDNS.
    assert set(fetch(name, "default/client", "http://web/hostname", 5)) <= pods
    # The exit status is the command's; nodes and the external host can be entered too.
    assert (
        ksl(
            "cluster",
            "exec",
            "--name",
            name,
            "node/kind-worker",
            "--",
            "sh",
            "-c",
            "exit 3",
            check=False,
        ).returncode
        == 3
    )
    ext = ksl("cluster", "exec", "--name", name, "external", "--", "ip", "-o", "addr").stdout
    assert "172.18.0.100/16" in ext
    missing = ksl("cluster", "exec", "--name", name, "default/nope", "--", "true", check=False)
    assert missing.returncode == 1
    assert f'pod "nope" in namespace "default" is not in lab "{name}"' in missing.stderr

    # Without -f, `ksl get` and `ksl render` read the running lab.
    got = ksl("get", "pods", env={"KSL_CLUSTER": name}).stdout
    assert all(pod in got for pod in pods)
    rendered = ksl("render", "--node", "kind-worker", env={"KSL_CLUSTER": name}).stdout
    assert '"default/web:http cluster IP"' in rendered
    traced = ksl(
        "trace",
        "--src",
        "pod/default/client",
        "--dst",
        "svc/default/web",
        env={"KSL_CLUSTER": name},
    ).stdout
    assert "DNAT to 3 endpoints" in traced

    down = ksl("cluster", "down", "--name", name).stdout
    assert f'lab "{name}" is down' in down
    assert not (STATE_ROOT / name).exists()


def test_changes_reach_the_kernel(name: str, tmp_path: Path) -> None:
    up(name, tmp_path)
    url = f"http://{cluster_ip(name)}/hostname"
    before = web_pods(name)

    # Scale up: the new pods get namespaces and servers, and join the rotation.
    ksl("cluster", "scale", "deployment/web", "--replicas", "5", "--name", name)
    grown = web_pods(name)
    new = grown - before
    assert len(new) == 2
    seen = Counter(fetch(name, "default/client", url, 80))
    assert set(seen) == grown, seen
    assert "in sync with the model" in ksl("cluster", "status", "--name", name).stdout

    # Not ready: out of the rotation, though its server still runs.
    tired = sorted(new)[0]
    ksl("cluster", "not-ready", tired, "--name", name)
    assert tired not in fetch(name, "default/client", url, 40)

    # Deleted: gone from the rotation and from the kernel; its replacement takes over.
    victim = sorted(before)[0]
    out = ksl("cluster", "delete", "pod", victim, "--name", name)
    assert f'pod "{victim}" deleted' in out.stdout
    assert not Path(NETNS_RUN_DIR, f"{name}-pod-default.{victim}").exists()
    now = web_pods(name)
    assert victim not in now
    assert len(now) == 5
    seen = Counter(fetch(name, "default/client", url, 80))
    assert set(seen) == now - {tired}, seen

    # Back to ready, then down to one replica: the others' namespaces go.
    ksl("cluster", "ready", tired, "--name", name)
    ksl("cluster", "scale", "deployment/web", "--replicas", "1", "--name", name)
    (last,) = web_pods(name)
    assert set(fetch(name, "default/client", url, 10)) == {last}
    left = [n for n in os.listdir(NETNS_RUN_DIR) if n.startswith(f"{name}-pod-default.web-")]
    assert left == [f"{name}-pod-default.{last}"]
    status = ksl("cluster", "status", "--name", name).stdout
    assert status.count("in sync with the model") == 3, status


def test_sigkill_half_way_then_down_all_cleans_everything(name: str, tmp_path: Path) -> None:
    manifest = tmp_path / "lab.yaml"
    manifest.write_text(MANIFEST)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "k8s_service_lab",
            "cluster",
            "up",
            "-f",
            str(manifest),
            "--name",
            name,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Wait until the lab is half built: its pod servers run, kube-proxy has not synced.
        home = Path(NETNS_RUN_DIR, f"{name}-net-kind")
        deadline = time.monotonic() + 20
        servers: list[int] = []
        while time.monotonic() < deadline and not servers:
            pids = (int(e.name) for e in os.scandir("/proc") if e.name.isdigit())
            servers = [pid for pid in pids if is_supervisor(pid, home)]
        assert servers, "the lab never got as far as its servers"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert [n for n in os.listdir(NETNS_RUN_DIR) if owns(name, n)], "the kill left a lab behind"
    out = ksl("cluster", "down", "--name", name, "--all").stdout
    assert f'lab "{name}" is down' in out
    assert not [pid for pid in servers if alive(pid)]
    assert not (STATE_ROOT / name).exists()
    # The fixture compares the host with what it was before.
