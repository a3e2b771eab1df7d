"""kube-proxy's rules in the lab's kernel, proved with real connections (issue 6, Done-when).

One lab for the module: the embedded kind shape with a 3-replica ``web`` Deployment (two pods
on kind-worker, one on kind-worker2), a ``client`` pod on the control plane, a ``solo`` pod on
kind-worker, and one Service per behaviour. :class:`LabProxy` installs every node's rules with
``iptables-nft-restore --noflush``; connections come from a helper process inside the client's
namespace (:func:`~k8s_service_lab.netns.traffic.probe`). Prefix ``ksl-t-p`` plus three
characters of the process id; the lab is torn down, and the host's links, routes, namespaces
and sysctls compared, even when a test fails. Nothing here runs a netfilter tool in the host's
own namespace.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from k8s_service_lab import Cluster
from k8s_service_lab.netfilter import KernelTables, Ruleset, canonical, to_restore
from k8s_service_lab.netns import LabPlan, PodPlan, plan_lab
from k8s_service_lab.netns.kernel import destroy_all, lab, lab_namespaces
from k8s_service_lab.netns.proxy import KUBE_PROXY_COUNTERS, LabProxy
from k8s_service_lab.netns.spread import chi_square
from k8s_service_lab.netns.traffic import Answer, Request, probe

pytestmark = pytest.mark.kernel


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(digits[(n // 36**i) % 36] for i in (2, 1, 0))


PREFIX = f"ksl-t-p{base36(os.getpid())}"
EXTERNAL = "172.18.0.100"
NODE_IPS = {
    "kind-control-plane": "172.18.0.2",
    "kind-worker": "172.18.0.3",
    "kind-worker2": "172.18.0.4",
}
#: Where the external host sends the LoadBalancer VIP and the externalIP: MetalLB's L2 mode
#: (and an upstream router for an externalIP) deliver them to a node; the lab has neither, so
#: the test adds host routes inside the external namespace (a lab namespace, never the host's).
VIP_VIA = {"172.18.255.200": "172.18.0.3", "192.0.2.10": "172.18.0.4"}

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
      - name: web
        image: {AGNHOST}
        ports: [{{containerPort: 8080}}, {{containerPort: 8081, protocol: UDP}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, labels: {{app: client}}}}
spec:
  nodeName: kind-control-plane
  containers: [{{name: c, image: "{AGNHOST}"}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: solo, labels: {{app: solo}}}}
spec:
  nodeName: kind-worker
  containers:
  - {{name: solo, image: "{AGNHOST}", ports: [{{containerPort: 8080}}]}}
"""
PORTS = (
    "[{name: http, port: 80, targetPort: 8080}, "
    "{name: udp, port: 81, targetPort: 8081, protocol: UDP}]"
)
#: Service name -> what its spec adds to the selector and the two ports.
SERVICES = {
    "web": "",
    "web-np": "type: NodePort",
    "web-local": "type: NodePort, externalTrafficPolicy: Local",
    "web-lb": "type: LoadBalancer, externalIPs: [192.0.2.10]",
    "web-itp": "internalTrafficPolicy: Local",
    "web-sticky": "sessionAffinity: ClientIP",
}


def service_yaml(name: str, extra: str, selector: str = "web") -> str:
    more = f"{extra}, " if extra else ""
    return (
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\n"
        f"spec: {{{more}selector: {{app: {selector}}}, ports: {PORTS}}}\n"
    )


def proxy_cluster() -> Cluster:
    """The module's cluster: web, client, solo, and a Service for every behaviour."""
    cluster = Cluster()
    cluster.apply(MANIFEST)
    docs = [service_yaml(name, extra) for name, extra in SERVICES.items()]
    docs.append(service_yaml("empty", "", selector="nothing"))
    docs.append(service_yaml("solo", "", selector="solo"))
    cluster.apply("---\n".join(docs))
    return cluster


