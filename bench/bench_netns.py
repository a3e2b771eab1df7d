"""Kernel lab budgets (DESIGN §9): 3 nodes x 10 pods up in < 10 s, down in < 5 s, and
1,000 connections to a ClusterIP in < 5 s.

"Up" is :func:`~k8s_service_lab.netns.kernel.build` plus the pod servers answering (every
namespace, veth, address, route and sysctl, then one supervisor binding every pod's ports);
"down" is stopping the servers and :func:`~k8s_service_lab.netns.kernel.destroy`. The cluster
is the embedded kind shape with a 30-replica Deployment scheduled over the two workers, plus
CoreDNS on the control plane. Run as root with::

    pytest bench/bench_netns.py --benchmark-only -p no:cacheprovider -s

The lab's prefix is ``ksl-t-b`` plus three characters of the process id, clear of every other
kernel test's scratch namespaces.
"""

from __future__ import annotations

import os
import time

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from k8s_service_lab import Cluster
from k8s_service_lab.netns import LabPlan, plan_lab
from k8s_service_lab.netns.kernel import build, destroy, destroy_all, lab_namespaces
from k8s_service_lab.netns.podserver import PodServers
from k8s_service_lab.netns.traffic import Request, probe

pytestmark = pytest.mark.kernel

UP_BUDGET = 10.0
DOWN_BUDGET = 5.0
ROUNDS = 3
PREFIX = f"ksl-t-b{os.getpid() % 4096:03x}"
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 30
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      tolerations: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]
      containers:
      - name: web
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        ports: [{containerPort: 8080}, {containerPort: 8081, protocol: UDP}]
"""


def thirty_pod_plan() -> LabPlan:
    cluster = Cluster()
    cluster.apply(DEPLOYMENT)
    return plan_lab(cluster, prefix=PREFIX)


def up_and_down(plan: LabPlan) -> tuple[float, float]:
    start = time.perf_counter()
    build(plan)
    servers = None
    try:
        servers = PodServers.start(plan)
        up = time.perf_counter() - start
    finally:
        start = time.perf_counter()
        if servers is not None:
            servers.stop()
        destroy(plan)
        down = time.perf_counter() - start
    return up, down


def test_netns_lab_up_and_down(benchmark: BenchmarkFixture) -> None:
    if os.geteuid() != 0:
        pytest.skip("the kernel lab needs root")
    assert lab_namespaces(PREFIX) == ()
    plan = thirty_pod_plan()
    web = [p for p in plan.pods if p.pod.startswith("default/web-")]
    assert len(web) == 30
    try:
        rounds = [up_and_down(plan) for _ in range(ROUNDS)]
        benchmark.pedantic(  # type: ignore[no-untyped-call]
            up_and_down, args=(plan,), rounds=1, iterations=1
        )
    finally:
        destroy_all(PREFIX)
    up = max(r[0] for r in rounds)
    down = max(r[1] for r in rounds)
    per_node = {n: sum(p.node == n for p in web) for n in sorted({p.node for p in web})}
    figures = {
        "namespaces": len(plan.namespaces),
        "veths": len(plan.veths),
        "pods": len(plan.pods),
        "web_pods_per_node": per_node,
        "up_s_worst_of_3": round(up, 3),
        "down_s_worst_of_3": round(down, 3),
    }
    benchmark.extra_info.update(figures)
    print()
    print(f"{len(plan.namespaces)} namespaces, {len(plan.veths)} veths, web pods {per_node}")
    print(f"{'up (build + pod servers), worst of 3':<42} {up:>8.3f} s  < {UP_BUDGET} s")
    print(f"{'down (stop + destroy), worst of 3':<42} {down:>8.3f} s  < {DOWN_BUDGET} s")
    assert up < UP_BUDGET
    assert down < DOWN_BUDGET
    assert lab_namespaces(PREFIX) == ()


THOUSAND_BUDGET = 5.0
CONNECTIONS = 1000


def test_netns_thousand_connections_to_a_clusterip(benchmark: BenchmarkFixture) -> None:
    """1,000 new TCP connections (``/hostname`` + ``/clientip`` each) from a pod on the
    control plane to a 3-endpoint ClusterIP, through kube-proxy's rules in the kernel, < 5 s.

    The clock covers what a lab check pays: starting the traffic helper inside the pod's
    namespace, the connections (200 at a time) and reading the answers back.
    """
    if os.geteuid() != 0:
        pytest.skip("the kernel lab needs root")
    from tests.kernel.test_netns_proxy import proxy_cluster, proxy_lab

    prefix = f"ksl-t-q{os.getpid() % 4096:03x}"
    with proxy_lab(proxy_cluster(), prefix) as up:
        client = up.pod("default/client")
        ip = up.cluster_ip("web")

        def thousand() -> float:
            start = time.perf_counter()
            answers = probe(client.namespace, [Request(ip, 80, count=CONNECTIONS)])
            elapsed = time.perf_counter() - start
            assert sum(a.ok for a in answers) == CONNECTIONS
            assert {a.hostname for a in answers} == {p.hostname for p in up.web()}
            return elapsed

        rounds = [thousand() for _ in range(ROUNDS)]
        benchmark.pedantic(thousand, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    worst = max(rounds)
    benchmark.extra_info.update({"connections": CONNECTIONS, "s_worst_of_3": round(worst, 3)})
    print()
    label = f"{CONNECTIONS} connections to a ClusterIP, worst of {ROUNDS}"
    print(f"{label:<42} {worst:>8.3f} s  < {THOUSAND_BUDGET} s")
    print(f"{'per connection':<42} {worst / CONNECTIONS * 1000:>8.3f} ms")
    assert worst < THOUSAND_BUDGET
