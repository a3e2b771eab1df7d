"""The APIServer's create / update / update_status / delete pipeline (sheet §0.2, §2.7, §4.1)."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import timedelta

import pytest

from k8s_service_lab.api import Endpoints, Namespace, ObjectMeta, Pod, Service
from k8s_service_lab.api.decode import decode_text
from k8s_service_lab.api.pod import Container, PodSpec, PodStatus
from k8s_service_lab.api.service import LoadBalancerIngress, ServiceStatus
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.controlplane.apiserver import SYSTEM_NAMESPACES, APIServer
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.controlplane.store import EventType
from k8s_service_lab.errors import AlreadyExistsError, NotFoundError, ValidationError


def manifest(spec: str, name: str = "s", namespace: str | None = None) -> Service:
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    ns = f"  namespace: {namespace}\n" if namespace else ""
    obj = decode_text(
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n{ns}spec:\n{body}\n"
    )[0]
    assert isinstance(obj, Service)
    return obj


@pytest.fixture
def api() -> APIServer:
    server = APIServer(ClusterConfig.default(), seed=5)
    server.ensure_system_namespaces()
    return server


def held(api: APIServer) -> tuple[set[str], set[int]]:
    ips = {str(ip) for a in api.allocations.ip_allocators.values() for ip in a.used()}
    return ips, set(api.allocations.node_ports.used())


def pod(name: str = "p", *, node: str | None = "kind-worker", grace: int | None = None) -> Pod:
    spec = PodSpec(
        containers=(Container("c", image="nginx"),),
        node_name=node,
        termination_grace_period_seconds=grace,
    )
    return Pod(
        ObjectMeta(name=name, namespace="default", labels={"app": "s"}),
        spec,
        PodStatus(phase="Running"),
    )


def test_is_a_client(api: APIServer) -> None:
    assert isinstance(api, Client)
    assert api.clock is api.store.clock


def test_system_namespaces_are_created_once(api: APIServer) -> None:
    assert [ns.metadata.name for ns in api.list(Namespace)] == sorted(SYSTEM_NAMESPACES)
    assert api.ensure_system_namespaces() == []


def test_create_defaults_namespace_and_allocates(api: APIServer) -> None:
    svc = api.create(manifest("selector: {app: s}\nports: [{port: 80}]"))
    assert svc.metadata.namespace == "default"
    assert svc.metadata.uid is not None
    assert svc.spec.ip_families == ("IPv4",)
    assert held(api) == (set(svc.spec.cluster_ips), set())
    assert api.get(Service, "default", "s") == svc


def test_create_in_a_missing_namespace_is_not_found(api: APIServer) -> None:
    with pytest.raises(NotFoundError) as info:
        api.create(manifest("ports: [{port: 80}]", namespace="demo"))
    assert str(info.value) == 'namespaces "demo" not found'
    assert held(api) == (set(), set())


def test_create_twice_is_already_exists(api: APIServer) -> None:
    api.create(manifest("ports: [{port: 80}]"))
    before = held(api)
    with pytest.raises(AlreadyExistsError) as info:
        api.create(manifest("ports: [{port: 80}]"))
    assert str(info.value) == 'services "s" already exists'
    assert held(api) == before


def test_rejected_create_holds_nothing_and_stores_nothing(api: APIServer) -> None:
    events = len(api.store.events())
    with pytest.raises(ValidationError) as info:
        api.create(
            manifest("type: NodePort\nclusterIP: 10.96.0.77\nports: [{port: 80, name: HTTP}]")
        )
    assert "spec.ports[0].name: Invalid value" in str(info.value)
    assert held(api) == (set(), set())
    assert api.find(Service, "default", "s") is None
    assert len(api.store.events()) == events


def test_create_clears_a_service_status_unless_trusted(api: APIServer) -> None:
    status = ServiceStatus((LoadBalancerIngress(ip="172.18.255.200"),))
    lb = replace(manifest("type: LoadBalancer\nports: [{port: 80}]"), status=status)
    assert api.create(lb).status == ServiceStatus()
    trusted = api.create(replace(lb, metadata=replace(lb.metadata, name="t")), keep_status=True)
    assert trusted.status.load_balancer_ingress[0].ip_mode == "VIP"


def test_generate_name(api: APIServer) -> None:
    first = api.create(Pod(ObjectMeta(generate_name="web-", namespace="default"), pod().spec))
    second = api.create(Pod(ObjectMeta(generate_name="web-", namespace="default"), pod().spec))
    assert first.metadata.name != second.metadata.name
    for name in (first.metadata.name or "", second.metadata.name or ""):
        assert name.startswith("web-")
        assert len(name) == 9
        assert set(name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_update_of_a_missing_object_is_not_found(api: APIServer) -> None:
    with pytest.raises(NotFoundError) as info:
        api.update(manifest("ports: [{port: 80}]"))
    assert str(info.value) == 'services "s" not found'


def test_update_keeps_server_metadata(api: APIServer) -> None:
    created = api.create(manifest("ports: [{port: 80}]"))
    updated = api.update(manifest("ports: [{port: 81}]"))
    assert updated.metadata.uid == created.metadata.uid
    assert updated.metadata.creation_timestamp == created.metadata.creation_timestamp
    assert updated.metadata.generation == 2


def test_update_status_validates_with_the_status_rules(api: APIServer) -> None:
    svc = api.create(manifest("ports: [{port: 80}]"))
    status = ServiceStatus((LoadBalancerIngress(ip="1.2.3.4"),))
    with pytest.raises(ValidationError) as info:
        api.update_status(replace(svc, status=status))
    assert str(info.value) == (
        'Service "s" is invalid: status.loadBalancer.ingress: Forbidden: '
        "may only be used when `spec.type` is 'LoadBalancer'"
    )


def test_update_status_writes_only_the_status(api: APIServer) -> None:
    lb = api.create(manifest("type: LoadBalancer\nports: [{port: 80}]"))
    status = ServiceStatus((LoadBalancerIngress(ip="1.2.3.4", ip_mode="Proxy"),))
    written = api.update_status(
        replace(lb, spec=replace(lb.spec, selector={"x": "y"}), status=status)
    )
    assert written.spec == lb.spec
    assert written.status == status


def test_deleting_a_service_releases_and_takes_its_endpoints(api: APIServer) -> None:
    svc = api.create(
        manifest("type: LoadBalancer\nexternalTrafficPolicy: Local\nports: [{port: 80}]")
    )
    api.create(Endpoints(ObjectMeta(name="s", namespace="default")))
    assert len(held(api)[1]) == 2
    deleted = api.delete(Service, "default", "s")
    assert deleted.spec == svc.spec
    assert held(api) == (set(), set())
    assert api.find(Endpoints, "default", "s") is None


def test_deleting_a_namespace_deletes_everything_in_it(api: APIServer) -> None:
    api.create(Namespace(ObjectMeta(name="demo")))
    api.create(manifest("type: NodePort\nports: [{port: 80}]", namespace="demo"))
    api.create(replace(pod(), metadata=replace(pod().metadata, namespace="demo")))
    api.delete(Namespace, None, "demo")
    assert api.list(Service, "demo") == []
    assert api.list(Pod, "demo") == []
    assert api.find(Namespace, None, "demo") is None
    assert held(api) == (set(), set())


def test_graceful_pod_deletion_waits_for_the_clock(api: APIServer) -> None:
    created = api.create(pod(grace=30))
    marked = api.delete(Pod, "default", "p")
    assert marked.metadata.deletion_grace_period_seconds == 30
    start = api.clock.now()
    assert marked.metadata.deletion_timestamp == (start + timedelta(seconds=30)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    last = api.store.events()[-1]
    assert last.type is EventType.MODIFIED
    assert last.old == created
    api.clock.advance(29)
    assert api.finalize() == []
    api.clock.advance(1)
    assert [p.metadata.name for p in api.finalize()] == ["p"]
    assert api.find(Pod, "default", "p") is None
    assert api.store.events()[-1].type is EventType.DELETED


def test_default_grace_is_thirty_seconds(api: APIServer) -> None:
    api.create(pod())
    assert api.delete(Pod, "default", "p").metadata.deletion_grace_period_seconds == 30


def test_a_second_delete_may_only_shorten_the_grace(api: APIServer) -> None:
    api.create(pod(grace=30))
    first = api.delete(Pod, "default", "p")
    assert api.delete(Pod, "default", "p", grace_period_seconds=60) == first
    shorter = api.delete(Pod, "default", "p", grace_period_seconds=10)
    assert shorter.metadata.deletion_grace_period_seconds == 10
    api.delete(Pod, "default", "p", grace_period_seconds=0)
    assert api.find(Pod, "default", "p") is None


def test_grace_zero_and_unscheduled_pods_go_at_once(api: APIServer) -> None:
    api.create(pod("a"))
    api.delete(Pod, "default", "a", grace_period_seconds=0)
    api.create(pod("b", node=None))
    api.delete(Pod, "default", "b")
    assert api.list(Pod) == []


def test_other_kinds_are_validated_on_update(api: APIServer) -> None:
    ns = api.get(Namespace, None, "default")
    bad = replace(ns, metadata=replace(ns.metadata, labels={"a b": "c"}))
    with pytest.raises(ValidationError):
        api.update(bad)
    assert api.get(Namespace, None, "default") == ns
