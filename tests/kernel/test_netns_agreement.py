"""The simulator against the kernel: one flow table, both sides, every flow must agree.

The lab of :mod:`tests.kernel.test_netns_proxy` (prefix ``ksl-t-a`` plus three characters of
the process id) with kube-proxy's rules installed. Each flow — from a pod, a node or the
external host, to a ClusterIP, a NodePort (eTP Cluster and Local), a LoadBalancer VIP, an
externalIP, an iTP=Local Service, a Service without endpoints, a ClientIP-affinity Service,
the pod's own Service (hairpin), over TCP and UDP — is traced by
:meth:`Cluster.trace <k8s_service_lab.cluster.Cluster.trace>` on the node that first sees the
packet, and sent for real several times. For every flow:

- the kernel's outcome is the simulator's verdict (answers: DNAT, refused: REJECT,
  timeout: DROP);
- every pod that answered (``/hostname``) is one of the simulator's endpoints;
- the address that pod saw (``/clientip``) is the source of the simulator's branch to that
  endpoint — the masquerade decision, and the address MASQUERADE picked.

Run with ``-s`` to see the table.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from k8s_service_lab.netns import Role
from k8s_service_lab.netns.traffic import Answer, Request, probe
from k8s_service_lab.tracer import TraceResult
from tests.kernel.test_netns_proxy import (
    EXTERNAL,
    NODE_IPS,
    VIP_VIA,
    ProxyLab,
    base36,
    proxy_cluster,
    proxy_lab,
)

pytestmark = pytest.mark.kernel

PREFIX = f"ksl-t-a{base36(os.getpid())}"
#: Connections per flow: enough to meet several endpoints of a Service.
PER_FLOW = 6
#: ... but a REJECT is an ICMP error from the node, and the kernel rate-limits those per
#: destination (``net.ipv4.icmp_ratelimit`` = 1 s with a burst of 6, ``XRLIM_BURST_FACTOR``):
#: a seventh refusal to one pod within a second is silently dropped and looks like a DROP.
#: So flows that meet a REJECT send two connections, keeping each source within the burst.
#: They also go first: a pod whose packet hairpins through its node (out of the veth it came
#: in by) makes the node send it an ICMP redirect, and the redirect resets the same
#: per-destination limiter, so REJECTs to that pod in the next second are dropped
#: (``nstat``: IcmpOutRedirects 1, then IcmpOutRateLimitHost counts them).
PER_REJECT_FLOW = 2
TIMEOUT = 1.5
OUTCOME = {"refused": "REJECT", "timeout": "DROP"}


@dataclass(frozen=True)
class Flow:
    """One row: who sends (a lab namespace), from which address, to what, traced where."""

    name: str
    namespace: str
    src: str
    node: str
    dst: str
    port: int
    proto: str = "tcp"
    count: int = PER_FLOW

    @property
    def wave(self) -> int:
        """Flows sent in wave 0 (those meeting a REJECT) go before the others."""
        return 0 if self.count == PER_REJECT_FLOW else 1


@dataclass(frozen=True)
class Row:
    flow: Flow
    model: TraceResult
    answers: tuple[Answer, ...]


@pytest.fixture(scope="module")
def up() -> Iterator[ProxyLab]:
    with proxy_lab(proxy_cluster(), PREFIX) as running:
        yield running


def flow_table(up: ProxyLab) -> list[Flow]:
    cip = up.cluster_ip
    lb_vip, ext_ip = list(VIP_VIA)
    service_frontends = [
        ("web", cip("web"), 80, "tcp"),
        ("web/udp", cip("web"), 81, "udp"),
        ("itp-local", cip("web-itp"), 80, "tcp"),
        ("affinity", cip("web-sticky"), 80, "tcp"),
        ("no-endpoints", cip("empty"), 80, "tcp"),
        ("no-endpoints/udp", cip("empty"), 81, "udp"),
        ("solo", cip("solo"), 80, "tcp"),
        ("lb-vip", lb_vip, 80, "tcp"),
        ("lb-vip/udp", lb_vip, 81, "udp"),
        ("external-ip", ext_ip, 80, "tcp"),
    ]
    np_cluster, np_local = up.node_port("web-np"), up.node_port("web-local")
    np_udp = up.node_port("web-np", 81)
    flows = []
    for pod in [up.pod("default/client"), *up.web(), up.pod("default/solo")]:
        src, who = str(pod.ips[0]), pod.pod.split("/")[1]
        for name, dst, port, proto in service_frontends:
            n = PER_REJECT_FLOW if name.startswith("no-endpoints") else PER_FLOW
            flows.append(
                Flow(f"{who} -> {name}", pod.namespace, src, pod.node, dst, port, proto, n)
            )
        node_ip = NODE_IPS[pod.node]
        for name, port in (("nodeport", np_cluster), ("nodeport-local", np_local)):
            flows.append(
                Flow(f"{who} -> own node {name}", pod.namespace, src, pod.node, node_ip, port)
            )
    for node, node_ip in NODE_IPS.items():
        ns = up.plan.of(Role.NODE, node).name
        for name, dst, port, proto in service_frontends[:5]:
            n = PER_REJECT_FLOW if name.startswith("no-endpoints") else PER_FLOW
            flows.append(Flow(f"{node} -> {name}", ns, node_ip, node, dst, port, proto, n))
        flows += [
            Flow(f"{node} -> own nodeport", ns, node_ip, node, node_ip, np_cluster),
            Flow(f"{node} -> own nodeport-local", ns, node_ip, node, node_ip, np_local),
            Flow(f"{node} -> 127.0.0.1 nodeport", ns, "127.0.0.1", node, "127.0.0.1", np_cluster),
        ]
    ext = up.plan.external.name
    for node, node_ip in NODE_IPS.items():
        flows += [
            Flow(f"external -> {node} nodeport", ext, EXTERNAL, node, node_ip, np_cluster),
            Flow(f"external -> {node} nodeport-local", ext, EXTERNAL, node, node_ip, np_local),
            Flow(f"external -> {node} nodeport/udp", ext, EXTERNAL, node, node_ip, np_udp, "udp"),
        ]
    by_ip = {ip: n for n, ip in NODE_IPS.items()}
    flows += [
        Flow("external -> lb-vip", ext, EXTERNAL, by_ip[VIP_VIA[lb_vip]], lb_vip, 80),
        Flow("external -> lb-vip/udp", ext, EXTERNAL, by_ip[VIP_VIA[lb_vip]], lb_vip, 81, "udp"),
        Flow("external -> external-ip", ext, EXTERNAL, by_ip[VIP_VIA[ext_ip]], ext_ip, 80),
    ]
    return flows


def run(up: ProxyLab, flows: list[Flow]) -> list[Row]:
    """Trace every flow, then send them all for real, one helper per source namespace."""
    by_source: dict[tuple[str, int], list[Flow]] = {}
    for flow in sorted(flows, key=lambda f: f.wave):
        by_source.setdefault((flow.namespace, flow.wave), []).append(flow)
    answers: dict[Flow, tuple[Answer, ...]] = {}
    for (namespace, _), group in by_source.items():
        requests = [Request(f.dst, f.port, f.proto, count=f.count) for f in group]
        got = probe(namespace, requests, timeout=TIMEOUT)
        start = 0
        for flow in group:
            answers[flow] = got[start : start + flow.count]
            start += flow.count
    return [
        Row(f, up.cluster.trace(f.src, f.dst, f.port, f.proto, node=f.node), answers[f])
        for f in flows
    ]


def kernel_verdict(answers: tuple[Answer, ...]) -> str:
    outcomes = {"DNAT" if a.ok else OUTCOME.get(a.error or "", a.error or "?") for a in answers}
    return outcomes.pop() if len(outcomes) == 1 else "MIXED " + "/".join(sorted(outcomes))


def disagreements(up: ProxyLab, row: Row) -> list[str]:
    """What the kernel did that the simulator did not say (empty: they agree)."""
    found = []
    verdict = kernel_verdict(row.answers)
    if verdict != row.model.verdict:
        found.append(f"kernel {verdict}, simulator {row.model.verdict}")
        return found
    for answer in row.answers:
        if not answer.ok:
            continue
        ip = up.ip_of(answer.hostname)
        sources = {b.packet.src for b in row.model.branches if b.endpoint and b.endpoint[0] == ip}
        if not sources:
            found.append(f"{answer.hostname} ({ip}) answered; simulator endpoints differ")
        elif answer.source not in sources:
            found.append(f"{answer.hostname} saw {answer.source}, simulator says {sources}")
    return found


def table(up: ProxyLab, rows: list[Row]) -> str:
    lines = [f"{'flow':<48} {'proto':<5} {'simulator':<9} {'kernel':<8} endpoints hit / sources"]
    for row in rows:
        hit = Counter(up.ip_of(a.hostname) for a in row.answers if a.ok)
        seen = sorted({a.source or "" for a in row.answers if a.ok})
        lines.append(
            f"{row.flow.name:<48} {row.flow.proto:<5} {row.model.verdict:<9} "
            f"{kernel_verdict(row.answers):<8} "
            f"{' '.join(f'{ip}x{n}' for ip, n in sorted(hit.items(), key=str))} / {' '.join(seen)}"
        )
    return "\n".join(lines)


def test_the_kernel_agrees_with_the_simulator_flow_by_flow(up: ProxyLab) -> None:
    flows = flow_table(up)
    assert len(flows) >= 50
    assert len({f.name for f in flows}) == len(flows)
    rows = run(up, flows)
    print()
    print(table(up, rows))
    wrong = {row.flow.name: d for row in rows if (d := disagreements(up, row))}
    assert not wrong, wrong
    # The table covers every verdict and both kinds of source address.
    verdicts = Counter(row.model.verdict for row in rows)
    assert {"DNAT", "REJECT", "DROP"} <= set(verdicts), verdicts
    masqueraded = {row.flow.name for row in rows if row.model.masquerade}
    assert masqueraded
    assert len(masqueraded) < len(rows)
    assert all(len(r.answers) == r.flow.count for r in rows)
