"""The simulator against the kernel in nftables mode: one flow table, and the kernel's own trace.

The lab of :mod:`tests.kernel.test_netns_nftables` (prefix ``ksl-t-g`` plus three characters of
the process id): kube-proxy's ``ip kube-proxy`` table loaded by :class:`LabProxy` with
``nft -f``. The flow table is the iptables one (:mod:`tests.kernel.test_netns_agreement`: from
pods, nodes and the external host to every kind of frontend, TCP and UDP) plus the flows whose
outcome reference §3.7 changes: an allocated ClusterIP on a port it does not serve (REJECT), an
unallocated ClusterIP (DROP), and ``127.0.0.1:nodePort`` from a node — no localhost NodePorts,
so no rule matches (the simulator's ``NONE``) and the node's own stack refuses the connection,
as it refuses any port nothing listens on. For every flow, traced with
:meth:`Cluster.trace <k8s_service_lab.cluster.Cluster.trace>` (nftables mode, from the kind
config) and sent for real several times: the kernel's outcome is the simulator's verdict, every
pod that answered is one of its endpoints, and the address the pod saw is the source of the
simulator's branch to it.

Then ``kernel_trace`` for a ClusterIP, a NodePort, REJECTs and a DROP: the chain path the kernel
reports (``nft monitor trace``, rules named from ``nft list table``) is one of the nft
tracer's branches. Run with ``-s`` to see the table.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator

import pytest

from k8s_service_lab.netns import Role
from k8s_service_lab.netns.kerneltrace import kernel_trace
from k8s_service_lab.netns.tracecompare import compare
from tests.kernel.test_netns_agreement import (
    OUTCOME,
    PER_REJECT_FLOW,
    Flow,
    Row,
    flow_table,
    kernel_verdict,
    run,
    table,
)
from tests.kernel.test_netns_nftables import nft_cluster
from tests.kernel.test_netns_proxy import EXTERNAL, NODE_IPS, ProxyLab, base36, proxy_lab

pytestmark = pytest.mark.kernel

PREFIX = f"ksl-t-g{base36(os.getpid())}"
#: Seconds for the ICMP rate limiter to give a source back the REJECTs it spent (one a second).
ICMP_REFILL = 4.0


@pytest.fixture(scope="module")
def up() -> Iterator[ProxyLab]:
    with proxy_lab(nft_cluster(), PREFIX) as running:
        assert running.proxy.mode == "nftables"
        yield running


def unallocated(up: ProxyLab) -> str:
    taken = {str(s.spec.cluster_ip) for s in up.cluster.list("services", namespace=None)}
    return next(str(a) for a in ipaddress.ip_network("10.96.0.0/16").hosts() if str(a) not in taken)


def nft_flows(up: ProxyLab) -> list[Flow]:
    """The flows nftables mode answers differently from iptables mode.

    A source meets at most six REJECTs a second (the ICMP limit of
    :mod:`tests.kernel.test_netns_agreement`), and the client has met four at the Service
    without endpoints, so these are sent after the others, once the limiter has refilled.
    UDP comes from a pod only: a node's own datagram that its OUTPUT hook rejects never
    leaves it, and ``sendto`` fails with EPERM — a DROP looks the same there.
    """
    client = up.pod("default/client")
    src, web, free = str(client.ips[0]), up.cluster_ip("web"), unallocated(up)
    n = PER_REJECT_FLOW
    flows = [
        Flow(
            "client -> web unserved port", client.namespace, src, client.node, web, 9999, "tcp", n
        ),
        Flow(
            "client -> web unserved port/udp",
            client.namespace,
            src,
            client.node,
            web,
            9998,
            "udp",
            n,
        ),
        Flow("client -> unallocated clusterip", client.namespace, src, client.node, free, 80),
    ]
    for node, node_ip in NODE_IPS.items():
        ns = up.plan.of(Role.NODE, node).name
        flows += [
            Flow(f"{node} -> web unserved port", ns, node_ip, node, web, 9999, "tcp", n),
            Flow(f"{node} -> unallocated clusterip", ns, node_ip, node, free, 80, "tcp", 1),
        ]
    return flows


def expected(up: ProxyLab, row: Row) -> str:
    """The outcome the simulator's verdict predicts for real connections. ``NONE`` (no rule
    matched): a packet for the node's own address meets its stack, where nothing listens."""
    verdict = row.model.verdict
    if verdict != "NONE":
        return verdict
    local = {"127.0.0.1", NODE_IPS[row.flow.node]}
    return "REJECT" if row.flow.dst in local else "DROP"


