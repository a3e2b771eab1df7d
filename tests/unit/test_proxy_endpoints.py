"""EndpointSlice merging as EndpointSliceCache does it, and the endpoints change tracker."""

from __future__ import annotations

from k8s_service_lab.api.discovery import (
    Endpoint,
    EndpointConditions,
    EndpointHints,
    EndpointPort,
    EndpointSlice,
)
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.proxy.endpointchanges import EndpointsChangeTracker, endpoints_from_slices
from k8s_service_lab.proxy.model import EndpointInfo, ServiceName, ServicePortName

HTTP = ServicePortName("default", "web", "http", "TCP")


def ep(
    address: str,
    node: str | None = "kind-worker2",
    ready: bool | None = True,
    serving: bool | None = None,
    terminating: bool | None = None,
    hints: EndpointHints | None = None,
) -> Endpoint:
    return Endpoint(
        (address,), EndpointConditions(ready, serving, terminating), node_name=node, hints=hints
    )


def eps_slice(
    name: str,
    *endpoints: Endpoint,
    ports: tuple[EndpointPort, ...] = (EndpointPort("http", "TCP", 8080),),
    address_type: str = "IPv4",
    service: str | None = "web",
) -> EndpointSlice:
    labels = {"kubernetes.io/service-name": service} if service else {}
    return EndpointSlice(
        ObjectMeta(name=name, namespace="default", labels=labels), address_type, endpoints, ports
    )


def merged(*slices: EndpointSlice, family: str = "IPv4") -> dict[ServicePortName, list[str]]:
    got = endpoints_from_slices(slices, "kind-worker", family)
    return {name: [e.endpoint for e in eps] for name, eps in got.items()}


def test_endpoints_are_sorted_as_strings_not_numbers() -> None:
    s = eps_slice("web-a", ep("10.244.1.2"), ep("10.244.1.10"), ep("10.244.1.1"))
    assert merged(s) == {HTTP: ["10.244.1.10:8080", "10.244.1.1:8080", "10.244.1.2:8080"]}


def test_conditions_default_as_upstream() -> None:
    s = eps_slice(
        "web-a",
        ep("10.244.1.2", node="kind-worker", ready=None),
        ep("10.244.1.3", ready=False, serving=True, terminating=True),
        ep("10.244.1.4", node=None, ready=False, serving=False),
    )
    got = endpoints_from_slices([s], "kind-worker", "IPv4")[HTTP]
    assert got == (
        EndpointInfo("10.244.1.2", 8080, is_local=True),
        EndpointInfo("10.244.1.3", 8080, ready=False, terminating=True),
        EndpointInfo("10.244.1.4", 8080, ready=False, serving=False),
    )


def test_same_ip_port_in_two_slices_is_kept_once_preferring_non_terminating() -> None:
    old = eps_slice("web-a", ep("10.244.1.2", ready=False, terminating=True))
    new = eps_slice("web-b", ep("10.244.1.2", node="kind-worker"), ep("10.244.1.3"))
    for order in ((old, new), (new, old)):
        got = endpoints_from_slices(order, "kind-worker", "IPv4")[HTTP]
        assert [(e.endpoint, e.terminating, e.is_local) for e in got] == [
            ("10.244.1.2:8080", False, True),
            ("10.244.1.3:8080", False, False),
        ]


def test_ports_merge_across_slices_and_bad_ports_are_ignored() -> None:
    a = eps_slice("web-a", ep("10.244.1.2"))
    b = eps_slice(
        "web-b",
        ep("10.244.2.2"),
        ports=(
            EndpointPort("http", "TCP", 8080),
            EndpointPort(None, "TCP", 9090),  # nil name
            EndpointPort("metrics", "TCP", None),  # nil port
            EndpointPort("", "UDP", 53),  # unnamed port: ns/svc
        ),
    )
    got = merged(a, b)
    assert got == {
        HTTP: ["10.244.1.2:8080", "10.244.2.2:8080"],
        ServicePortName("default", "web", None, "UDP"): ["10.244.2.2:53"],
    }


