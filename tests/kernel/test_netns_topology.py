"""The kernel lab's topology with real packets, and a host left exactly as it was found.

Every lab here uses a prefix of its own, ``ksl-t-t`` and three characters from the process id,
so two runs of this file at once do not meet (other kernel tests use ``ksl-t-<pid>`` and
``ksl-t-ipt`` scratch namespaces at the same time; ``destroy_all`` never matches those). Clients
run in a fresh interpreter inside the source namespace (``ip netns exec``), so the packets they
send are the kernel's, from the namespace's own addresses and routes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.netns import LabPlan, LabPlanError, PodPlan, Role, plan_lab
from k8s_service_lab.netns.enter import entered, namespace_path
from k8s_service_lab.netns.kernel import (
    build,
    destroy,
    destroy_all,
    lab,
    lab_namespaces,
)

pytestmark = pytest.mark.kernel


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(digits[(n // 36**i) % 36] for i in (2, 1, 0))


PREFIX = os.environ.get("KSL_TEST_LAB_PREFIX") or f"ksl-t-t{_base36(os.getpid())}"
ROOT = Path(__file__).resolve().parents[2]
WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        ports: [{containerPort: 8080}, {containerPort: 8081, protocol: UDP}]
"""


def web_plan() -> LabPlan:
    cluster = Cluster()
    cluster.apply(WEB)
    return plan_lab(cluster, prefix=PREFIX)


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout


def host_snapshot(plan: LabPlan) -> dict[str, str]:
    """The host namespace as the lab must leave it: links, routes, namespaces, rules, sysctls.

    Namespaces of other concurrent kernel tests (``ksl-t-…`` but not ours) come and go on their
    own and are left out of the comparison; ours are kept in.
    """
    netns = [
        line
        for line in sh("ip", "netns", "list").splitlines()
        if not line.startswith("ksl-t-") or line.startswith(f"{PREFIX}-")
    ]
    keys = sorted({s.path for ns in plan.namespaces for s in ns.sysctls})
    return {
        "ip link": sh("ip", "-o", "link", "show"),
        "ip route": sh("ip", "route", "show", "table", "all"),
        "ip -6 route": sh("ip", "-6", "route", "show", "table", "all"),
        "ip netns list": "\n".join(netns),
        "iptables-save": "".join(
            line for line in sh("iptables-save").splitlines(True) if not line.startswith("#")
        ),
        "nft list ruleset": sh("nft", "list", "ruleset"),
        "sysctls": "\n".join(f"{k}={Path(k).read_text().strip()}" for k in keys),
    }


def run_in(namespace: str, code: str, timeout: float = 20) -> str:
    """Run Python ``code`` in a fresh interpreter inside ``namespace``; its stdout."""
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def http_get(namespace: str, ip: object, path: str, port: int = 8080) -> str:
    return run_in(
        namespace,
        "import urllib.request; print(urllib.request.urlopen("
        f"'http://{ip}:{port}{path}', timeout=5).read().decode())",
    )


def udp_ask(namespace: str, ip: object, text: str, port: int = 8081) -> str:
    return run_in(
        namespace,
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); "
        f"s.sendto({text!r}.encode(), ('{ip}', {port})); print(s.recv(2048).decode())",
    )


@pytest.fixture
def clean_host() -> Iterator[None]:
    """Refuse to start over a leftover lab, and prove none is left after the test."""
    assert lab_namespaces(PREFIX) == (), f"leftover lab: run destroy_all({PREFIX!r})"
    yield
    leftover = lab_namespaces(PREFIX)
    destroy_all(PREFIX)
    assert leftover == ()


def pods_by_node(plan: LabPlan) -> dict[str, list[PodPlan]]:
    out: dict[str, list[PodPlan]] = {}
    for pod in plan.pods:
        if pod.pod.startswith("default/web-"):
            out.setdefault(pod.node, []).append(pod)
    return out


