"""Property: after any sequence of events, slices equal a from-scratch recomputation."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.api import EndpointSlice, Node, Pod, Service
from k8s_service_lab.api.pod import ContainerPort, PodCondition
from k8s_service_lab.api.service import ServicePort
from k8s_service_lab.controlplane.controllers.endpointslice_reconcile import desired_slices
from k8s_service_lab.controlplane.podindex import service_selector
from tests.unit.test_endpointslice import NS, Cluster, endpoint_multiset, node, pod, service

VALUES = st.sampled_from(["a", "b"])
LABELS = st.one_of(
    st.fixed_dictionaries({"app": VALUES}),
    st.fixed_dictionaries({"app": VALUES, "tier": VALUES}),
    st.just({}),
)
PORTS = st.sampled_from(
    [
        (ServicePort(80, name="http", target_port=8080),),
        (ServicePort(80, name="http", target_port="web"),),
        (ServicePort(80, name="http", target_port="web"), ServicePort(81, name="m", target_port=9)),
    ]
)
POD_EVENT = st.tuples(
    st.just("pod"),
    st.integers(0, 7),
    LABELS,
    st.booleans(),  # ready
    st.booleans(),  # deleting
    st.sampled_from(["Running", "Succeeded", None]),
    st.sampled_from(["kind-worker", "kind-worker2", "kind-worker3"]),
    st.sampled_from([None, 8080, 8081]),  # container port named "web"
    st.booleans(),  # has an IP
)
SERVICE_EVENT = st.tuples(
    st.just("svc"),
    st.integers(0, 2),
    st.one_of(st.none(), LABELS),
    PORTS,
    st.booleans(),  # publishNotReadyAddresses
    st.sampled_from([("IPv4",), ("IPv4", "IPv6")]),
    st.sampled_from([None, "PreferClose"]),
)
DELETE_EVENT = st.tuples(st.sampled_from(["delpod", "delsvc"]), st.integers(0, 7))
NODE_EVENT = st.tuples(
    st.just("node"), st.sampled_from(["kind-worker", "kind-worker2"]), st.text("xy", max_size=1)
)
#: Small edits of one existing Pod: flip readiness, start deleting, move labels.
EDIT_EVENT = st.tuples(st.sampled_from(["ready", "deleting", "relabel"]), st.integers(0, 7), LABELS)
EVENTS = st.lists(
    st.one_of(POD_EVENT, SERVICE_EVENT, DELETE_EVENT, NODE_EVENT, EDIT_EVENT, EDIT_EVENT),
    max_size=30,
)


def _apply(c: Cluster, event: tuple[object, ...]) -> None:
    kind = event[0]
    if kind == "pod":
        _, i, labels, ready, deleting, phase, where, web, has_ip = event
        assert isinstance(i, int)
        assert isinstance(labels, dict)
        assert isinstance(where, str)
        ports = [ContainerPort(web, name="web")] if isinstance(web, int) else []
        ips = [f"10.244.1.{i + 1}", f"fd00::{i + 1}"] if has_ip else None
        c.apply(
            pod(
                f"p{i}",
                labels,
                ips,
                node_name=where,
                ready=bool(ready),
                deleting=bool(deleting),
                phase=phase if isinstance(phase, str) else None,
                ports=ports,
            )
        )
    elif kind == "svc":
        _, i, selector, ports, pnr, families, distribution = event
        c.apply(
            service(
                f"s{i}",
                selector if isinstance(selector, dict) else None,
                ports,  # type: ignore[arg-type]
                families=families,
                publish_not_ready_addresses=pnr,  # type: ignore[arg-type]
                traffic_distribution=distribution,
            )
        )
    elif kind in ("ready", "deleting", "relabel"):
        old = c.store.find(Pod, NS, f"p{event[1]}")
        if old is None:
            return
        if kind == "ready":
            ready = "False" if old.status.ready else "True"
            new = replace(
                old, status=replace(old.status, conditions=(PodCondition("Ready", ready),))
            )
        elif kind == "deleting":
            stamp = None if old.metadata.deletion_timestamp else "2026-01-01T00:01:00Z"
            new = replace(old, metadata=replace(old.metadata, deletion_timestamp=stamp))
        else:
            labels = event[2]
            assert isinstance(labels, dict)
            new = replace(old, metadata=replace(old.metadata, labels=labels))
        c.apply(new)
    elif kind in ("delpod", "delsvc"):
        cls, name = (Pod, f"p{event[1]}") if kind == "delpod" else (Service, f"s{event[1]}")
        if c.store.find(cls, NS, name) is not None:
            c.store.delete(cls, NS, name)
            c.manager.run_until_idle()
    else:
        name, zone = event[1], event[2]
        assert isinstance(name, str)
        assert isinstance(zone, str)
        c.apply(node(name, zone or None))


@settings(database=None, max_examples=200, deadline=None)
@given(EVENTS, st.sampled_from([1, 2, 100]))
def test_slices_match_a_from_scratch_recomputation(
    events: list[tuple[object, ...]], size: int
) -> None:
    c = Cluster(max_per_slice=size)
    c.apply(service("s0", {"app": "a"}), service("s1", {"app": "b", "tier": "a"}))
    c.apply(
        *(pod(f"p{i}", {"app": "ab"[i % 2], "tier": "a"}, f"10.244.1.{i + 1}") for i in range(6))
    )
    for event in events:
        _apply(c, event)
    nodes = {n.metadata.name or "": n for n in c.store.list(Node)}
    pods = c.store.list(Pod, NS)
    for svc in c.store.list(Service, NS):
        selector = service_selector(svc)
        if selector is None:
            continue
        name = svc.metadata.name or ""
        selected = [
            p for p in pods if all(p.metadata.labels.get(k) == v for k, v in selector.items())
        ]
        want = desired_slices(svc, selected, nodes, max_endpoints_per_slice=size)
        have = c.slices(name)
        assert endpoint_multiset(have) == endpoint_multiset(want)
        assert all(len(s.endpoints) <= size for s in have)
        assert {s.address_type for s in have} == set(svc.spec.ip_families)
        assert all(s.metadata.owner_references[0].uid == svc.metadata.uid for s in have)
        assert not c.controller.pending()
    assert all(isinstance(s, EndpointSlice) for s in c.store.list(EndpointSlice))
