"""kube-proxy's nftables mode in the lab's kernel, proved with real connections (issue 7).

The lab of :mod:`tests.kernel.test_netns_proxy` — the same pods and Services — but with
``networking.kubeProxyMode: nftables`` in its kind config, so :class:`LabProxy` loads each
node's ``nft -f`` transaction into the node's own table ``ip kube-proxy`` and nothing else
(no iptables rules, no nfacct counters, no ``route_localnet``). Prefix ``ksl-t-n`` plus three
characters of the process id; the lab is torn down, and the host compared, even when a test
fails. Nothing here runs a netfilter tool in the host's own namespace.

Besides what iptables mode shows (spread, NodePort policies, REJECT, affinity, hairpin), the
behaviours of reference §3.7 that differ: a ClusterIP on a port it does not serve is
REJECTed, an unallocated address in the Service CIDR is DROPped, and there are no localhost
NodePorts. And the case of a new ``ksl cluster`` process: a full sync over the table a
previous process left, which must converge on exactly the model's table.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.config import parse_config
from k8s_service_lab.netfilter.nftables import NftTransaction
from k8s_service_lab.netfilter.nftables_dump import NftRuleset
from k8s_service_lab.netns import Role
from k8s_service_lab.netns.proxy import LabProxy, LabProxyError
from k8s_service_lab.netns.proxy_rules import nft_table_view
from k8s_service_lab.netns.spread import chi_square
from k8s_service_lab.netns.traffic import Request, probe

# The same behaviour in both modes: these run here against this module's nftables lab.
from tests.kernel.test_netns_proxy import (  # noqa: F401
    EXTERNAL,
    MANIFEST,
    NODE_IPS,
    SERVICES,
    VIP_VIA,
    ProxyLab,
    base36,
    hosts,
    proxy_lab,
    service_yaml,
    test_nodeport_cluster_policy_from_external_shows_a_node_address,
    test_udp_clusterip_answers_from_endpoints_with_the_pods_own_address,
)

pytestmark = pytest.mark.kernel

PREFIX = f"ksl-t-n{base36(os.getpid())}"
NFT_CONFIG = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  kubeProxyMode: nftables
nodes:
- role: control-plane
- role: worker
- role: worker
"""


def service_docs(skip: str | None = None) -> str:
    docs = [service_yaml(name, extra) for name, extra in SERVICES.items() if name != skip]
    docs.append(service_yaml("empty", "", selector="nothing"))
    docs.append(service_yaml("solo", "", selector="solo"))
    return "---\n".join(docs)


def nft_cluster(skip: str | None = None) -> Cluster:
    """The cluster of the iptables lab tests, in nftables mode (``skip``: leave a Service out)."""
    cluster = Cluster(parse_config(NFT_CONFIG, source="kind-nftables.yaml"))
    cluster.apply(MANIFEST)
    cluster.apply(service_docs(skip))
    return cluster


@pytest.fixture(scope="module")
def up() -> Iterator[ProxyLab]:
    with proxy_lab(nft_cluster(), PREFIX) as running:
        assert running.proxy.mode == "nftables"
        yield running


def transaction(payload: object) -> NftTransaction:
    assert isinstance(payload, NftTransaction)
    return payload


def assert_kernel_matches_model(up: ProxyLab) -> None:
    """Every node's kernel table is what a fresh kube-proxy would write for the model now."""
    for node in up.proxy.nodes:
        kernel = up.proxy.nft_rules(node)
        assert [(t.family, t.name) for t in kernel.tables] == [("ip", "kube-proxy")], node
        model = NftRuleset.of(transaction(up.cluster.render(node=node)))
        mine = nft_table_view(model.table("ip", "kube-proxy"))
        assert nft_table_view(kernel.table("ip", "kube-proxy")) == mine, node


def client_probe(up: ProxyLab, dst: str, port: int) -> list[str | None]:
    """What one TCP connection from the client pod gets: ``None`` (answered) or the error."""
    client = up.pod("default/client")
    return [a.error for a in probe(client.namespace, [Request(dst, port)], timeout=2.5)]


# -- install ----------------------------------------------------------------------------------


