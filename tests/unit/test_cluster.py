"""The embedded cluster as a whole: boot shape, apply semantics, settling, time, DNS, explain."""

from __future__ import annotations

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.api import EndpointSlice, Pod, Service
from k8s_service_lab.cluster import ApplyError
from k8s_service_lab.config import parse_config
from k8s_service_lab.printers import table

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
        image: nginx
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"""


def endpoints_of(cluster: Cluster, service: str, namespace: str = "default") -> list[str]:
    slices = [
        s
        for s in cluster.list(EndpointSlice, namespace)
        if s.metadata.labels.get("kubernetes.io/service-name") == service
    ]
    return sorted(
        f"{address}:{port.port}"
        for s in slices
        for e in s.endpoints
        if e.conditions.ready
        for address in e.addresses
        for port in s.ports
    )


def test_a_fresh_cluster_looks_like_kind() -> None:
    cluster = Cluster()
    text = table(cluster.list(Service, None), now=cluster.now(), all_namespaces=True)
    assert text.splitlines() == [
        "NAMESPACE     NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)                  AGE",
        "default       kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP                  60s",
        "kube-system   kube-dns     ClusterIP   10.96.0.10   <none>        53/UDP,53/TCP,9153/TCP   60s",
    ]
    nodes = [n.metadata.name for n in cluster.list("nodes")]
    assert nodes == ["kind-control-plane", "kind-worker", "kind-worker2"]
    coredns = cluster.list(Pod, "kube-system")
    assert len(coredns) == 2
    assert {p.spec.node_name for p in coredns} == {"kind-control-plane"}
    assert endpoints_of(cluster, "kubernetes") == ["172.18.0.2:6443"]
    assert len(endpoints_of(cluster, "kube-dns", "kube-system")) == 6


def test_apply_creates_pods_and_endpoints() -> None:
    cluster = Cluster()
    results = cluster.apply(WEB)
    assert [r.kubectl() for r in results] == [
        "deployment.apps/web created",
        "service/web created",
    ]
    pods = cluster.list(Pod)
    assert len(pods) == 3
    assert all(p.status.ready and p.status.pod_ip for p in pods)
    assert {p.spec.node_name for p in pods} == {"kind-worker", "kind-worker2"}
    assert endpoints_of(cluster, "web") == sorted(f"{p.status.pod_ip}:8080" for p in pods)


def test_apply_again_is_unchanged_and_keeps_the_allocation() -> None:
    cluster = Cluster()
    first = cluster.apply(WEB)[1].resource
    again = cluster.apply(WEB)
    assert [r.action for r in again] == ["unchanged", "unchanged"]
    assert cluster.get(Service, "web").spec.cluster_ip == first.spec.cluster_ip  # type: ignore[attr-defined]


def test_same_seed_same_cluster() -> None:
    a, b = Cluster(seed=7), Cluster(seed=7)
    a.apply(WEB)
    b.apply(WEB)
    assert a.list(Pod) == b.list(Pod)
    assert a.list(Service) == b.list(Service)


def test_a_refused_object_changes_nothing_and_the_rest_still_applies() -> None:
    cluster = Cluster()
    before = cluster.store.resource_version
    bad = "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {type: Foo, ports: [{port: 80}]}\n"
    with pytest.raises(ApplyError) as caught:
        cluster.apply(bad + "---\n" + WEB)
    results = caught.value.results
    assert results[0].error is not None
    assert 'spec.type: Unsupported value: "Foo"' in str(results[0].error)
    assert [r.action for r in results[1:]] == ["created", "created"]
    assert cluster.store.find(Service, "default", "bad") is None
    assert cluster.store.resource_version > before


def test_readiness_and_graceful_deletion_move_endpoints() -> None:
    cluster = Cluster()
    cluster.apply(WEB)
    pods = cluster.list(Pod)
    cluster.set_ready(pods[0].metadata.name or "", False)
    assert len(endpoints_of(cluster, "web")) == 2
    cluster.set_ready(pods[0].metadata.name or "", True)
    assert len(endpoints_of(cluster, "web")) == 3

    victim = pods[1].metadata.name or ""
    cluster.delete(Pod, victim)
    terminating = cluster.store.find(Pod, "default", victim)
    assert terminating is not None
    assert terminating.metadata.deletion_timestamp is not None
    assert f"{terminating.status.pod_ip}:8080" not in endpoints_of(cluster, "web")
    # The ReplicaSet already made a replacement; the old pod goes once its grace period ends.
    assert len([p for p in cluster.list(Pod) if p.metadata.deletion_timestamp is None]) == 3
    cluster.advance(31)
    assert cluster.store.find(Pod, "default", victim) is None
    assert len(endpoints_of(cluster, "web")) == 3


def test_events_tell_what_happened() -> None:
    cluster = Cluster()
    since = cluster.store.resource_version
    cluster.apply(WEB)
    lines = [e.describe() for e in cluster.events(since)]
    assert lines[0] == "ADDED deployments default/web"
    assert any(line.startswith("ADDED endpointslices default/web-") for line in lines)


def test_dns_and_explain() -> None:
    cluster = Cluster()
    cluster.apply(WEB)
    svc = cluster.get(Service, "web")
    answer = cluster.resolve("web").answer
    assert [r.data for r in answer.answer] == [svc.spec.cluster_ip]  # type: ignore[attr-defined]
    report = cluster.explain("web")
    assert report.summary == "3 ready endpoint(s)"


def test_explain_points_at_a_near_miss() -> None:
    cluster = Cluster()
    cluster.apply(WEB.replace("selector: {app: web}\n  ports", "selector: {app: wbe}\n  ports"))
    report = cluster.explain("web")
    assert report.endpoints == ()
    assert report.summary == "no pod in this namespace matches the selector"
    assert report.pods[0].misses == ("app=web (want app=wbe)",)


def test_dual_stack_cluster() -> None:
    config = parse_config(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  ipFamily: dual\n"
    )
    cluster = Cluster(config)
    cluster.apply(
        WEB.replace(
            "spec:\n  selector: {app: web}",
            "spec:\n  ipFamilyPolicy: PreferDualStack\n  selector: {app: web}",
        )
    )
    svc = cluster.get(Service, "web")
    assert svc.spec.ip_families == ("IPv4", "IPv6")  # type: ignore[attr-defined]
    types = sorted(
        s.address_type for s in cluster.list(EndpointSlice) if s.metadata.name != "kubernetes"
    )
    assert types == ["IPv4", "IPv6"]