def host_view() -> dict[str, str]:
    """The host namespace as far as the lab could touch it, read without netfilter tools."""

    def sh(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    netns = [n for n in sh("ip", "netns", "list").splitlines() if not n.startswith("ksl-t-")]
    keys = ("ipv4/ip_forward", "ipv4/conf/all/route_localnet", "ipv6/conf/all/forwarding")
    return {
        "ip link": sh("ip", "-o", "link", "show"),
        "ip route": sh("ip", "route", "show", "table", "all"),
        "ip -6 route": sh("ip", "-6", "route", "show", "table", "all"),
        "ip netns list": "\n".join(netns),
        "sysctls": " ".join(Path(f"/proc/sys/net/{k}").read_text().strip() for k in keys),
    }


@dataclass(frozen=True)
class ProxyLab:
    """A running lab with kube-proxy installed, and what tests need to read answers."""

    cluster: Cluster
    plan: LabPlan
    proxy: LabProxy

    def pod(self, key: str) -> PodPlan:
        return next(p for p in self.plan.pods if p.pod == key)

    def web(self) -> list[PodPlan]:
        return [p for p in self.plan.pods if p.pod.startswith("default/web-")]

    def ip_of(self, hostname: str | None) -> str | None:
        """The pod IP behind a ``/hostname`` answer."""
        found = [p for p in self.plan.pods if p.hostname == hostname]
        return str(found[0].ips[0]) if found else None

    def cluster_ip(self, service: str) -> str:
        return str(self.cluster.get("services", service).spec.cluster_ip)

    def node_port(self, service: str, port: int = 80) -> int:
        spec = self.cluster.get("services", service).spec
        return int(next(p.node_port for p in spec.ports if p.port == port))

    def gateway(self, node: str) -> str:
        """The node's pod-CIDR gateway (kindnet's veth address): a local pod's masquerade."""
        cidr = self.cluster.config.node(node).pod_cidrs[0]
        return str(cidr.network_address + 1)


@contextmanager
def proxy_lab(cluster: Cluster, prefix: str) -> Iterator[ProxyLab]:
    """Build the lab, install kube-proxy, route the VIPs from external; always tear down."""
    assert lab_namespaces(prefix) == (), f"leftover lab: run destroy_all({prefix!r})"
    plan = plan_lab(cluster, prefix=prefix)
    before = host_view()
    try:
        with lab(plan):
            with IPRoute(netns=plan.external.name, flags=0) as ipr:
                for vip, via in VIP_VIA.items():
                    ipr.route("add", dst=f"{vip}/32", gateway=via)
            proxy = LabProxy(cluster, plan)
            proxy.install()
            yield ProxyLab(cluster, plan, proxy)
    finally:
        leftover = lab_namespaces(prefix)
        destroy_all(prefix)
        assert leftover == ()
        assert host_view() == before


@pytest.fixture(scope="module")
def up() -> Iterator[ProxyLab]:
    with proxy_lab(proxy_cluster(), PREFIX) as running:
        yield running


def xtables(payload: object) -> Ruleset:
    """The cluster's payload, which in iptables mode is a Ruleset."""
    assert isinstance(payload, Ruleset)
    return payload


def hosts(answers: tuple[Answer, ...]) -> Counter[str | None]:
    return Counter(a.hostname for a in answers)


# -- install -------------------------------------------------------------------------------------


def assert_kernel_matches_model(up: ProxyLab) -> None:
    """Every node's kernel tables are what kube-proxy would establish from scratch now:
    the jumps plus a full render (so partial syncs left nothing stale behind)."""
    for node in up.proxy.nodes:
        model = KernelTables(4)
        model.ensure(xtables(up.cluster.jump_rules(node=node)))
        model.restore(xtables(up.cluster.render(node=node)))
        kernel = canonical(up.proxy.rules(node))
        theirs = {t.name: t for t in kernel.tables}
        assert theirs == {t.name: t for t in canonical(model.ruleset()).tables}, node


def test_install_loads_exactly_the_jumps_and_the_payload(up: ProxyLab) -> None:
    assert_kernel_matches_model(up)
    for node in up.proxy.nodes:
        counters = up.proxy.run(node, "nfacct", "list")
        assert all(f"= {name};" in counters for name in KUBE_PROXY_COUNTERS)
        # The nft-backed tool: the same rules are nftables tables `nft monitor trace` sees.
        assert "table ip nat" in up.proxy.run(node, "nft", "list", "tables")


def test_a_resync_without_changes_sends_only_the_top_level_chains(up: ProxyLab) -> None:
    before = {node: up.proxy.rules(node) for node in up.proxy.nodes}
    full = {
        node: len(to_restore(xtables(up.cluster.render(node=node))).splitlines()) for node in before
    }
    syncs = up.proxy.resync()
    assert all(not s.full and s.conntrack_deleted == () for s in syncs)
    # KUBE-SERVICES and friends are rewritten; no Service's own chains are sent.
    assert all(s.lines < full[s.node] / 2 for s in syncs), ([s.lines for s in syncs], full)
    assert {node: up.proxy.rules(node) for node in up.proxy.nodes} == before


# -- ClusterIP -----------------------------------------------------------------------------------


def test_clusterip_spreads_300_connections_as_the_model_says(up: ProxyLab) -> None:
    client = up.pod("default/client")
    ip = up.cluster_ip("web")
    answers = probe(client.namespace, [Request(ip, 80, count=300)])
    assert all(a.ok for a in answers), Counter(a.error for a in answers)
    seen = Counter(up.ip_of(a.hostname) or "?" for a in answers)
    model = up.cluster.trace(str(client.ips[0]), ip, 80, node=client.node)
    probabilities: dict[str, Fraction | float] = {ep: p for ep, _, p in model.endpoints}
    assert set(seen) == set(probabilities) == {str(p.ips[0]) for p in up.web()}
    test = chi_square(seen, probabilities)
    assert test.p_value > 0.001, (seen, test)
    # No masquerade for a pod's own traffic: the server sees the client pod itself.
    assert {a.source for a in answers} == {str(client.ips[0])}


def test_udp_clusterip_answers_from_endpoints_with_the_pods_own_address(up: ProxyLab) -> None:
    client = up.pod("default/client")
    answers = probe(client.namespace, [Request(up.cluster_ip("web"), 81, "udp", count=30)])
    assert all(a.ok for a in answers), Counter(a.error for a in answers)
    assert {up.ip_of(a.hostname) for a in answers} <= {str(p.ips[0]) for p in up.web()}
    assert {a.source for a in answers} == {str(client.ips[0])}


# -- NodePort from outside -------------------------------------------------------------------


def test_nodeport_cluster_policy_from_external_shows_a_node_address(up: ProxyLab) -> None:
    port = up.node_port("web-np")
    for node, node_ip in NODE_IPS.items():
        answers = probe(up.plan.external.name, [Request(node_ip, port, count=12)])
        assert all(a.ok for a in answers), (node, Counter(a.error for a in answers))
        for answer in answers:
            pod = next(p for p in up.web() if p.hostname == answer.hostname)
            # Masqueraded: from the veth gateway to a pod on this node, else the node IP.
            expected = up.gateway(node) if pod.node == node else node_ip
            assert answer.source == expected, (node, answer)


def test_nodeport_local_policy_keeps_the_client_address_or_drops(up: ProxyLab) -> None:
    port = up.node_port("web-local")
    for node, node_ip in NODE_IPS.items():
        local = {p.hostname for p in up.web() if p.node == node}
        answers = probe(up.plan.external.name, [Request(node_ip, port, count=8)], timeout=1.5)
        if not local:  # kind-control-plane: no local endpoint, so kube-proxy drops
            assert {a.error for a in answers} == {"timeout"}, node
            continue
        assert all(a.ok for a in answers), (node, Counter(a.error for a in answers))
        assert set(hosts(answers)) <= local
        assert {a.source for a in answers} == {EXTERNAL}


def test_a_service_without_endpoints_refuses_at_once(up: ProxyLab) -> None:
    client = up.pod("default/client")
    ip = up.cluster_ip("empty")
    start = time.perf_counter()
    answers = probe(client.namespace, [Request(ip, 80), Request(ip, 81, "udp")], timeout=5)
    elapsed = time.perf_counter() - start
    assert [a.error for a in answers] == ["refused", "refused"]
    assert elapsed < 2.5, "a REJECT answers at once; only a DROP would wait for the timeout"


# -- affinity and hairpin ----------------------------------------------------------------------


def test_client_ip_affinity_keeps_one_client_on_one_pod(up: ProxyLab) -> None:
    for client in (up.pod("default/client"), up.web()[0]):
        # One connection after another, as a client loop makes them: the first one's
        # `-m recent --set` must be recorded before the next one's `--rcheck`.
        answers = probe(
            client.namespace, [Request(up.cluster_ip("web-sticky"), 80, count=50)], concurrency=1
        )
        assert all(a.ok for a in answers)
        assert len(hosts(answers)) == 1, hosts(answers)


def test_hairpin_a_pod_reaches_itself_through_its_service_masqueraded(up: ProxyLab) -> None:
    solo = up.pod("default/solo")
    answers = probe(solo.namespace, [Request(up.cluster_ip("solo"), 80, count=5)])
    assert set(hosts(answers)) == {solo.hostname}
    # Without the SNAT the pod would answer itself directly and the client would drop it.
    assert {a.source for a in answers} == {up.gateway(solo.node)}
    assert str(solo.ips[0]) != up.gateway(solo.node)


def test_loadbalancer_vip_and_external_ip_from_outside(up: ProxyLab) -> None:
    web = {str(p.ips[0]) for p in up.web()}
    for vip, via in VIP_VIA.items():
        answers = probe(up.plan.external.name, [Request(vip, 80, count=6)])
        assert all(a.ok for a in answers), (vip, Counter(a.error for a in answers))
        assert {up.ip_of(a.hostname) for a in answers} <= web
        node = next(n for n, ip in NODE_IPS.items() if ip == via)
        assert {a.source for a in answers} <= {via, up.gateway(node)}
        assert ipaddress.ip_address(vip) not in ipaddress.ip_network("10.244.0.0/16")
