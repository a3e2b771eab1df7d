"""ProxyWatcher against a real embedded Cluster: informer start-up, watch, sync bookkeeping."""

from __future__ import annotations

from dataclasses import replace

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.api import Node, Pod
from k8s_service_lab.config import parse_config
from k8s_service_lab.proxy import ProxyWatcher, ServiceName, ServicePortName
from k8s_service_lab.proxy.state import build_node_state
from tests.unit.test_cluster import WEB

HTTP = ServicePortName("default", "web", "http", "TCP")
WEB_SVC = ServiceName("default", "web")


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def test_first_state_lists_existing_objects_and_needs_a_full_sync(cluster: Cluster) -> None:
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    state = watcher.state()
    assert state.needs_full_sync
    dns = ServicePortName("kube-system", "kube-dns", "dns", "UDP")
    assert str(state.services[dns].cluster_ip) == cluster.config.dns_service_ip
    assert [e.port for e in state.endpoints[dns]] == [53, 53]  # two CoreDNS replicas
    assert state.ports_to_sync() == state.ports()
    watcher.mark_synced()
    after = watcher.state()
    assert not after.needs_full_sync
    assert after.changed == ()
    assert after.ports_to_sync() == ()


def test_deployment_service_and_readiness_flip(cluster: Cluster) -> None:
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    watcher.state()
    watcher.mark_synced()

    cluster.apply(WEB)
    state = watcher.state()
    assert state.changed == (HTTP,)
    assert state.updated_services == {WEB_SVC}
    assert state.ports_to_sync() == (HTTP,)
    svc = cluster.get("services", "web")
    assert str(state.services[HTTP]) == f"{svc.spec.cluster_ip}:80/TCP"
    pods = {p.status.pod_ip: p for p in cluster.list(Pod)}
    endpoints = state.endpoints[HTTP]
    assert sorted(e.ip for e in endpoints) == sorted(pods)
    assert all(e.port == 8080 and e.ready for e in endpoints)
    assert {e.ip for e in endpoints if e.is_local} == {
        ip for ip, p in pods.items() if p.spec.node_name == "kind-worker"
    }
    assert len(state.categorized[HTTP].cluster) == 3
    assert state.categorized[HTTP].has_any
    watcher.mark_synced()

    victim = sorted(pods.values(), key=lambda p: p.metadata.name or "")[0]
    cluster.set_ready(victim.metadata.name or "", False)
    state = watcher.state()
    assert state.changed == (HTTP,)
    assert state.updated_services == {WEB_SVC}
    flipped = {e.ip: e for e in state.endpoints[HTTP]}
    assert not flipped[victim.status.pod_ip or ""].ready
    cluster_eps = state.categorized[HTTP].cluster
    assert len(cluster_eps) == 2
    assert victim.status.pod_ip not in {e.ip for e in cluster_eps}


def test_changes_accumulate_until_mark_synced(cluster: Cluster) -> None:
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    watcher.state()
    watcher.mark_synced()
    assert not watcher.pending()
    cluster.apply(WEB)
    assert watcher.pending()
    assert watcher.state().changed == (HTTP,)
    assert watcher.state().changed == (HTTP,)  # a failed sync would see it again
    cluster.delete("services", "web")
    state = watcher.state()
    assert HTTP not in state.services
    assert state.changed == (HTTP,)
    watcher.mark_synced()
    assert watcher.state().changed == ()


def test_renaming_a_port_changes_both_names(cluster: Cluster) -> None:
    cluster.apply(WEB)
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    watcher.state()
    watcher.mark_synced()
    cluster.apply(WEB.replace("ports: [{name: http, port: 80", "ports: [{name: www, port: 80"))
    state = watcher.state()
    www = ServicePortName("default", "web", "www", "TCP")
    assert set(state.changed) == {HTTP, www}
    assert www in state.services
    assert HTTP not in state.services


def test_topology_label_change_forces_full_sync(cluster: Cluster) -> None:
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    watcher.state()
    watcher.mark_synced()
    node = cluster.store.get(Node, None, "kind-worker")
    labels = {**node.metadata.labels, "team": "a"}
    cluster.store.update(replace(node, metadata=replace(node.metadata, labels=labels)))
    assert not watcher.state().needs_full_sync  # not a topology label
    node = cluster.store.get(Node, None, "kind-worker")
    labels = {**node.metadata.labels, "topology.kubernetes.io/zone": "zone-a"}
    cluster.store.update(replace(node, metadata=replace(node.metadata, labels=labels)))
    state = watcher.state()
    assert state.needs_full_sync
    assert state.zone == "zone-a"


def test_state_carries_node_facts_per_family() -> None:
    config = parse_config(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {ipFamily: dual}\n"
        "nodes: [{role: control-plane}, {role: worker}]\n"
    )
    v4 = build_node_state(config, "kind-worker", "IPv4", {}, {})
    v6 = build_node_state(config, "kind-worker", "IPv6", {}, {})
    assert [c.version for c in (v4.cluster_cidr, v6.cluster_cidr)] == [4, 6]  # type: ignore[union-attr]
    assert all(ip.version == 4 for ip in v4.node_ips)
    assert all(ip.version == 6 for ip in v6.node_ips)
    assert v4.node_pod_cidrs[0].subnet_of(v4.cluster_cidr)  # type: ignore[arg-type]
    assert v6.service_cidr is not None
    assert v6.service_cidr.version == 6


def test_dual_stack_cluster_watchers_see_their_own_family() -> None:
    config = parse_config(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {ipFamily: dual}\n"
        "nodes: [{role: control-plane}, {role: worker}]\n"
    )
    cluster = Cluster(config)
    cluster.apply(
        WEB.replace(
            "spec:\n  selector: {app: web}",
            "spec:\n  ipFamilyPolicy: PreferDualStack\n  selector: {app: web}",
        )
    )
    v4 = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config).state()
    v6 = ProxyWatcher(cluster.store, "kind-worker", "IPv6", cluster.config).state()
    assert v4.services[HTTP].cluster_ip.version == 4
    assert v6.services[HTTP].cluster_ip.version == 6
    assert {e.address.version for e in v4.endpoints[HTTP]} == {4}
    assert {e.address.version for e in v6.endpoints[HTTP]} == {6}


def test_health_check_and_local_ready_counts(cluster: Cluster) -> None:
    cluster.apply(
        WEB.replace(
            "spec:\n  selector: {app: web}",
            "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  selector: {app: web}",
        )
    )
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    state = watcher.state()
    svc = cluster.get("services", "web")
    assert state.health_check_node_ports() == {WEB_SVC: svc.spec.health_check_node_port}
    local = [e for e in state.endpoints[HTTP] if e.is_local and e.ready]
    assert state.local_ready_endpoints().get(WEB_SVC, 0) == len(local)
    info = state.services[HTTP]
    assert info.external_policy_local
    assert info.load_balancer_vips


def test_unknown_node_or_family_is_refused(cluster: Cluster) -> None:
    with pytest.raises(KeyError):
        ProxyWatcher(cluster.store, "nope", "IPv4", cluster.config)
    with pytest.raises(ValueError, match="unknown IP family"):
        ProxyWatcher(cluster.store, "kind-worker", "ipv4", cluster.config)


def test_close_stops_watching(cluster: Cluster) -> None:
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    watcher.state()
    watcher.mark_synced()
    watcher.close()
    cluster.apply(WEB)
    assert watcher.state().changed == ()
