"""Status goes through ``/status``, binding through ``pods/binding``, as on kube-apiserver.

A main-resource update (``kubectl apply``, a controller's spec write) keeps the stored status
for every kind that has one (each registry strategy's PrepareForUpdate); ``update_status``
keeps the stored spec (each status strategy's PrepareForUpdate); ``bind`` is BindingREST.
"""

from __future__ import annotations

import random
import textwrap
from dataclasses import replace
from typing import Any

import pytest

from k8s_service_lab.api import Deployment, Namespace, Node, ObjectMeta, Pod, ReplicaSet, Resource
from k8s_service_lab.api.decode import decode_text
from k8s_service_lab.api.meta import OwnerReference
from k8s_service_lab.api.node import NodeAddress, NodeStatus
from k8s_service_lab.api.pod import PodCondition, PodStatus
from k8s_service_lab.api.service import LoadBalancerIngress, ServiceStatus
from k8s_service_lab.api.workloads import WorkloadStatus
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.controlplane.apiserver import APIServer, ConflictError
from k8s_service_lab.controlplane.controllers import Controller, ControllerManager
from k8s_service_lab.controlplane.controllers.kubelet import Kubelet
from k8s_service_lab.controlplane.controllers.replicaset import ReplicaSetController
from k8s_service_lab.controlplane.controllers.scheduler import Scheduler
from k8s_service_lab.controlplane.controllers.workloads import DeploymentController
from k8s_service_lab.controlplane.store import EventType, Store
from k8s_service_lab.errors import NotFoundError, ValidationError

WORKLOAD = """
metadata: {{name: web, labels: {{app: web}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: c, image: nginx}}]}}
"""

MANIFESTS: dict[str, str] = {
    "Service": "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\n"
    "spec: {{type: LoadBalancer, ports: [{{port: {replicas}}}]}}",
    "Pod": "apiVersion: v1\nkind: Pod\nmetadata: {{name: web, labels: {{app: web}}}}\n"
    "spec: {{containers: [{{name: c, image: nginx, ports: [{{containerPort: {replicas}}}]}}]}}",
    "Deployment": "apiVersion: apps/v1\nkind: Deployment" + WORKLOAD,
    "ReplicaSet": "apiVersion: apps/v1\nkind: ReplicaSet" + WORKLOAD,
    "Node": "apiVersion: v1\nkind: Node\nmetadata: {{name: kind-worker}}\n"
    "spec: {{podCIDR: 10.244.{replicas}.0/24}}",
    "Namespace": "apiVersion: v1\nkind: Namespace\n"
    "metadata: {{name: demo, labels: {{v: '{replicas}'}}}}",
}

#: A status of each kind that differs from anything the server would have stored.
STATUSES: dict[str, Any] = {
    "Service": ServiceStatus((LoadBalancerIngress(ip="172.18.255.200", ip_mode="VIP"),)),
    "Pod": PodStatus(phase="Running", pod_ip="10.244.1.9", pod_ips=("10.244.1.9",)),
    "Deployment": WorkloadStatus(replicas=3, ready_replicas=3, observed_generation=1),
    "ReplicaSet": WorkloadStatus(replicas=2, available_replicas=2, observed_generation=1),
    "Node": NodeStatus((NodeAddress("InternalIP", "172.18.0.3"),)),
    "Namespace": "Terminating",
}


def obj(kind: str, variant: int = 80) -> Resource:
    """The kind's manifest; ``variant`` changes one spec (or label) value."""
    return decode_text(textwrap.dedent(MANIFESTS[kind].format(replicas=variant)))[0]


def status(resource: Resource) -> Any:
    return resource.phase if isinstance(resource, Namespace) else getattr(resource, "status")  # noqa: B009


def with_status(resource: Resource, value: Any) -> Resource:
    if isinstance(resource, Namespace):
        return replace(resource, phase=value)
    return replace(resource, status=value)


@pytest.fixture
def api() -> APIServer:
    server = APIServer(ClusterConfig.default(), seed=3)
    server.ensure_system_namespaces()
    return server


