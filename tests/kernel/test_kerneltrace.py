"""``trace --kernel`` and ``--capture`` against the real kernel (issue 6, increment 4).

One lab for the module (prefix ``ksl-t-k`` plus three characters of the process id): the
cluster of ``tests/unit/data/kerneltrace/cluster.yaml`` with kube-proxy's rules installed by
:class:`LabProxy`. For a ClusterIP from a pod on another node, a NodePort (eTP=Cluster) from
the external host and a Service without endpoints, the kernel's trace must be one of the
simulator's branches, its endpoint in the simulator's set and its masquerade decision the
simulator's; the capture must show DNAT on the way in and the reverse on the way back. After
every trace the temporary table is gone and no process lives in the node namespace; the
host is compared before and after.

``KSL_RECORD_KERNELTRACE=DIR`` writes each trace's tool output to DIR (gzipped), which is how
``tests/unit/data/kerneltrace/`` was recorded.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.netns import LabPlan, plan_lab
from k8s_service_lab.netns.capture import capture
from k8s_service_lab.netns.kernel import RunningLab, destroy_all, lab, lab_namespaces
from k8s_service_lab.netns.kerneltrace import KernelTrace, kernel_trace, trace_table_name
from k8s_service_lab.netns.proxy import LabProxy
from k8s_service_lab.netns.tracecompare import compare
from k8s_service_lab.tracer import TraceResult
from tests.kernel.test_netns_proxy import base36, host_view

pytestmark = pytest.mark.kernel

PREFIX = f"ksl-t-k{base36(os.getpid())}"
DATA = Path(__file__).parents[1] / "unit" / "data" / "kerneltrace"
EXTERNAL = "172.18.0.100"
WORKER = ("kind-worker", "172.18.0.3")


@dataclass(frozen=True)
class TraceLab:
    cluster: Cluster
    plan: LabPlan
    running: RunningLab
    proxy: LabProxy

    def pod_ip(self, key: str) -> str:
        return str(next(p for p in self.plan.pods if p.pod == key).ips[0])

    def node_of(self, ip: str) -> str:
        return next(p.node for p in self.plan.pods if str(p.ips[0]) == ip)

    def spec(self, service: str) -> object:
        return self.cluster.get("services", service).spec


@pytest.fixture(scope="module")
def up() -> Iterator[TraceLab]:
    assert lab_namespaces(PREFIX) == (), f"leftover lab: run destroy_all({PREFIX!r})"
    cluster = Cluster()
    cluster.apply((DATA / "cluster.yaml").read_text())
    plan = plan_lab(cluster, prefix=PREFIX)
    before = host_view()
    try:
        with lab(plan) as running:
            proxy = LabProxy(cluster, plan)
            proxy.install()
            yield TraceLab(cluster, plan, running, proxy)
    finally:
        leftover = lab_namespaces(PREFIX)
        destroy_all(PREFIX)
        assert leftover == ()
        assert host_view() == before


def processes_in(namespace: str) -> list[int]:
    inode = os.stat(f"/run/netns/{namespace}").st_ino
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(f"/proc/{entry.name}/ns/net").st_ino == inode:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def assert_clean(trace: KernelTrace) -> None:
    """The temporary table is gone and nothing (the monitor) lives in the node namespace."""
    tables = subprocess.run(
        ["ip", "netns", "exec", trace.namespace, "nft", "list", "tables"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert trace_table_name(PREFIX) not in tables
    assert "table ip nat" in tables  # kube-proxy's own tables are untouched
    assert processes_in(trace.namespace) == []


def record(name: str, trace: KernelTrace) -> None:
    where = os.environ.get("KSL_RECORD_KERNELTRACE")
    if not where:
        return
    out = Path(where)
    out.mkdir(parents=True, exist_ok=True)
    r = trace.record
    for suffix, text in (
        ("monitor.txt", r.monitor),
        ("nft.json", r.nft_json),
        ("save.txt", r.save),
        ("conntrack.txt", r.conntrack),
    ):
        (out / f"{name}.{suffix}.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    p = trace.packet
    meta = {"src": p.src, "dst": p.dst, "proto": p.proto, "sport": p.sport, "dport": p.dport}
    meta |= {"node": trace.node, "marker": trace_table_name(PREFIX)}
    (out / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")


def simulated(up: TraceLab, trace: KernelTrace) -> TraceResult:
    p = trace.packet
    return up.cluster.trace(p.src, p.dst, p.dport, p.proto, sport=p.sport, node=trace.node)


def test_clusterip_from_a_pod_on_another_node(up: TraceLab) -> None:
    client = up.pod_ip("default/client")
    vip = str(up.cluster.get("services", "web").spec.cluster_ip)
    trace = kernel_trace(up.running, up.proxy, client, vip, 80, "tcp")
    record("clusterip", trace)
    sim = simulated(up, trace)
    result = compare(sim, trace)
    assert result.agrees, result.render()
    assert trace.node == "kind-control-plane"
    assert trace.direction == "arriving"
    assert trace.outcome is None
    assert trace.verdict == "DNAT"
    assert trace.endpoint is not None
    assert up.node_of(trace.endpoint[0]) != trace.node  # the endpoint is on another node
    assert not trace.masquerade
    hostname = next(p.hostname for p in up.plan.pods if str(p.ips[0]) == trace.endpoint[0])
    assert trace.answered_by == hostname
    assert [h.chain for h in trace.branch.hops][:2] == ["PREROUTING", "KUBE-SERVICES"]
    assert_clean(trace)


def test_nodeport_from_external_is_masqueraded(up: TraceLab) -> None:
    node, node_ip = WORKER
    port = int(up.cluster.get("services", "web-np").spec.ports[0].node_port)
    trace = kernel_trace(up.running, up.proxy, EXTERNAL, node_ip, port, "tcp")
    record("nodeport", trace)
    result = compare(simulated(up, trace), trace)
    assert result.agrees, result.render()
    assert trace.node == node
    assert trace.verdict == "DNAT"
    assert trace.masquerade
    assert trace.endpoint is not None
    local = up.node_of(trace.endpoint[0]) == node
    gateway = str(up.cluster.config.node(node).pod_cidrs[0].network_address + 1)
    assert trace.branch.packet.src == (gateway if local else node_ip)
    assert "KUBE-NODEPORTS" in [h.chain for h in trace.branch.hops]
    assert_clean(trace)


def test_service_without_endpoints_rejects(up: TraceLab) -> None:
    client = up.pod_ip("default/client")
    vip = str(up.cluster.get("services", "empty").spec.cluster_ip)
    trace = kernel_trace(up.running, up.proxy, client, vip, 80, "tcp")
    record("reject", trace)
    result = compare(simulated(up, trace), trace)
    assert result.agrees, result.render()
    assert trace.verdict == "REJECT"
    assert trace.outcome == "refused"
    assert trace.endpoint is None
    assert trace.record.conntrack.strip() == ""
    last = trace.branch.hops[-1]
    assert (last.table, last.chain, last.comment) == (
        "filter",
        "KUBE-SERVICES",
        "default/empty:http has no endpoints",
    )
    assert_clean(trace)


def test_node_sent_udp_to_clusterip(up: TraceLab) -> None:
    _node, node_ip = WORKER
    vip = str(up.cluster.get("services", "web").spec.cluster_ip)
    trace = kernel_trace(up.running, up.proxy, node_ip, vip, 81, "udp")
    record("node-udp", trace)
    result = compare(simulated(up, trace), trace)
    assert result.agrees, result.render()
    assert trace.direction == "sent"
    assert trace.branch.hops[0].chain == "OUTPUT"
    assert trace.outcome is None
    assert trace.masquerade
    assert_clean(trace)


def test_capture_shows_dnat_in_and_the_reverse_back(up: TraceLab, tmp_path: Path) -> None:
    client = up.pod_ip("default/client")
    vip = str(up.cluster.get("services", "web").spec.cluster_ip)
    sim = up.cluster.trace(client, vip, 80, "tcp", node="kind-control-plane")
    pcap = tmp_path / "clusterip.pcapng"
    trace, seen = capture(
        up.running,
        up.proxy,
        client,
        vip,
        80,
        "tcp",
        endpoints=[(ip, port) for ip, port, _ in sim.endpoints],
        pcap=pcap,
    )
    assert trace.endpoint is not None
    ep_ip, ep_port = trace.endpoint
    client_ns = next(p.namespace for p in up.plan.pods if p.pod == "default/client")
    server_ns = next(p.namespace for p in up.plan.pods if str(p.ips[0]) == ep_ip)
    first = next(s for s in seen.sightings if s.namespace == client_ns and s.direction == "out")
    assert (first.dst, first.dport, first.stage) == (vip, 80, "→ as sent")
    at_pod = next(s for s in seen.sightings if s.namespace == server_ns and s.direction == "in")
    assert (at_pod.src, at_pod.dst, at_pod.dport) == (client, ep_ip, ep_port)
    assert at_pod.stage == "→ after DNAT"
    reply = next(s for s in seen.sightings if s.namespace == server_ns and s.direction == "out")
    assert (reply.src, reply.sport, reply.stage) == (ep_ip, ep_port, "← reply from the endpoint")
    back = [s for s in seen.sightings if s.namespace == client_ns and s.direction == "in"]
    assert back
    assert all((s.src, s.sport) == (vip, 80) for s in back)
    assert back[0].stage == "← after un-DNAT"
    # The pcapng holds every sighting, each on its namespace:interface.
    from scapy.utils import rdpcap

    packets = rdpcap(str(pcap))
    assert len(packets) == len(seen.sightings)
    assert {p.sniffed_on for p in packets} >= {f"{client_ns}:eth0", f"{server_ns}:eth0"}
    assert processes_in(trace.namespace) == []
    assert processes_in(client_ns) == []


def test_capture_of_a_reject_shows_the_icmp_error(up: TraceLab) -> None:
    client = up.pod_ip("default/client")
    vip = str(up.cluster.get("services", "empty").spec.cluster_ip)
    trace, seen = capture(up.running, up.proxy, client, vip, 80, "tcp")
    assert trace.verdict == "REJECT"
    stages = seen.stages()
    assert stages[0] == "→ as sent"
    assert "← ICMP destination unreachable (a REJECT)" in stages
    assert not any(s.stage.startswith("→ after DNAT") for s in seen.sightings)