def test_install_loads_exactly_the_models_table_and_nothing_else(up: ProxyLab) -> None:
    assert_kernel_matches_model(up)
    for node in up.proxy.nodes:
        assert up.proxy.run(node, "nft", "list", "tables").split() == ["table", "ip", "kube-proxy"]
        # nftables mode has no localhost NodePorts, so the lab leaves route_localnet alone.
        localnet = up.proxy.run(node, "sysctl", "-n", "net.ipv4.conf.all.route_localnet")
        assert localnet.strip() == "0"
    with pytest.raises(LabProxyError, match="nftables mode: read nft_rules"):
        up.proxy.rules("kind-worker")


def test_a_resync_without_changes_sends_nothing(up: ProxyLab) -> None:
    before = {node: nft_table_view(up.proxy.nft_rules(node).tables[0]) for node in up.proxy.nodes}
    syncs = up.proxy.resync()
    assert all(not s.full and s.lines == 0 and s.conntrack_deleted == () for s in syncs)
    assert {n: nft_table_view(up.proxy.nft_rules(n).tables[0]) for n in up.proxy.nodes} == before


# -- ClusterIP -----------------------------------------------------------------------------------


def test_clusterip_spreads_300_connections_uniformly_as_numgen_says(up: ProxyLab) -> None:
    client = up.pod("default/client")
    ip = up.cluster_ip("web")
    answers = probe(client.namespace, [Request(ip, 80, count=300)])
    assert all(a.ok for a in answers), Counter(a.error for a in answers)
    seen = Counter(up.ip_of(a.hostname) or "?" for a in answers)
    model = up.cluster.trace(str(client.ips[0]), ip, 80, node=client.node)
    probabilities: dict[str, Fraction | float] = {ep: p for ep, _, p in model.endpoints}
    # numgen random mod 3: exactly a third each (iptables mode cascades 1/3, 1/2, 1).
    assert set(probabilities.values()) == {Fraction(1, 3)}
    assert set(seen) == set(probabilities) == {str(p.ips[0]) for p in up.web()}
    test = chi_square(seen, probabilities)
    assert test.p_value > 0.001, (seen, test)
    assert {a.source for a in answers} == {str(client.ips[0])}


# -- NodePort from outside -------------------------------------------------------------------


def test_nodeport_local_policy_keeps_the_client_address_or_drops(up: ProxyLab) -> None:
    port = up.node_port("web-local")
    for node, node_ip in NODE_IPS.items():
        local = {p.hostname for p in up.web() if p.node == node}
        answers = probe(up.plan.external.name, [Request(node_ip, port, count=8)], timeout=1.5)
        if not local:  # no local endpoint: no-endpoint-nodeports says drop
            assert {a.error for a in answers} == {"timeout"}, node
            model = up.cluster.trace(EXTERNAL, node_ip, port, node=node)
            assert model.verdict == "DROP"
            continue
        assert all(a.ok for a in answers), (node, Counter(a.error for a in answers))
        assert set(hosts(answers)) <= local
        assert {a.source for a in answers} == {EXTERNAL}


def test_no_localhost_nodeports_in_nftables_mode(up: ProxyLab) -> None:
    """§3.7.2: loopback is never a NodePort address; the node's own stack answers (RST)."""
    port = up.node_port("web-np")
    ns = up.plan.of(Role.NODE, "kind-worker").name
    answers = probe(ns, [Request("127.0.0.1", port), Request(NODE_IPS["kind-worker"], port)])
    assert [a.error for a in answers] == ["refused", None]
    assert up.cluster.trace("127.0.0.1", "127.0.0.1", port, node="kind-worker").verdict == "NONE"


# -- REJECT and DROP -----------------------------------------------------------------------------


def test_a_service_without_endpoints_refuses_at_once(up: ProxyLab) -> None:
    client = up.pod("default/client")
    ip = up.cluster_ip("empty")
    start = time.perf_counter()
    answers = probe(client.namespace, [Request(ip, 80), Request(ip, 81, "udp")], timeout=5)
    assert [a.error for a in answers] == ["refused", "refused"]
    assert time.perf_counter() - start < 2.5, "a REJECT answers at once"


def test_a_port_the_clusterip_does_not_serve_is_rejected_unlike_iptables_mode(
    up: ProxyLab,
) -> None:
    """§3.7.4: ``cluster-ips-check`` rejects traffic to an allocated ClusterIP on another port;
    iptables mode matches nothing and lets routing take the packet (out of the lab: lost)."""
    client = up.pod("default/client")
    ip = up.cluster_ip("web")
    start = time.perf_counter()
    assert client_probe(up, ip, 9999) == ["refused"]
    assert time.perf_counter() - start < 2.0
    src = str(client.ips[0])
    assert up.cluster.trace(src, ip, 9999, node=client.node).verdict == "REJECT"
    assert up.cluster.trace(src, ip, 9999, node=client.node, mode="iptables").verdict == "NONE"