# -- update keeps the stored status ---------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_update_ignores_the_callers_status(api: APIServer, kind: str) -> None:
    created = api.create(obj(kind))
    before = status(created)
    assert before != STATUSES[kind]
    updated = api.update(with_status(obj(kind, 81), STATUSES[kind]))
    assert status(updated) == before
    stored = api.get(type(created), created.metadata.namespace, str(created.metadata.name))
    assert status(stored) == before
    assert stored.metadata.resource_version == updated.metadata.resource_version


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_update_keeps_a_status_written_through_the_subresource(api: APIServer, kind: str) -> None:
    created = api.create(obj(kind))
    written = api.update_status(with_status(created, STATUSES[kind]))
    assert status(written) == STATUSES[kind]
    # A re-apply of the manifest (which carries no status) changes the spec, not the status.
    reapplied = api.update(obj(kind, 81))
    assert status(reapplied) == STATUSES[kind]
    assert reapplied != written


# -- update_status keeps the stored spec ----------------------------------------------------


@pytest.mark.parametrize("kind", sorted(set(MANIFESTS) - {"Namespace"}))
def test_update_status_leaves_the_spec_unchanged(api: APIServer, kind: str) -> None:
    created = api.create(obj(kind))
    other_spec = getattr(obj(kind, 81), "spec")  # noqa: B009
    assert other_spec != getattr(created, "spec")  # noqa: B009
    sent = replace(with_status(created, STATUSES[kind]), spec=other_spec)
    written = api.update_status(sent)
    assert getattr(written, "spec") == getattr(created, "spec")  # noqa: B009
    assert status(written) == STATUSES[kind]
    assert written.metadata.generation == created.metadata.generation


def test_pod_status_update_keeps_owner_references_and_deletion_stamp(api: APIServer) -> None:
    """``podStatusStrategy``: labels may change through /status; owners and deletion may not."""
    owner = OwnerReference("apps/v1", "ReplicaSet", "web-1", "uid-1", controller=True)
    created = api.create(obj("Pod"))
    assert isinstance(created, Pod)
    sent = replace(
        created,
        metadata=replace(
            created.metadata,
            labels={"app": "web", "extra": "x"},
            owner_references=(owner,),
            deletion_timestamp="2026-01-01T00:00:00Z",
        ),
        status=PodStatus(phase="Running"),
    )
    written = api.update_status(sent)
    assert written.metadata.labels == {"app": "web", "extra": "x"}
    assert written.metadata.owner_references == ()
    assert written.metadata.deletion_timestamp is None


def test_deployment_status_update_keeps_the_labels(api: APIServer) -> None:
    """``deploymentStatusStrategy`` resets the labels as well as the spec."""
    created = api.create(obj("Deployment"))
    sent = replace(created, metadata=replace(created.metadata, labels={"app": "other"}))
    assert api.update_status(sent).metadata.labels == {"app": "web"}


def test_update_status_validates_the_metadata(api: APIServer) -> None:
    created = api.create(obj("Pod"))
    sent = replace(created, metadata=replace(created.metadata, labels={"bad key!": "x"}))
    with pytest.raises(ValidationError) as info:
        api.update_status(sent)
    assert str(info.value).startswith('Pod "web" is invalid: metadata.labels: Invalid value:')


def test_store_update_status_writes_only_the_status() -> None:
    store = Store()
    created = store.create(obj("Deployment"))
    assert isinstance(created, Deployment)
    sent = replace(
        created,
        metadata=replace(created.metadata, labels={"x": "y"}),
        spec=replace(created.spec, replicas=9),
        status=WorkloadStatus(replicas=1),
    )
    written = store.update_status(sent)
    assert written.status == WorkloadStatus(replicas=1)
    assert written.spec == created.spec
    assert written.metadata.labels == created.metadata.labels
    with pytest.raises(NotFoundError):
        store.update_status(replace(sent, metadata=replace(sent.metadata, name="gone")))


# -- binding --------------------------------------------------------------------------------


def test_bind_sets_the_node_and_the_scheduled_condition(api: APIServer) -> None:
    created = api.create(obj("Pod"))
    assert isinstance(created, Pod)
    api.update_status(replace(created, status=PodStatus(phase="Pending")))
    since = api.store.resource_version
    bound = api.bind("default", "web", "kind-worker")
    assert bound.spec.node_name == "kind-worker"
    assert bound.status.conditions == (PodCondition("PodScheduled", "True"),)
    assert bound.status.phase == "Pending"  # binding does not touch the phase
    assert [e.type for e in api.store.events(since)] == [EventType.MODIFIED]  # one write


def test_bind_replaces_a_scheduled_condition_where_it_stands(api: APIServer) -> None:
    created = api.create(obj("Pod"))
    assert isinstance(created, Pod)
    conditions = (PodCondition("PodScheduled", "False"), PodCondition("Other", "True"))
    api.update_status(replace(created, status=PodStatus(conditions=conditions)))
    bound = api.bind(None, "web", "kind-worker")
    assert bound.status.conditions == (
        PodCondition("PodScheduled", "True"),
        PodCondition("Other", "True"),
    )