def test_only_the_family_of_the_proxier_and_the_first_address_count() -> None:
    v6 = eps_slice("web-v6", ep("fd00:10:244:1::2"), address_type="IPv6")
    v4 = eps_slice("web-v4", Endpoint(("10.244.1.2", "10.244.1.99")))
    assert merged(v4, v6, family="IPv6") == {HTTP: ["[fd00:10:244:1::2]:8080"]}
    assert merged(v4, v6, family="IPv4") == {HTTP: ["10.244.1.2:8080"]}


def test_hints_are_read_and_node_hints_obey_the_gate() -> None:
    hints = EndpointHints(for_zones=("zone-a",), for_nodes=("kind-worker",))
    s = eps_slice("web-a", ep("10.244.1.2", hints=hints))
    on = endpoints_from_slices([s], "kind-worker", "IPv4")[HTTP][0]
    off = endpoints_from_slices([s], "kind-worker", "IPv4", node_hints=False)[HTTP][0]
    assert on.zone_hints == frozenset({"zone-a"})
    assert on.node_hints == frozenset({"kind-worker"})
    assert off.node_hints == frozenset()


def test_tracker_ignores_foreign_and_unlabelled_slices() -> None:
    tracker = EndpointsChangeTracker("kind-worker", "IPv4")
    assert not tracker.update(eps_slice("web-v6", ep("fd00::2"), address_type="IPv6"))
    assert not tracker.update(
        eps_slice("web-fqdn", Endpoint(("example.com",)), address_type="FQDN")
    )
    assert not tracker.update(eps_slice("orphan", ep("10.244.1.2"), service=None))
    assert not tracker.update(eps_slice("web-a", ep("10.244.1.2")), remove=True)  # unknown
    assert tracker.pending() == frozenset()


def test_one_endpoint_change_names_only_its_service_ports() -> None:
    tracker = EndpointsChangeTracker("kind-worker", "IPv4")
    web = eps_slice("web-a", ep("10.244.1.2"), ep("10.244.2.2"))
    api = eps_slice("api-a", ep("10.244.1.5"), service="api")
    tracker.update(web)
    tracker.update(api)
    first = tracker.apply({})
    assert first.updated_services == {ServiceName("default", "web"), ServiceName("default", "api")}

    flipped = eps_slice("web-a", ep("10.244.1.2"), ep("10.244.2.2", ready=False))
    assert not tracker.update(web)  # same as applied: not a change
    assert tracker.update(flipped)
    second = tracker.apply(first.endpoints_map)
    assert second.updated_services == {ServiceName("default", "web")}
    assert second.changed_ports == (HTTP,)
    assert [e.ready for e in second.endpoints_map[HTTP]] == [True, False]
    api_port = ServicePortName("default", "api", "http", "TCP")
    assert second.endpoints_map[api_port] == first.endpoints_map[api_port]


def test_removing_the_last_slice_removes_the_ports() -> None:
    tracker = EndpointsChangeTracker("kind-worker", "IPv4")
    a, b = eps_slice("web-a", ep("10.244.1.2")), eps_slice("web-b", ep("10.244.2.2"))
    tracker.update(a)
    tracker.update(b)
    synced = tracker.apply({})
    tracker.update(a, remove=True)
    half = tracker.apply(synced.endpoints_map)
    assert [e.endpoint for e in half.endpoints_map[HTTP]] == ["10.244.2.2:8080"]
    tracker.update(b, remove=True)
    gone = tracker.apply(half.endpoints_map)
    assert gone.endpoints_map == {}
    assert gone.changed_ports == (HTTP,)


def test_pending_update_replaced_by_a_second_one_before_the_sync() -> None:
    tracker = EndpointsChangeTracker("kind-worker", "IPv4")
    a = eps_slice("web-a", ep("10.244.1.2"))
    tracker.update(a)
    synced = tracker.apply({})
    b = eps_slice("web-a", ep("10.244.1.3"))
    assert tracker.update(b)
    assert not tracker.update(b)  # equal to what is pending
    assert tracker.update(a)  # differs from pending (upstream compares with pending first)
    again = tracker.apply(synced.endpoints_map)
    assert again.endpoints_map == synced.endpoints_map
    assert again.updated_services == {ServiceName("default", "web")}