def test_an_unallocated_clusterip_is_dropped(up: ProxyLab) -> None:
    client = up.pod("default/client")
    taken = {str(s.spec.cluster_ip) for s in up.cluster.list("services", namespace=None)}
    free = next(str(a) for a in ipaddress.ip_network("10.96.0.0/16").hosts() if str(a) not in taken)
    assert client_probe(up, free, 80) == ["timeout"]
    assert up.cluster.trace(str(client.ips[0]), free, 80, node=client.node).verdict == "DROP"


# -- affinity, hairpin, VIPs -----------------------------------------------------------------


def test_client_ip_affinity_keeps_one_client_on_one_pod(up: ProxyLab) -> None:
    for client in (up.pod("default/client"), up.web()[0]):
        # One after another: the first connection's `update @affinity-...` must be in the
        # set before the next one's lookup.
        answers = probe(
            client.namespace, [Request(up.cluster_ip("web-sticky"), 80, count=50)], concurrency=1
        )
        assert all(a.ok for a in answers)
        assert len(hosts(answers)) == 1, hosts(answers)
    # The kernel's affinity sets now hold the clients, with their timeout.
    table = up.proxy.nft_rules(up.pod("default/client").node).tables[0]
    held = [e.key for n, es in table.elements.items() if n.startswith("affinity-") for e in es]
    assert (str(up.pod("default/client").ips[0]),) in held


def test_hairpin_a_pod_reaches_itself_through_its_service_masqueraded(up: ProxyLab) -> None:
    solo = up.pod("default/solo")
    answers = probe(solo.namespace, [Request(up.cluster_ip("solo"), 80, count=5)])
    assert set(hosts(answers)) == {solo.hostname}
    assert {a.source for a in answers} == {up.gateway(solo.node)}


def test_loadbalancer_vip_and_external_ip_from_outside(up: ProxyLab) -> None:
    web = {str(p.ips[0]) for p in up.web()}
    for vip, via in VIP_VIA.items():
        answers = probe(up.plan.external.name, [Request(vip, 80, count=6)])
        assert all(a.ok for a in answers), (vip, Counter(a.error for a in answers))
        assert {up.ip_of(a.hostname) for a in answers} <= web
        node = next(n for n, ip in NODE_IPS.items() if ip == via)
        assert {a.source for a in answers} <= {via, up.gateway(node)}


# -- a new process over an old table -------------------------------------------------------


def test_a_new_process_full_sync_converges_on_the_table_it_finds(up: ProxyLab) -> None:
    """What ``ksl cluster delete`` does: a fresh model (here without ``web-sticky``), a fresh
    LabProxy, one full sync over the previous process's table. Its chains nobody knows of
    are flushed, deleted a second later, and the affinity sets go at once."""
    sticky = [
        c.name
        for c in up.proxy.nft_rules("kind-worker").tables[0].chains
        if "/web-sticky/" in c.name
    ]
    assert sticky
    fresh = nft_cluster(skip="web-sticky")
    proxy = LabProxy(fresh, up.plan)
    try:
        start = time.perf_counter()
        syncs = proxy.install()
        took = time.perf_counter() - start
        assert all(s.full for s in syncs)
        assert took >= 1.0, "stale chains wait a second before they are deleted"
        assert_kernel_matches_model(ProxyLab(fresh, up.plan, proxy))
        for node in up.proxy.nodes:
            table = up.proxy.nft_rules(node).tables[0]
            assert not [c.name for c in table.chains if "/web-sticky/" in c.name], node
            assert not [n for n in table.containers if "/web-sticky/" in n], node
        # And again, with nothing stale: no waiting.
        start = time.perf_counter()
        LabProxy(nft_cluster(skip="web-sticky"), up.plan).install()
        assert time.perf_counter() - start < 1.0
    finally:
        up.proxy.install()  # the module's own model again
    assert_kernel_matches_model(up)
    assert client_probe(up, up.cluster_ip("web-sticky"), 80) == [None]
