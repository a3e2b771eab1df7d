"""The EndpointSlice controller on small clusters built directly in a Store."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest

from k8s_service_lab.api import EndpointSlice, Node, ObjectMeta, Pod, Service
from k8s_service_lab.api.discovery import EndpointHints
from k8s_service_lab.api.pod import Container, ContainerPort, PodCondition, PodSpec, PodStatus
from k8s_service_lab.api.service import ServicePort, ServiceSpec
from k8s_service_lab.controlplane.controllers import ControllerManager
from k8s_service_lab.controlplane.controllers.endpointslice import (
    NAME_ALPHABET,
    EndpointSliceController,
    generate_name,
)
from k8s_service_lab.controlplane.controllers.endpointslice_desired import (
    pod_to_endpoint,
    port_key,
)
from k8s_service_lab.controlplane.controllers.endpointslice_reconcile import desired_slices
from k8s_service_lab.controlplane.store import Store, WatchEvent

NS = "default"


def node(name: str, zone: str | None = None) -> Node:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return Node(ObjectMeta(name=name, labels=labels))


def pod(
    name: str,
    labels: Mapping[str, str],
    ip: str | Sequence[str] | None,
    *,
    node_name: str = "kind-worker",
    ready: bool = True,
    deleting: bool = False,
    phase: str | None = "Running",
    ports: Sequence[ContainerPort] = (),
    hostname: str | None = None,
    subdomain: str | None = None,
) -> Pod:
    ips = (ip,) if isinstance(ip, str) else tuple(ip or ())
    meta = ObjectMeta(
        name=name,
        namespace=NS,
        labels=dict(labels),
        deletion_timestamp="2026-01-01T00:00:30Z" if deleting else None,
    )
    spec = PodSpec(
        containers=(Container("app", ports=tuple(ports)),),
        node_name=node_name,
        hostname=hostname,
        subdomain=subdomain,
    )
    status = PodStatus(
        phase=phase,
        pod_ip=ips[0] if ips else None,
        pod_ips=ips,
        conditions=(PodCondition("Ready", "True" if ready else "False"),),
    )
    return Pod(meta, spec, status)


def service(
    name: str,
    selector: Mapping[str, str] | None,
    ports: Sequence[ServicePort] = (ServicePort(80, name="http", target_port=8080),),
    *,
    families: tuple[str, ...] = ("IPv4",),
    cluster_ip: str | None = "10.96.0.20",
    labels: Mapping[str, str] | None = None,
    **spec: object,
) -> Service:
    meta = ObjectMeta(name=name, namespace=NS, labels=dict(labels or {}))
    return Service(
        meta,
        ServiceSpec(
            selector=selector,
            ports=tuple(ports),
            ip_families=families,
            cluster_ip=cluster_ip,
            **spec,  # type: ignore[arg-type]
        ),
    )


class Cluster:
    """A Store, the controller and a manager; plus a log of slice writes."""

    def __init__(self, max_per_slice: int = 100, zones: bool = False) -> None:
        self.store = Store()
        self.controller = EndpointSliceController(
            self.store, rng=random.Random(7), max_endpoints_per_slice=max_per_slice
        )
        self.manager = ControllerManager(self.store, [self.controller])
        self.writes: list[WatchEvent] = []
        self.store.subscribe(self.writes.append, "endpointslices")
        self.store.create(node("kind-worker", "zone-a" if zones else None))
        self.store.create(node("kind-worker2", "zone-b" if zones else None))

    def apply(self, *objs: Pod | Service | Node) -> None:
        for obj in objs:
            if self.store.find(type(obj), obj.metadata.namespace, obj.metadata.name or ""):
                self.store.update(obj)
            else:
                self.store.create(obj)
        self.writes.clear()
        self.manager.run_until_idle()

    def slices(self, svc: str = "web") -> list[EndpointSlice]:
        return [
            s
            for s in self.store.list(EndpointSlice, NS)
            if s.metadata.labels.get("kubernetes.io/service-name") == svc
        ]

    def ips(self, svc: str = "web") -> list[str]:
        return sorted(a for s in self.slices(svc) for e in s.endpoints for a in e.addresses)


WEB = {"app": "web"}


def endpoint_multiset(slices: Sequence[EndpointSlice]) -> list[tuple[str, object, str]]:
    """(addressType, ports, endpoint) tuples: slices compared up to names and packing."""
    return sorted((s.address_type, port_key(s.ports), repr(e)) for s in slices for e in s.endpoints)


def web_pods(count: int, start: int = 0) -> list[Pod]:
    return [
        pod(f"web-{i:03}", WEB, f"10.244.{i // 250}.{i % 250 + 1}") for i in range(start, count)
    ]


# -- shape ------------------------------------------------------------------------------------


def test_slice_shape_labels_owner_name_ports_and_endpoint() -> None:
    c = Cluster(zones=True)
    c.apply(service("web", WEB, labels={"team": "a"}), pod("web-1", WEB, "10.244.1.7"))
    (eps,) = c.slices()
    svc = c.store.get(Service, NS, "web")
    assert eps.metadata.name is not None
    assert eps.metadata.name.startswith("web-")
    assert len(eps.metadata.name) == len("web-") + 5
    assert set(eps.metadata.name[4:]) <= set(NAME_ALPHABET)
    assert eps.metadata.generate_name == "web-"
    assert dict(eps.metadata.labels) == {
        "team": "a",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    (owner,) = eps.metadata.owner_references
    assert (owner.api_version, owner.kind, owner.name, owner.uid) == (
        "v1",
        "Service",
        "web",
        svc.metadata.uid,
    )
    assert owner.controller is True
    assert owner.block_owner_deletion is True
    assert eps.metadata.annotations == {
        "endpoints.kubernetes.io/last-change-trigger-time": svc.metadata.creation_timestamp
    }
    assert eps.address_type == "IPv4"
    assert [(p.name, p.port, p.protocol) for p in eps.ports] == [("http", 8080, "TCP")]
    (ep,) = eps.endpoints
    p = c.store.get(Pod, NS, "web-1")
    assert ep.addresses == ("10.244.1.7",)
    assert (ep.node_name, ep.zone, ep.hostname, ep.hints) == ("kind-worker", "zone-a", None, None)
    assert ep.target_ref is not None
    assert (ep.target_ref.kind, ep.target_ref.name, ep.target_ref.uid) == (
        "Pod",
        "web-1",
        p.metadata.uid,
    )


def test_unnamed_port_is_written_as_empty_name() -> None:
    c = Cluster()
    c.apply(service("web", WEB, [ServicePort(80)]), pod("web-1", WEB, "10.244.1.7"))
    assert [(p.name, p.port) for p in c.slices()[0].ports] == [("", 80)]


def test_generated_names_cut_long_bases_to_58() -> None:
    name = generate_name("a" * 70 + "-", random.Random(1))
    assert len(name) == 63
    assert name.startswith("a" * 58)


def test_zero_pods_gives_one_placeholder_per_family() -> None:
    c = Cluster()
    c.apply(service("web", WEB, families=("IPv4", "IPv6")))
    assert sorted((s.address_type, s.endpoints, s.ports) for s in c.slices()) == [
        ("IPv4", (), ()),
        ("IPv6", (), ()),
    ]
    c.apply(pod("web-1", WEB, ["10.244.1.7", "fd00:10:244:1::7"]))
    assert c.ips() == ["10.244.1.7", "fd00:10:244:1::7"]
    assert len(c.slices()) == 2  # placeholders reused by name (finalize's create → update)


def test_placeholder_is_not_rewritten_on_resync() -> None:
    c = Cluster()
    c.apply(service("web", WEB))
    c.writes.clear()
    c.controller.sync((NS, "web"))
    assert [e.type.value for e in c.writes] == []


@pytest.mark.parametrize(
    "svc",
    [
        service("web", None),
        service("web", {}),
        service("web", WEB, type="ExternalName", external_name="example.com"),
    ],
    ids=["no-selector", "empty-selector", "external-name"],
)
def test_no_managed_slices_without_selector(svc: Service) -> None:
    c = Cluster()
    c.apply(svc, pod("web-1", WEB, "10.244.1.7"))
    assert c.slices() == []


def test_removing_the_selector_leaves_old_slices() -> None:
    c = Cluster()
    c.apply(service("web", WEB), pod("web-1", WEB, "10.244.1.7"))
    before = c.slices()
    c.apply(service("web", None))
    assert c.slices() == before


def test_headless_label_and_service_label_propagation() -> None:
    c = Cluster()
    c.apply(service("web", WEB, cluster_ip="None"), pod("web-1", WEB, "10.244.1.7"))
    assert c.slices()[0].metadata.labels["service.kubernetes.io/headless"] == ""
    c.apply(service("web", WEB, cluster_ip="None", labels={"tier": "fe"}))
    assert c.slices()[0].metadata.labels["tier"] == "fe"


def test_headless_without_families_gets_both_address_types() -> None:
    c = Cluster()
    c.apply(service("web", WEB, families=(), cluster_ip="None"), pod("web-1", WEB, "10.244.1.7"))
    assert sorted(s.address_type for s in c.slices()) == ["IPv4", "IPv6"]


# -- which pods, which conditions ---------------------------------------------------------------

TRUTH = [
    # ready, deleting, pnr → ready, serving, terminating
    (True, False, False, (True, True, False)),
    (False, False, False, (False, False, False)),
    (True, True, False, (False, True, True)),
    (False, True, False, (False, False, True)),
    (True, False, True, (True, True, False)),
    (False, False, True, (True, False, False)),
    (True, True, True, (True, True, True)),
    (False, True, True, (True, False, True)),
]


@pytest.mark.parametrize(("ready", "deleting", "pnr", "want"), TRUTH)
def test_conditions_truth_table(
    ready: bool, deleting: bool, pnr: bool, want: tuple[bool, bool, bool]
) -> None:
    c = Cluster()
    c.apply(
        service("web", WEB, publish_not_ready_addresses=pnr),
        pod("web-1", WEB, "10.244.1.7", ready=ready, deleting=deleting),
    )
    (ep,) = c.slices()[0].endpoints
    assert (ep.conditions.ready, ep.conditions.serving, ep.conditions.terminating) == want


@pytest.mark.parametrize(
    "p",
    [
        pod("web-1", WEB, None),
        pod("web-1", WEB, "10.244.1.7", phase="Succeeded"),
        pod("web-1", WEB, "10.244.1.7", phase="Failed"),
        pod("web-1", {"app": "other"}, "10.244.1.7"),
    ],
    ids=["no-ip", "succeeded", "failed", "not-selected"],
)
def test_pods_left_out(p: Pod) -> None:
    c = Cluster()
    c.apply(service("web", WEB), p)
    assert c.ips() == []


def test_pods_of_other_namespaces_are_not_selected() -> None:
    c = Cluster()
    other = pod("web-1", WEB, "10.244.1.8")
    c.apply(service("web", WEB), replace(other, metadata=replace(other.metadata, namespace="x")))
    assert c.ips() == []


@pytest.mark.parametrize(
    ("hostname", "subdomain", "want"),
    [("web-0", "web", "web-0"), ("web-0", "other", None), (None, "web", None)],
)
def test_hostname_rule(hostname: str | None, subdomain: str | None, want: str | None) -> None:
    c = Cluster()
    c.apply(
        service("web", WEB, cluster_ip="None"),
        pod("web-1", WEB, "10.244.1.7", hostname=hostname, subdomain=subdomain),
    )
    assert c.slices()[0].endpoints[0].hostname == want


def test_pod_on_unknown_node_waits_for_the_node() -> None:
    c = Cluster()
    c.apply(service("web", WEB), pod("web-1", WEB, "10.244.1.7", node_name="kind-worker3"))
    assert c.ips() == []
    c.apply(node("kind-worker3"))
    assert c.ips() == ["10.244.1.7"]


def test_unknown_node_is_tolerated_with_publish_not_ready() -> None:
    c = Cluster()
    c.apply(
        service("web", WEB, publish_not_ready_addresses=True),
        pod("web-1", WEB, "10.244.1.7", node_name="gone"),
    )
    assert c.slices()[0].endpoints[0].zone is None
    assert c.ips() == ["10.244.1.7"]


# -- ports -------------------------------------------------------------------------------------


def test_named_target_port_resolves_per_pod() -> None:
    c = Cluster()
    sport = ServicePort(80, name="http", target_port="web")
    c.apply(
        service("web", WEB, [sport]),
        pod("web-1", WEB, "10.244.1.1", ports=[ContainerPort(8080, name="web")]),
        pod("web-2", WEB, "10.244.1.2", ports=[ContainerPort(9090, name="web")]),
        pod("web-3", WEB, "10.244.1.3", ports=[ContainerPort(8080, name="web", protocol="UDP")]),
        pod("web-4", WEB, "10.244.1.4"),
    )
    groups = sorted(
        (tuple(p.port for p in s.ports), tuple(e.addresses[0] for e in s.endpoints))
        for s in c.slices()
    )
    assert groups == [
        ((), ("10.244.1.3", "10.244.1.4")),
        ((8080,), ("10.244.1.1",)),
        ((9090,), ("10.244.1.2",)),
    ]


def test_target_port_change_reuses_the_slice_name() -> None:
    c = Cluster()
    c.apply(service("web", WEB), pod("web-1", WEB, "10.244.1.7"))
    (before,) = c.slices()
    c.apply(service("web", WEB, [ServicePort(80, name="http", target_port=9090)]))
    (after,) = c.slices()
    assert after.metadata.name == before.metadata.name
    assert after.ports[0].port == 9090
    assert [e.type.value for e in c.writes] == ["MODIFIED"]


# -- packing -----------------------------------------------------------------------------------


def test_250_pods_make_three_slices_and_one_more_pod_edits_one() -> None:
    c = Cluster()
    c.apply(service("web", WEB), *web_pods(250))
    assert sorted(len(s.endpoints) for s in c.slices()) == [50, 100, 100]
    c.apply(*web_pods(251, 250))
    assert [e.type.value for e in c.writes] == ["MODIFIED"]
    assert sorted(len(s.endpoints) for s in c.slices()) == [51, 100, 100]


def test_full_slices_get_one_new_slice() -> None:
    c = Cluster()
    c.apply(service("web", WEB), *web_pods(200))
    c.apply(*web_pods(201, 200))
    assert [e.type.value for e in c.writes] == ["ADDED"]
    assert sorted(len(s.endpoints) for s in c.slices()) == [1, 100, 100]


def test_removed_pods_leave_holes_and_empty_slices_go() -> None:
    c = Cluster(max_per_slice=2)
    c.apply(service("web", WEB), *web_pods(4))
    for name in ("web-000", "web-001"):
        c.store.delete(Pod, NS, name)
    c.writes.clear()
    c.manager.run_until_idle()
    assert [e.type.value for e in c.writes] == ["DELETED"]
    assert len(c.slices()) == 1


def test_changed_slice_absorbs_new_endpoints_before_new_slices() -> None:
    c = Cluster(max_per_slice=3)
    c.apply(service("web", WEB), *web_pods(5))  # 3 + 2
    c.store.delete(Pod, NS, "web-000")
    c.store.create(web_pods(6, 5)[0])
    c.store.create(web_pods(7, 6)[0])
    c.writes.clear()
    c.manager.run_until_idle()
    assert sorted(len(s.endpoints) for s in c.slices()) == [3, 3]
    assert "ADDED" not in [e.type.value for e in c.writes]


def test_pure_recomputation_matches_the_controller() -> None:
    c = Cluster()
    c.apply(service("web", WEB), *web_pods(130))
    svc = c.store.get(Service, NS, "web")
    nodes = {n.metadata.name or "": n for n in c.store.list(Node)}
    fresh = desired_slices(svc, c.store.list(Pod), nodes)
    assert sorted(len(s.endpoints) for s in fresh) == [30, 100]
    assert endpoint_multiset(fresh) == endpoint_multiset(c.slices())


# -- triggers ----------------------------------------------------------------------------------


def test_pod_label_move_updates_both_services() -> None:
    c = Cluster()
    c.apply(service("web", WEB), service("api", {"app": "api"}), pod("p", WEB, "10.244.1.7"))
    c.apply(pod("p", {"app": "api"}, "10.244.1.7"))
    assert (c.ips("web"), c.ips("api")) == ([], ["10.244.1.7"])


def test_readiness_and_deletion_updates() -> None:
    c = Cluster()
    c.apply(service("web", WEB), pod("p", WEB, "10.244.1.7", ready=False))
    c.apply(pod("p", WEB, "10.244.1.7"))
    assert c.slices()[0].endpoints[0].conditions.ready is True
    c.store.delete(Pod, NS, "p")
    c.manager.run_until_idle()
    assert c.ips() == []
    assert len(c.slices()) == 1


def test_node_zone_change_updates_endpoints() -> None:
    c = Cluster()
    c.apply(service("web", WEB), pod("p", WEB, "10.244.1.7"))
    c.apply(node("kind-worker", "zone-z"))
    assert c.slices()[0].endpoints[0].zone == "zone-z"


def test_a_deleted_managed_slice_comes_back() -> None:
    c = Cluster()
    c.apply(service("web", WEB), pod("p", WEB, "10.244.1.7"))
    (eps,) = c.slices()
    c.store.delete(EndpointSlice, NS, eps.metadata.name or "")
    c.manager.run_until_idle()
    assert c.ips() == ["10.244.1.7"]


def test_unrelated_pod_events_queue_nothing() -> None:
    c = Cluster()
    c.apply(service("web", WEB), pod("p", {"app": "x"}, "10.244.1.7"))
    c.store.update(pod("p", {"app": "y"}, "10.244.1.7"))
    assert not c.controller.pending()


# -- hints -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distribution", "want"),
    [
        ("PreferClose", EndpointHints(("zone-a",))),
        ("PreferSameZone", EndpointHints(("zone-a",))),
        ("PreferSameNode", EndpointHints(("zone-a",), ("kind-worker",))),
        (None, None),
    ],
)
def test_traffic_distribution_hints(distribution: str | None, want: EndpointHints | None) -> None:
    c = Cluster(zones=True)
    c.apply(
        service("web", WEB, traffic_distribution=distribution),
        pod("p", WEB, "10.244.1.7"),
        pod("q", WEB, "10.244.1.8", ready=False),
    )
    by_name = {e.target_ref.name: e for e in c.slices()[0].endpoints if e.target_ref}
    assert by_name["p"].hints == want
    assert by_name["q"].hints is None


def test_hints_removed_when_distribution_goes_away() -> None:
    c = Cluster(zones=True)
    c.apply(service("web", WEB, traffic_distribution="PreferClose"), pod("p", WEB, "10.244.1.7"))
    c.apply(service("web", WEB))
    assert c.slices()[0].endpoints[0].hints is None


def test_pod_to_endpoint_without_node_has_no_zone() -> None:
    ep = pod_to_endpoint(pod("p", WEB, "10.244.1.7"), None, service("web", WEB), "IPv6")
    assert ep.addresses == ()
    assert ep.zone is None
