"""The legacy Endpoints controller: subsets, readiness, terminating Pods, truncation."""

from __future__ import annotations

import pytest

from k8s_service_lab.api import Endpoints, Pod, Service
from k8s_service_lab.api.pod import ContainerPort
from k8s_service_lab.api.service import ServicePort
from k8s_service_lab.controlplane.controllers import ControllerManager
from k8s_service_lab.controlplane.controllers.endpoints import (
    ANNOTATION_OVER_CAPACITY,
    EndpointsController,
    endpoint_subsets,
)
from k8s_service_lab.controlplane.store import Store
from tests.unit.test_endpointslice import NS, TRUTH, WEB, pod, service


def _cluster() -> tuple[Store, ControllerManager]:
    store = Store()
    return store, ControllerManager(store, [EndpointsController(store)])


@pytest.mark.parametrize(("ready", "deleting", "pnr", "_"), TRUTH)
def test_truth_table(ready: bool, deleting: bool, pnr: bool, _: object) -> None:
    svc = service("web", WEB, publish_not_ready_addresses=pnr)
    subsets, _t = endpoint_subsets(
        svc, [pod("p", WEB, "10.244.1.7", ready=ready, deleting=deleting)]
    )
    where = (
        "omitted" if not subsets else ("addresses" if subsets[0].addresses else "notReadyAddresses")
    )
    if pnr:
        assert where == "addresses"
    elif deleting:
        assert where == "omitted"
    else:
        assert where == ("addresses" if ready else "notReadyAddresses")


def test_object_labels_annotation_and_deletion() -> None:
    store, manager = _cluster()
    store.create(service("web", WEB, cluster_ip="None", labels={"team": "a"}))
    store.create(pod("p", WEB, "10.244.1.7", hostname="p", subdomain="web"))
    manager.run_until_idle()
    ep = store.get(Endpoints, NS, "web")
    svc = store.get(Service, NS, "web")
    assert dict(ep.metadata.labels) == {"team": "a", "service.kubernetes.io/headless": ""}
    assert ep.metadata.annotations == {
        "endpoints.kubernetes.io/last-change-trigger-time": svc.metadata.creation_timestamp
    }
    (address,) = ep.subsets[0].addresses
    assert (address.ip, address.hostname, address.node_name) == ("10.244.1.7", "p", "kind-worker")
    assert address.target_ref is not None
    assert address.target_ref.name == "p"
    store.delete(Service, NS, "web")
    manager.run_until_idle()
    assert store.find(Endpoints, NS, "web") is None


def test_selectorless_service_gets_no_endpoints() -> None:
    store, manager = _cluster()
    store.create(service("web", None))
    manager.run_until_idle()
    assert store.find(Endpoints, NS, "web") is None


def test_subsets_grouped_by_ports() -> None:
    svc = service("web", WEB, [ServicePort(80, name="http", target_port="web")])
    pods = [
        pod("a", WEB, "10.244.1.1", ports=[ContainerPort(8080, name="web")]),
        pod("b", WEB, "10.244.1.2", ports=[ContainerPort(8080, name="web")]),
        pod("c", WEB, "10.244.1.3", ports=[ContainerPort(9090, name="web")]),
        pod("d", WEB, "10.244.1.4"),
    ]
    subsets, truncated = endpoint_subsets(svc, pods)
    assert not truncated
    assert [([a.ip for a in s.addresses], [p.port for p in s.ports]) for s in subsets] == [
        (["10.244.1.1", "10.244.1.2"], [8080]),
        (["10.244.1.3"], [9090]),
    ]


def test_truncation_at_1000_prefers_ready() -> None:
    pods = [
        pod(f"p{i:04}", WEB, f"10.244.{i // 250}.{i % 250 + 1}", ready=i < 900) for i in range(1100)
    ]
    subsets, truncated = endpoint_subsets(service("web", WEB), pods)
    assert truncated
    assert sum(len(s.addresses) for s in subsets) == 900
    assert sum(len(s.not_ready_addresses) for s in subsets) == 100
    store, manager = _cluster()
    store.create(service("web", WEB))
    for p in pods:
        store.create(p)
    manager.run_until_idle()
    ep = store.get(Endpoints, NS, "web")
    assert ep.metadata.annotations[ANNOTATION_OVER_CAPACITY] == "truncated"
    for p in pods[1000:]:
        store.delete(Pod, NS, p.metadata.name or "")
    manager.run_until_idle()
    assert ANNOTATION_OVER_CAPACITY not in store.get(Endpoints, NS, "web").metadata.annotations


def test_no_write_when_nothing_changes() -> None:
    store, manager = _cluster()
    store.create(service("web", WEB))
    store.create(pod("p", WEB, "10.244.1.7"))
    manager.run_until_idle()
    version = store.resource_version
    store.update(pod("p", WEB, "10.244.1.7", hostname="h"))  # hostname without subdomain
    manager.run_until_idle()
    assert store.resource_version == version + 1