@pytest.mark.usefixtures("clean_host")
def test_real_packets_flow_the_kindnet_way() -> None:
    plan = web_plan()
    before = host_snapshot(plan)
    by_node = pods_by_node(plan)
    pair = by_node["kind-worker"]
    assert len(pair) == 2, "the scheduler spreads 3 replicas as 2 + 1 over the workers"
    a, b = pair
    (c,) = by_node["kind-worker2"]
    worker = plan.of(Role.NODE, "kind-worker")
    with lab(plan) as running:
        assert running.servers is not None
        assert running.servers.sockets == sum(len(p.ports) for p in plan.pods) == 12
        # pod -> pod on the same node, and across nodes: the server sees the true source.
        assert http_get(a.namespace, b.ips[0], "/clientip").startswith(f"{a.ips[0]}:")
        assert http_get(a.namespace, c.ips[0], "/clientip").startswith(f"{a.ips[0]}:")
        assert http_get(c.namespace, a.ips[0], "/hostname") == a.hostname
        assert http_get(c.namespace, b.ips[0], "/echo?msg=kindnet") == "kindnet"
        assert udp_ask(c.namespace, a.ips[0], "clientip").startswith(f"{c.ips[0]}:")
        assert udp_ask(a.namespace, c.ips[0], "hostname") == c.hostname
        # node -> pod: a local pod sees the veth's gateway address, a remote one the node IP.
        assert http_get(worker.name, a.ips[0], "/clientip").startswith("10.244.1.1:")
        assert http_get(worker.name, c.ips[0], "/clientip").startswith("172.18.0.3:")
        # external -> node IP: a listener opened inside the node namespace sees 172.18.0.100.
        with entered(namespace_path(worker.name)):
            listener = socket.create_server(("172.18.0.3", 30080))
        with listener:
            client = subprocess.Popen(
                [
                    "ip", "netns", "exec", plan.external.name, sys.executable, "-c",
                    "import socket; socket.create_connection(('172.18.0.3', 30080), 5).close()",
                ]
            )  # fmt: skip
            listener.settimeout(10)
            conn, peer = listener.accept()
            conn.close()
            assert client.wait(10) == 0
        assert peer[0] == "172.18.0.100"
        # The lab stays in the lab: external cannot reach a pod (the gateway forwards nowhere).
        with pytest.raises(AssertionError, match=r"timed out|unreachable"):
            run_in(
                plan.external.name,
                f"import socket; socket.create_connection(('{a.ips[0]}', 8080), 1)",
            )
        # Sysctls were written in the node namespace, and only there.
        values = run_in(
            worker.name,
            "print(*(open(p).read().strip() for p in ("
            "'/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv4/conf/all/route_localnet',"
            "'/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established')))",
        )
        assert values == "1 1 86400"
        assert host_snapshot(plan)["sysctls"] == before["sysctls"]
        pid = running.servers.pid
    assert host_snapshot(plan) == before
    assert not alive(pid)


@pytest.mark.usefixtures("clean_host")
def test_an_exception_inside_the_lab_leaves_nothing_behind() -> None:
    plan = web_plan()
    before = host_snapshot(plan)
    pids: list[int] = []

    def fail_inside() -> None:
        with lab(plan) as running:
            assert running.servers is not None
            pids.append(running.servers.pid)
            assert set(lab_namespaces(PREFIX)) == {ns.name for ns in plan.namespaces}
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert host_snapshot(plan) == before
    assert not alive(pids[0])
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for a reaper that is not ours does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def hold_a_lab() -> subprocess.Popen[str]:
    """A separate process holding a lab until signalled; returns once the lab is up."""
    code = textwrap.dedent(
        """
        import time
        from tests.kernel.test_netns_topology import web_plan
        from k8s_service_lab.netns.kernel import lab
        with lab(web_plan()) as running:
            print("up", running.servers.pid, flush=True)
            time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "KSL_TEST_LAB_PREFIX": PREFIX},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("up "), proc.stderr.read() if proc.stderr else line
    proc.server_pid = int(line.split()[1])  # type: ignore[attr-defined]
    return proc


@pytest.mark.usefixtures("clean_host")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_lab_process_tears_the_lab_down(sig: signal.Signals) -> None:
    plan = web_plan()
    before = host_snapshot(plan)
    proc = hold_a_lab()
    try:
        assert len(lab_namespaces(PREFIX)) == len(plan.namespaces)
        proc.send_signal(sig)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    # SystemExit(143) for SIGTERM; after KeyboardInterrupt Python dies by SIGINT itself.
    assert proc.returncode == (143 if sig == signal.SIGTERM else -signal.SIGINT)
    assert host_snapshot(plan) == before
    assert not alive(proc.server_pid)  # type: ignore[attr-defined]


@pytest.mark.usefixtures("clean_host")
def test_after_sigkill_destroy_all_removes_everything() -> None:
    plan = web_plan()
    before = host_snapshot(plan)
    proc = hold_a_lab()
    proc.kill()
    proc.communicate(timeout=10)
    assert len(lab_namespaces(PREFIX)) == len(plan.namespaces), "SIGKILL skips every cleanup"
    teardown = destroy_all(PREFIX)
    assert set(teardown.namespaces) == {ns.name for ns in plan.namespaces}
    assert host_snapshot(plan) == before
    assert not alive(proc.server_pid)  # type: ignore[attr-defined]


@pytest.mark.usefixtures("clean_host")
def test_build_refuses_over_an_existing_namespace_and_destroy_all_spares_others() -> None:
    plan = web_plan()
    squatter = plan.network.name
    bystander = f"{PREFIX}x-node-kind-worker"  # lab "<prefix>x", not ours
    subprocess.run(["ip", "netns", "add", squatter], check=True)
    subprocess.run(["ip", "netns", "add", bystander], check=True)
    try:
        with pytest.raises(LabPlanError, match="already exists"):
            build(plan)
        assert lab_namespaces(PREFIX) == (squatter,)  # nothing else made, the squatter kept
        assert destroy_all(PREFIX).namespaces == (squatter,)
        assert namespace_path(bystander).exists()
        build(plan)
        assert destroy(plan).namespaces == tuple(ns.name for ns in plan.namespaces)
    finally:
        subprocess.run(["ip", "netns", "delete", bystander], check=False)
        destroy_all(PREFIX)
