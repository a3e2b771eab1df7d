"""CategorizeEndpoints (pkg/proxy/topology.go) as a table: policy, readiness, hints."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from k8s_service_lab.proxy.model import EndpointInfo, ServicePortInfo, ServicePortName
from k8s_service_lab.proxy.topology import (
    ZONE_LABEL,
    categorize_endpoints,
    topology_mode_from_hints,
)

NODE = "node-a"


def E(
    n: int,
    *,
    local: bool = False,
    ready: bool = True,
    serving: bool = True,
    term: bool = False,
    zones: tuple[str, ...] = (),
    nodes: tuple[str, ...] = (),
) -> EndpointInfo:
    return EndpointInfo(
        f"10.0.0.{n}", 80, local, ready, serving, term, frozenset(zones), frozenset(nodes)
    )


def service(*, itp: bool = False, etp: bool = False) -> ServicePortInfo:
    return ServicePortInfo(
        ServicePortName("ns", "svc", None, "TCP"),
        ipaddress.ip_address("172.30.0.1"),
        80,
        "TCP",
        node_port=30080 if etp else None,
        external_policy_local=etp,
        internal_policy_local=itp,
    )


@dataclass(frozen=True)
class Case:
    name: str
    endpoints: tuple[EndpointInfo, ...]
    cluster: tuple[int, ...]
    local: tuple[int, ...]
    reachable: tuple[int, ...]
    has_any: bool
    itp: bool = False
    etp: bool = False
    zone: str | None = "zone-a"
    same_node_gate: bool = True


CASES = [
    Case("no endpoints", (), (), (), (), False),
    Case("cluster: all ready", (E(1), E(2, local=True)), (1, 2), (), (1, 2), True),
    Case("cluster: not-ready excluded", (E(1), E(2, ready=False)), (1,), (), (1,), True),
    Case(
        "cluster: terminating fallback when nothing is ready",
        (
            E(1, ready=False, term=True),
            E(2, ready=False, serving=False, term=True),
            E(3, ready=False),
        ),
        (1,),
        (),
        (1,),
        True,
    ),
    Case(
        "cluster: ready beats serving-terminating",
        (E(1, ready=False, term=True), E(2)),
        (2,),
        (),
        (2,),
        True,
    ),
    Case(
        "cluster: nothing usable anywhere",
        (E(1, ready=False), E(2, ready=False, serving=False, term=True)),
        (),
        (),
        (),
        False,
    ),
    Case(
        "zone hints: all hinted, one for our zone",
        (E(1, zones=("zone-a",)), E(2, zones=("zone-b",)), E(3, zones=("zone-a", "zone-b"))),
        (1, 3),
        (),
        (1, 3),
        True,
    ),
    Case(
        "zone hints: none for our zone, topology ignored",
        (E(1, zones=("zone-b",)), E(2, zones=("zone-c",))),
        (1, 2),
        (),
        (1, 2),
        True,
    ),
    Case(
        "zone hints: one ready endpoint lacks hints, topology ignored",
        (E(1, zones=("zone-a",)), E(2)),
        (1, 2),
        (),
        (1, 2),
        True,
    ),
    Case(
        "zone hints: a not-ready endpoint without hints does not matter",
        (E(1, zones=("zone-a",)), E(2, zones=("zone-b",)), E(3, ready=False)),
        (1,),
        (),
        (1,),
        True,
    ),
    Case(
        "zone hints: node without a zone label, topology ignored",
        (E(1, zones=("zone-a",)), E(2, zones=("zone-b",))),
        (1, 2),
        (),
        (1, 2),
        True,
        zone=None,
    ),
    Case(
        "node hints: PreferSameNode",
        (E(1, nodes=(NODE,), zones=("zone-a",)), E(2, nodes=("node-b",), zones=("zone-a",))),
        (1,),
        (),
        (1,),
        True,
    ),
    Case(
        "node hints: gate off falls back to zone hints",
        (E(1, nodes=(NODE,), zones=("zone-a",)), E(2, nodes=("node-b",), zones=("zone-a",))),
        (1, 2),
        (),
        (1, 2),
        True,
        same_node_gate=False,
    ),
    Case(
        "node hints: none for this node, zone hints used",
        (E(1, nodes=("node-b",), zones=("zone-b",)), E(2, nodes=("node-c",), zones=("zone-a",))),
        (2,),
        (),
        (2,),
        True,
    ),
    Case(
        "topology never applies to the terminating fallback",
        (E(1, ready=False, term=True, zones=("zone-b",)), E(2, ready=False, term=True)),
        (1, 2),
        (),
        (1, 2),
        True,
    ),
    Case(
        "iTP Local: local ready only",
        (E(1, local=True), E(2), E(3, local=True, ready=False)),
        (),
        (1,),
        (1,),
        True,
        itp=True,
    ),
    Case(
        "iTP Local: no local endpoints, remote ones still count as 'any'",
        (E(1), E(2)),
        (),
        (),
        (),
        True,
        itp=True,
    ),
    Case(
        "iTP Local: local serving-terminating fallback",
        (E(1, local=True, ready=False, term=True), E(2)),
        (),
        (1,),
        (1,),
        True,
        itp=True,
    ),
    Case(
        "iTP Local: only a remote serving-terminating endpoint",
        (E(1, ready=False, term=True),),
        (),
        (),
        (),
        True,
        itp=True,
    ),
    Case(
        "iTP Local: nothing usable anywhere",
        (E(1, local=True, ready=False), E(2, ready=False, serving=False, term=True)),
        (),
        (),
        (),
        False,
        itp=True,
    ),
    Case(
        "iTP Local ignores topology hints",
        (E(1, local=True, zones=("zone-b",)), E(2, zones=("zone-a",))),
        (),
        (1,),
        (1,),
        True,
        itp=True,
    ),
    Case(
        "eTP Local: cluster is every ready endpoint, local a subset",
        (E(1, local=True), E(2), E(3, ready=False)),
        (1, 2),
        (1,),
        (1, 2),
        True,
        etp=True,
    ),
    Case(
        "eTP Local: no local endpoints",
        (E(1), E(2)),
        (1, 2),
        (),
        (1, 2),
        True,
        etp=True,
    ),
    Case(
        "eTP Local: local terminating fallback joins the reachable union",
        (E(1, local=True, ready=False, term=True), E(2)),
        (2,),
        (1,),
        (1, 2),
        True,
        etp=True,
    ),
    Case(
        "eTP Local with zone hints: a local endpoint outside the zone is still reachable",
        (E(1, local=True, zones=("zone-b",)), E(2, zones=("zone-a",))),
        (2,),
        (1,),
        (1, 2),
        True,
        etp=True,
    ),
    Case(
        "iTP and eTP Local: cluster still used for external short-circuit",
        (E(1, local=True), E(2)),
        (1, 2),
        (1,),
        (1, 2),
        True,
        itp=True,
        etp=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_categorize_endpoints(case: Case) -> None:
    labels = {} if case.zone is None else {ZONE_LABEL: case.zone}
    got = categorize_endpoints(
        case.endpoints,
        service(itp=case.itp, etp=case.etp),
        NODE,
        labels,
        prefer_same_node=case.same_node_gate,
    )

    def ids(eps: tuple[EndpointInfo, ...]) -> tuple[int, ...]:
        return tuple(int(e.ip.rsplit(".", 1)[1]) for e in eps)

    assert (ids(got.cluster), ids(got.local), ids(got.all_reachable), got.has_any) == (
        case.cluster,
        case.local,
        case.reachable,
        case.has_any,
    )


def test_result_unpacks_like_upstream_four_values() -> None:
    cluster, local, reachable, has_any = categorize_endpoints((E(1),), service(), NODE, {})
    assert (len(cluster), local, len(reachable), has_any) == (1, (), 1, True)


def test_topology_mode_needs_ready_endpoints() -> None:
    assert topology_mode_from_hints((E(1, ready=False, zones=("zone-a",)),), NODE, "zone-a") is None
    assert topology_mode_from_hints((E(1, zones=("zone-a",)),), NODE, "zone-a") == "PreferSameZone"
    assert topology_mode_from_hints((E(1, nodes=(NODE,)),), NODE, None) == "PreferSameNode"