def test_binding_twice_is_a_conflict(api: APIServer) -> None:
    api.create(obj("Pod"))
    api.bind("default", "web", "kind-worker")
    with pytest.raises(ConflictError) as info:
        api.bind("default", "web", "kind-control-plane")
    assert str(info.value) == (
        'Operation cannot be fulfilled on pods/binding "web": '
        'pod web is already assigned to node "kind-worker"'
    )
    assert info.value.reason == "Conflict"
    assert info.value.kubectl_line() == f"Error from server (Conflict): error: {info.value}"
    assert api.get(Pod, "default", "web").spec.node_name == "kind-worker"


def test_binding_a_terminating_pod_is_a_conflict(api: APIServer) -> None:
    created = api.create(obj("Pod"))
    api.store.update(replace(created, metadata=replace(created.metadata, deletion_timestamp="t")))
    with pytest.raises(ConflictError) as info:
        api.bind("default", "web", "kind-worker")
    assert str(info.value).endswith("pod web is being deleted, cannot be assigned to a host")


def test_binding_needs_a_pod_and_a_node_name(api: APIServer) -> None:
    with pytest.raises(NotFoundError) as missing:
        api.bind("default", "nope", "kind-worker")
    assert str(missing.value) == 'pods "nope" not found'
    api.create(obj("Pod"))
    with pytest.raises(ValidationError) as invalid:
        api.bind("default", "web", "")
    assert str(invalid.value) == 'Binding "web" is invalid: target.name: Required value'


def test_scheduler_binds_through_the_binding_subresource(api: APIServer) -> None:
    api.create(Node(ObjectMeta(name="kind-worker")))
    api.create(obj("Pod"))
    scheduler = Scheduler(api)
    scheduler.enqueue_all()
    since = api.store.resource_version
    assert scheduler.process() == 1
    assert len(api.store.events(since)) == 1  # bind is a single write
    pod = api.get(Pod, "default", "web")
    assert pod.spec.node_name == "kind-worker"
    assert pod.status.conditions == (PodCondition("PodScheduled", "True"),)


def test_scheduler_on_a_bare_store_binds_with_a_spec_and_a_status_write() -> None:
    store = Store()
    store.create(Node(ObjectMeta(name="kind-worker")))
    store.create(replace(obj("Pod"), metadata=replace(obj("Pod").metadata, namespace="default")))
    scheduler = Scheduler(store)
    scheduler.enqueue_all()
    scheduler.process()
    pod = store.get(Pod, "default", "web")
    assert pod.spec.node_name == "kind-worker"
    assert pod.status.conditions == (PodCondition("PodScheduled", "True"),)


def test_a_reapplied_replicaset_keeps_what_its_controller_wrote(api: APIServer) -> None:
    """The controllers' status survives ``kubectl apply`` of the same manifest."""
    created = api.create(obj("ReplicaSet", 2))
    assert isinstance(created, ReplicaSet)
    api.update_status(replace(created, status=STATUSES["ReplicaSet"]))
    again = api.update(obj("ReplicaSet", 2))
    assert isinstance(again, ReplicaSet)
    assert again.status == STATUSES["ReplicaSet"]


def test_controllers_write_status_through_the_apiserver(api: APIServer) -> None:
    """Deployment → ReplicaSet → Pods → bound and running, every status via ``/status``;
    re-applying the Deployment afterwards leaves the status the controllers wrote."""
    api.create(
        decode_text(
            "apiVersion: v1\nkind: Node\nmetadata: {name: kind-worker}\n"
            "spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24]}\n"
            "status: {addresses: [{type: InternalIP, address: 172.18.0.3}]}"
        )[0]
    )
    controllers: list[Controller] = [
        DeploymentController(api),
        ReplicaSetController(api, random.Random(0)),
        Scheduler(api),
        Kubelet(api),
    ]
    manager = ControllerManager(api.store, controllers)
    api.create(obj("Deployment", 2))
    manager.run_until_idle()
    deployment = api.get(Deployment, "default", "web")
    assert deployment.status.ready_replicas == 2
    assert all(p.status.phase == "Running" for p in api.list(Pod, "default"))
    reapplied = api.update(obj("Deployment", 2))
    assert isinstance(reapplied, Deployment)
    assert reapplied.status == deployment.status