def disagreements(up: ProxyLab, row: Row) -> list[str]:
    found = []
    verdict, want = kernel_verdict(row.answers), expected(up, row)
    if verdict != want:
        return [f"kernel {verdict}, simulator {row.model.verdict} (expected {want})"]
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


def test_the_kernel_agrees_with_the_simulator_flow_by_flow(up: ProxyLab) -> None:
    flows, extra = flow_table(up), nft_flows(up)
    assert len(flows) + len(extra) >= 50
    assert len({f.name for f in (*flows, *extra)}) == len(flows) + len(extra)
    rows = run(up, flows)
    time.sleep(ICMP_REFILL)
    rows += run(up, extra)
    print()
    print(table(up, rows))
    wrong = {row.flow.name: d for row in rows if (d := disagreements(up, row))}
    assert not wrong, wrong
    verdicts = {row.model.verdict for row in rows}
    assert {"DNAT", "REJECT", "DROP", "NONE"} <= verdicts, verdicts
    assert set(OUTCOME.values()) <= {kernel_verdict(r.answers) for r in rows}
    masqueraded = {row.flow.name for row in rows if row.model.masquerade}
    assert masqueraded
    assert len(masqueraded) < len(rows)
    # The nftables-only outcomes are there, each as the simulator said.
    by_name = {row.flow.name: row for row in rows}
    assert by_name["client -> web unserved port"].model.verdict == "REJECT"
    assert by_name["client -> unallocated clusterip"].model.verdict == "DROP"
    assert by_name["kind-worker -> 127.0.0.1 nodeport"].model.verdict == "NONE"


# -- the kernel's own trace ------------------------------------------------------------------


def trace_cases(up: ProxyLab) -> dict[str, tuple[str, str, int, str]]:
    client = str(up.pod("default/client").ips[0])
    return {
        "clusterip": (client, up.cluster_ip("web"), 80, "DNAT"),
        "clusterip/udp": (client, up.cluster_ip("web"), 81, "DNAT"),
        "nodeport": (EXTERNAL, NODE_IPS["kind-worker"], up.node_port("web-np"), "DNAT"),
        "nodeport-local": (EXTERNAL, NODE_IPS["kind-worker2"], up.node_port("web-local"), "DNAT"),
        "no-endpoints": (client, up.cluster_ip("empty"), 80, "REJECT"),
        "unserved-port": (client, up.cluster_ip("web"), 9999, "REJECT"),
        "local-no-endpoint": (
            EXTERNAL,
            NODE_IPS["kind-control-plane"],
            up.node_port("web-local"),
            "DROP",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "clusterip",
        "clusterip/udp",
        "nodeport",
        "nodeport-local",
        "no-endpoints",
        "unserved-port",
        "local-no-endpoint",
    ],
)
def test_the_kernels_chain_path_is_one_of_the_nft_tracers_branches(up: ProxyLab, case: str) -> None:
    src, dst, port, verdict = trace_cases(up)[case]
    proto = "udp" if case.endswith("/udp") else "tcp"
    kt = kernel_trace(up.plan, up.proxy, src, dst, port, proto, timeout=1.5)
    simulated = up.cluster.trace(src, dst, port, proto, node=kt.node)
    comparison = compare(simulated, kt)
    assert comparison.agrees, comparison.render()
    assert comparison.path_equal
    assert kt.verdict == verdict
    # The hops are named as the nft tracer names them: the table ``ip kube-proxy``.
    assert {h.table for h in kt.branch.hops} == {"ip kube-proxy"}
    assert not [h for h in kt.branch.hops if h.rule.startswith("nft: ")], "every rule mapped"
    if verdict == "DNAT":
        assert kt.outcome is None
        assert kt.endpoint is not None
    else:
        assert kt.outcome == ("refused" if verdict == "REJECT" else "timeout")
