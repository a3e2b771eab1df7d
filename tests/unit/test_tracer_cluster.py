"""End to end: a kind-shaped Cluster's iptables rules, traced (issue 5)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.netfilter import Ruleset
from k8s_service_lab.tracer import NodeContext, Packet, Tracer, merge

NODE = "kind-worker"
APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nothing}
  ports: [{port: 80}]
"""


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    c = Cluster()
    c.apply(APP)
    return c


def _tracer(cluster: Cluster) -> Tracer:
    rules: Ruleset = merge(cluster.render(node=NODE), cluster.jump_rules(node=NODE))
    node = next(n for n in cluster.config.cluster_nodes if n.name == NODE)
    addresses = [str(a) for a in node.addresses] + ["127.0.0.1"]
    return Tracer(rules, NodeContext.of(addresses, str(cluster.config.pod_cidrs[0])))


def _pod_ips(cluster: Cluster) -> list[str]:
    return sorted(
        p.status.pod_ip
        for p in cluster.list("Pod")
        if p.metadata.labels.get("app") == "web" and p.status.pod_ip is not None
    )


def _remote_pod_ip(cluster: Cluster) -> str:
    # A client pod on kind-worker2 that is not one of the endpoints (no hairpin masquerade).
    other = next(n for n in cluster.config.cluster_nodes if n.name == "kind-worker2")
    ip = str(other.pod_cidrs[0].network_address + 200)
    assert ip not in _pod_ips(cluster)
    return ip


def test_pod_to_cluster_ip_reaches_each_of_three_endpoints_with_one_third(
    cluster: Cluster,
) -> None:
    svc = cluster.get("Service", "web")
    pkt = Packet(_remote_pod_ip(cluster), svc.spec.cluster_ip, "tcp", 40000, 80)
    result = _tracer(cluster).arriving(pkt)
    assert result.verdict == "DNAT"
    assert not result.masquerade
    assert not result.uncertain
    assert sorted((ip, port) for ip, port, _ in result.endpoints) == [
        (ip, 8080) for ip in _pod_ips(cluster)
    ]
    assert [p for _, _, p in result.endpoints] == [Fraction(1, 3)] * 3
    assert sum(b.probability for b in result.branches) == 1
    first = result.branches[0]
    assert first.packet.dport == 8080
    assert first.hops[0].table == "nat"
    assert first.hops[0].chain == "PREROUTING"
    assert any(h.comment == "default/web cluster IP" for h in first.hops)


def test_node_to_cluster_ip_is_masqueraded(cluster: Cluster) -> None:
    svc = cluster.get("Service", "web")
    result = _tracer(cluster).sent(Packet("172.18.0.3", svc.spec.cluster_ip, "tcp", 40000, 80))
    assert result.verdict == "DNAT"
    assert result.masquerade
    assert all(b.masquerade and b.packet.src == "172.18.0.3" for b in result.branches)
    assert sum(p for _, _, p in result.endpoints) == 1


def test_service_without_endpoints_rejects(cluster: Cluster) -> None:
    svc = cluster.get("Service", "empty")
    pkt = Packet(_remote_pod_ip(cluster), svc.spec.cluster_ip, "tcp", 40000, 80)
    result = _tracer(cluster).arriving(pkt)
    assert result.verdict == "REJECT"
    assert result.endpoints == ()
    assert result.branches[0].hops[-1].table == "filter"


def test_external_client_to_node_port_is_dnatted_and_masqueraded(cluster: Cluster) -> None:
    svc = cluster.get("Service", "web")
    node_port = svc.spec.ports[0].node_port
    pkt = Packet("203.0.113.2", "172.18.0.3", "tcp", 40000, node_port)
    result = _tracer(cluster).arriving(pkt)
    assert result.verdict == "DNAT"
    assert result.masquerade
    assert [p for _, _, p in result.endpoints] == [Fraction(1, 3)] * 3


def test_unknown_port_on_cluster_ip_falls_through(cluster: Cluster) -> None:
    svc = cluster.get("Service", "web")
    pkt = Packet(_remote_pod_ip(cluster), svc.spec.cluster_ip, "tcp", 40000, 81)
    result = _tracer(cluster).arriving(pkt)
    assert result.verdict in ("NONE", "ACCEPT")
    assert result.endpoints == ()


def test_cluster_trace_picks_the_path_from_the_source() -> None:
    cluster = Cluster()
    cluster.apply(APP)
    svc = cluster.get("services", "web")
    pods = [p for p in cluster.list("pods") if p.metadata.name.startswith("web-")]
    from_pod = cluster.trace(pods[0].status.pod_ip, svc.spec.cluster_ip, 80)
    assert from_pod.verdict == "DNAT"
    assert sum(p for _, _, p in from_pod.endpoints) == 1
    assert {ip for ip, _, _ in from_pod.endpoints} == {p.status.pod_ip for p in pods}
    from_node = cluster.trace("172.18.0.3", svc.spec.cluster_ip, 80)  # kind-worker itself
    assert from_node.verdict == "DNAT"
    assert from_node.masquerade
    empty = cluster.get("services", "empty")
    assert cluster.trace("10.244.2.9", empty.spec.cluster_ip, 80).verdict == "REJECT"
