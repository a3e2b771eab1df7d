"""The allocation step of a Service create (sheet §2.5–2.7, §3.2–3.4, §4.4 error ordering).

Every failure must come with the apiserver's exact text and leave the allocators as they were.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest

from k8s_service_lab.allocators import ServiceAllocations, Transaction
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
from k8s_service_lab.config import ClusterConfig, PortRange, parse_config
from k8s_service_lab.errors import AllocationError, ServiceLabError, ValidationError

DUAL = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {ipFamily: dual}\n"
HTTP = ServicePort(80, protocol="TCP", target_port=80)


def service(name: str = "web", **spec: Any) -> Service:
    """A Service as v1 defaulting leaves it (type, protocol and targetPort filled in)."""
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("selector", {"app": name})
    spec.setdefault("ports", (HTTP,))
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("external_traffic_policy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocate_load_balancer_node_ports", True)
    return Service(ObjectMeta(name=name, namespace="default"), ServiceSpec(**spec))


def ports(*specs: tuple[int, str, int | None]) -> tuple[ServicePort, ...]:
    return tuple(
        ServicePort(port, name=f"p{i}", protocol=proto, target_port=port, node_port=node_port)
        for i, (port, proto, node_port) in enumerate(specs)
    )


def held(allocations: ServiceAllocations) -> tuple[object, ...]:
    """Everything the allocators hold, to compare before and after a failure."""
    return (
        *(a.used() for a in allocations.ip_allocators.values()),
        allocations.node_ports.used(),
    )


@pytest.fixture
def single() -> ServiceAllocations:
    return ServiceAllocations(ClusterConfig.default(), random.Random(7))


@pytest.fixture
def dual() -> ServiceAllocations:
    return ServiceAllocations(parse_config(DUAL), random.Random(7))


def create(allocations: ServiceAllocations, svc: Service) -> Service:
    stored, txn = allocations.allocate_for_create(svc)
    txn.commit()
    return stored


def rejected(allocations: ServiceAllocations, svc: Service, error: type[ServiceLabError]) -> str:
    """The error text of a refused create, checking that nothing stayed held."""
    before = held(allocations)
    with pytest.raises(error) as err:
        allocations.allocate_for_create(svc)
    assert held(allocations) == before
    return str(err.value)


# --- ClusterIPs (§2.5, §4.4 cases 13 and 14) -----------------------------------------------


def test_a_dynamic_cluster_ip_is_picked_from_the_upper_band(single):
    stored = create(single, service())
    spec = stored.spec
    assert spec.cluster_ip == spec.cluster_ips[0]
    assert ipaddress.ip_address(spec.cluster_ip) > ipaddress.ip_address("10.96.1.0")
    assert (spec.ip_families, spec.ip_family_policy) == (("IPv4",), "SingleStack")
    assert ipaddress.ip_address(spec.cluster_ip) in single.ip_allocators["IPv4"]


def test_cluster_ip_alone_becomes_cluster_ips(single):
    stored = create(single, service(cluster_ip="10.96.0.10"))
    assert (stored.spec.cluster_ip, stored.spec.cluster_ips) == ("10.96.0.10", ("10.96.0.10",))


def test_case_13_cluster_ip_in_use(single):
    create(single, service("dns", cluster_ip="10.96.0.10"))
    assert rejected(single, service(cluster_ip="10.96.0.10"), ValidationError) == (
        'Service "web" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.10"]: '
        "failed to allocate IP 10.96.0.10: provided IP is already allocated"
    )


@pytest.mark.parametrize("requested", ["1.1.1.1", "10.97.0.1", "10.96.0.0", "10.96.255.255"])
def test_case_14_cluster_ip_out_of_range(single, requested):
    # v1.34's ServiceCIDR allocator: no ServiceCIDR "contains" the IP, network and broadcast
    # addresses included, so the error is the mismatched-network one.
    assert rejected(single, service(cluster_ip=requested), ValidationError) == (
        f'Service "web" is invalid: spec.clusterIPs: Invalid value: ["{requested}"]: '
        f"failed to allocate IP {requested}: the provided network does not match the current range"
    )


def test_the_requested_text_is_kept_as_written(single):
    stored = create(single, service(cluster_ip="010.096.000.010"))  # ParseIPSloppy reads decimal
    assert stored.spec.cluster_ips == ("010.096.000.010",)
    assert single.ip_allocators["IPv4"].has(ipaddress.ip_address("10.96.0.10"))


def test_a_full_service_range_is_a_500():
    allocations = ServiceAllocations([ipaddress.ip_network("10.96.0.0/29")], random.Random(0))
    for i in range(6):
        create(allocations, service(f"s{i}"))
    assert rejected(allocations, service(), AllocationError) == (
        "Internal error occurred: failed to allocate a serviceIP: range is full"
    )


# --- IP families (§2.6, §4.4 cases 30 and 31) ----------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {"ip_family_policy": "RequireDualStack"},
            'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": '
            "this cluster is not configured for dual-stack services",
            id="case-30-require-dual-stack",
        ),
        pytest.param(
            {"ip_families": ("IPv6",)},
            'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster',
            id="case-31-ipv6-family",
        ),
        pytest.param(
            {"ip_families": ("IPv6",), "ip_family_policy": "RequireDualStack"},
            '[spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not '
            'configured for dual-stack services, spec.ipFamilies[0]: Invalid value: "IPv6": '
            "not configured on this cluster]",
            id="both-at-once",
        ),
        pytest.param(
            {"cluster_ip": "fd00:10:96::1"},
            'spec.clusterIPs[0]: Invalid value: ["fd00:10:96::1"]: IPv6 is not configured on this cluster',
            id="ipv6-cluster-ip",
        ),
        pytest.param(
            {"cluster_ip": "10.96.0.300"},
            'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, '
            "(e.g. 10.9.8.7 or 2001:db8::ffff)",
            id="case-16-invalid-ip",
        ),
        pytest.param(
            {"cluster_ips": ("10.96.0.10",)},
            'spec.clusterIPs: Invalid value: ["10.96.0.10"]: must be empty when `clusterIP` is not specified',
            id="plural-without-singular",
        ),
        pytest.param(
            {"cluster_ip": "10.96.0.10", "cluster_ips": ("10.96.0.11",)},
            'spec.clusterIPs: Invalid value: ["10.96.0.11"]: first value must match `clusterIP`',
            id="mismatch",
        ),
        pytest.param(
            {"ip_families": ("IPv5",)},
            'spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"',
            id="unsupported-family",
        ),
        pytest.param(
            {"ip_families": ("IPv4", "IPv4"), "ip_family_policy": "PreferDualStack"},
            'spec.ipFamilies[1]: Duplicate value: "IPv4"',
            id="duplicate-family",
        ),
        pytest.param(
            {"ip_family_policy": "DualStack"},
            'spec.ipFamilyPolicy: Unsupported value: "DualStack": supported values: '
            '"PreferDualStack", "RequireDualStack", "SingleStack"',
            id="unsupported-policy",
        ),
        pytest.param(
            {"cluster_ip": "None", "cluster_ips": ("None", "10.96.0.5")},
            'spec.clusterIPs: Invalid value: ["None","10.96.0.5"]: \'None\' must be the first and only value',
            id="none-not-alone",
        ),
        pytest.param(
            {"cluster_ip": "10.96.0.5", "cluster_ips": ("10.96.0.5", "10.96.0.6")},
            'spec.clusterIPs: Invalid value: ["10.96.0.5","10.96.0.6"]: '
            "may specify no more than one IP for each IP family",
            id="two-ips-one-family",
        ),
        pytest.param(
            {"cluster_ip": "10.96.0.5", "ip_families": ("IPv6",)},
            'spec.clusterIPs[0]: Invalid value: "10.96.0.5": expected an IPv6 value as indicated by `ipFamilies[0]`',
            id="ip-not-of-its-family",
        ),
    ],
)
def test_ip_family_errors_on_a_single_stack_cluster(single, spec, message):
    assert (
        rejected(single, service(**spec), ValidationError) == f'Service "web" is invalid: {message}'
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {
                "cluster_ip": "10.96.0.5",
                "cluster_ips": ("10.96.0.5", "fd00:10:96::5"),
                "ip_family_policy": "SingleStack",
            },
            "spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be 'RequireDualStack' or "
            "'PreferDualStack' when multiple cluster IPs are specified",
            id="single-stack-two-ips",
        ),
        pytest.param(
            {"ip_families": ("IPv4", "IPv6")},
            "spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be 'RequireDualStack' or "
            "'PreferDualStack' when multiple IP families are specified",
            id="single-stack-two-families",
        ),
        pytest.param(
            {"cluster_ip": "10.96.0.5", "cluster_ips": ("10.96.0.5", "fd00:10:96::5", "10.96.0.6")},
            'spec.clusterIPs: Invalid value: ["10.96.0.5","fd00:10:96::5","10.96.0.6"]: may only hold up to 2 values',
            id="three-ips",
        ),
    ],
)
def test_ip_family_errors_on_a_dual_stack_cluster(dual, spec, message):
    assert (
        rejected(dual, service(**spec), ValidationError) == f'Service "web" is invalid: {message}'
    )


def test_headless_selectorless_defaults_to_require_dual_stack_even_on_single_stack(single):
    stored = create(single, service(cluster_ip="None", selector=None))
    spec = stored.spec
    assert (spec.cluster_ip, spec.cluster_ips) == ("None", ("None",))
    assert (spec.ip_families, spec.ip_family_policy) == (("IPv4", "IPv6"), "RequireDualStack")
    assert held(single) == (frozenset(), frozenset())


def test_headless_with_a_selector_is_single_stack(single):
    spec = create(single, service(cluster_ip="None")).spec
    assert (spec.cluster_ips, spec.ip_families, spec.ip_family_policy) == (
        ("None",),
        ("IPv4",),
        "SingleStack",
    )


def test_headless_selectorless_single_stack_keeps_one_family(single):
    spec = create(
        single, service(cluster_ip="None", selector={}, ip_family_policy="SingleStack")
    ).spec
    assert spec.ip_families == ("IPv4",)


def test_prefer_dual_stack_on_a_single_stack_cluster_gets_one_ip(single):
    spec = create(single, service(ip_family_policy="PreferDualStack")).spec
    assert (len(spec.cluster_ips), spec.ip_families) == (1, ("IPv4",))


@pytest.mark.parametrize("policy", ["PreferDualStack", "RequireDualStack"])
def test_dual_stack_policies_on_a_dual_stack_cluster_get_two_ips(dual, policy):
    spec = create(dual, service(ip_family_policy=policy)).spec
    assert spec.ip_families == ("IPv4", "IPv6")
    v4, v6 = (ipaddress.ip_address(a) for a in spec.cluster_ips)
    assert (v4.version, v6.version) == (4, 6)
    assert v4 > ipaddress.ip_address("10.96.1.0")
    assert v6 > ipaddress.ip_address("fd00:10:96::100")
    assert spec.cluster_ip == spec.cluster_ips[0]


def test_a_requested_ipv6_ip_makes_ipv6_the_primary_family(dual):
    spec = create(
        dual, service(cluster_ip="fd00:10:96::5", ip_family_policy="PreferDualStack")
    ).spec
    assert spec.ip_families == ("IPv6", "IPv4")
    assert spec.cluster_ips[0] == "fd00:10:96::5"


def test_single_stack_on_a_dual_stack_cluster_uses_the_primary_family(dual):
    spec = create(dual, service()).spec
    assert (spec.ip_families, spec.ip_family_policy) == (("IPv4",), "SingleStack")


def test_a_dual_stack_failure_shows_the_marker_and_gives_everything_back(dual):
    create(dual, service("first", cluster_ip="10.96.0.10", ip_family_policy="RequireDualStack"))
    # IPv4 fails; the IPv6 IP (a dynamic pick) must not stay held.
    assert rejected(
        dual, service(cluster_ip="10.96.0.10", ip_family_policy="RequireDualStack"), ValidationError
    ) == (
        'Service "web" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.10",""]: '
        "failed to allocate IP 10.96.0.10: provided IP is already allocated"
    )


def test_a_second_family_failure_releases_the_first_family(dual):
    create(dual, service("first", cluster_ip="fd00:10:96::5", ip_family_policy="SingleStack"))
    svc = service(
        cluster_ip="10.96.0.20",
        cluster_ips=("10.96.0.20", "fd00:10:96::5"),
        ip_family_policy="RequireDualStack",
    )
    assert rejected(dual, svc, ValidationError) == (
        'Service "web" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.20","fd00:10:96::5"]: '
        "failed to allocate IP fd00:10:96::5: provided IP is already allocated"
    )
    assert not dual.ip_allocators["IPv4"].has(ipaddress.ip_address("10.96.0.20"))


# --- NodePorts (§3.2, §3.3, §4.4 cases 11 and 12) ------------------------------------------


def test_node_ports_are_picked_from_the_upper_band(single):
    spec = create(
        single, service(type="NodePort", ports=ports((80, "TCP", None), (443, "TCP", None)))
    ).spec
    assert all(30086 <= p.node_port <= 32767 for p in spec.ports if p.node_port)
    assert len({p.node_port for p in spec.ports}) == 2


def test_case_11_node_port_outside_the_range(single):
    svc = service(type="NodePort", ports=ports((80, "TCP", 80)))
    assert rejected(single, svc, ValidationError) == (
        'Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is '
        "not in the valid range. The range of valid ports is 30000-32767"
    )


def test_case_12_node_port_in_use_by_any_protocol(single):
    create(single, service("first", type="NodePort", ports=ports((80, "UDP", 30080))))
    assert rejected(
        single, service(type="NodePort", ports=ports((80, "TCP", 30080))), ValidationError
    ) == (
        'Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated'
    )


def test_ports_with_the_same_number_share_one_node_port(single):
    spec = create(
        single, service(type="NodePort", ports=ports((53, "UDP", None), (53, "TCP", None)))
    ).spec
    assert spec.ports[0].node_port == spec.ports[1].node_port
    assert list(single.node_ports) == [spec.ports[0].node_port]


def test_a_node_port_requested_by_one_port_serves_its_twin(single):
    spec = create(
        single, service(type="NodePort", ports=ports((53, "UDP", None), (53, "TCP", 30053)))
    ).spec
    assert [p.node_port for p in spec.ports] == [30053, 30053]
    assert list(single.node_ports) == [30053]


def test_the_same_node_port_for_different_port_numbers_fails_allocation(single):
    svc = service(type="NodePort", ports=ports((80, "TCP", 30080), (81, "UDP", 30080)))
    assert rejected(single, svc, ValidationError) == (
        'Service "web" is invalid: spec.ports[1].nodePort: Invalid value: 30080: provided port is already allocated'
    )


def test_a_full_node_port_range_is_a_500():
    allocations = ServiceAllocations(
        ClusterConfig.default(node_port_range=PortRange(30000, 2)), random.Random(0)
    )
    create(
        allocations,
        service("first", type="NodePort", ports=ports((80, "TCP", None), (81, "TCP", None))),
    )
    assert rejected(allocations, service(type="NodePort"), AllocationError) == (
        "Internal error occurred: failed to allocate a nodePort: range is full"
    )


def test_load_balancer_gets_node_ports_unless_told_otherwise(single):
    spec = create(single, service("lb", type="LoadBalancer")).spec
    assert spec.ports[0].node_port is not None
    spec = create(
        single, service("lb2", type="LoadBalancer", allocate_load_balancer_node_ports=False)
    ).spec
    assert spec.ports[0].node_port is None
    spec = create(
        single,
        service(
            "lb3",
            type="LoadBalancer",
            allocate_load_balancer_node_ports=False,
            ports=ports((80, "TCP", 30080), (443, "TCP", None)),
        ),
    ).spec
    assert [p.node_port for p in spec.ports] == [30080, None]


def test_cluster_ip_and_external_name_get_no_node_ports(single):
    assert create(single, service()).spec.ports == (HTTP,)
    stored = create(
        single,
        service("ext", type="ExternalName", external_name="example.com", ports=(), selector=None),
    )
    assert (
        stored.spec
        == service(
            "ext", type="ExternalName", external_name="example.com", ports=(), selector=None
        ).spec
    )
    assert len(single.node_ports) == 0


# --- healthCheckNodePort (§3.4) -------------------------------------------------------------


def test_load_balancer_local_gets_a_health_check_node_port(single):
    spec = create(single, service(type="LoadBalancer", external_traffic_policy="Local")).spec
    assert spec.health_check_node_port is not None
    assert 30086 <= spec.health_check_node_port <= 32767
    assert spec.health_check_node_port != spec.ports[0].node_port
    assert set(single.node_ports) == {spec.health_check_node_port, spec.ports[0].node_port}


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "LoadBalancer", "external_traffic_policy": "Cluster"},
        {"type": "NodePort", "external_traffic_policy": "Local"},
    ],
)
def test_no_health_check_node_port_otherwise(single, spec):
    assert create(single, service(**spec)).spec.health_check_node_port is None


def test_a_requested_health_check_node_port_in_use_is_a_500(single):
    create(single, service("first", type="NodePort", ports=ports((80, "TCP", 30000))))
    svc = service(
        type="LoadBalancer", external_traffic_policy="Local", health_check_node_port=30000
    )
    assert rejected(single, svc, AllocationError) == (
        "Internal error occurred: failed to allocate requested HealthCheck NodePort 30000: "
        "provided port is already allocated"
    )


def test_no_room_for_the_health_check_node_port_is_a_500():
    allocations = ServiceAllocations(
        ClusterConfig.default(node_port_range=PortRange(30000, 1)), random.Random(0)
    )
    svc = service(type="LoadBalancer", external_traffic_policy="Local")
    # Upstream prints the port variable it failed to fill: still 0.
    assert rejected(allocations, svc, AllocationError) == (
        "Internal error occurred: failed to allocate a HealthCheck NodePort 0: range is full"
    )


# --- error ordering (§4.4): the allocation step's first failure, alone ----------------------


def test_a_bad_node_port_is_reported_alone_even_with_a_bad_port(single):
    svc = service(
        type="NodePort", ports=(ServicePort(0, protocol="TCP", target_port=0, node_port=80),)
    )
    assert rejected(single, svc, ValidationError) == (
        'Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is '
        "not in the valid range. The range of valid ports is 30000-32767"
    )


def test_a_bad_cluster_ip_is_reported_alone_even_with_a_bad_port(single):
    svc = service(cluster_ip="300.1.1.1", ports=(ServicePort(0, protocol="HTTP", target_port=0),))
    assert rejected(single, svc, ValidationError) == (
        'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: "300.1.1.1": must be a valid '
        "IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
    )


def test_cluster_ips_come_before_node_ports(single):
    create(single, service("dns", cluster_ip="10.96.0.10"))
    svc = service(type="NodePort", cluster_ip="10.96.0.10", ports=ports((80, "TCP", 80)))
    assert "spec.clusterIPs" in rejected(single, svc, ValidationError)


def test_a_node_port_failure_gives_back_the_cluster_ip_and_earlier_ports(single):
    create(single, service("first", type="NodePort", ports=ports((90, "TCP", 30090))))
    svc = service(
        type="NodePort",
        cluster_ip="10.96.0.50",
        ports=ports((80, "TCP", 30080), (90, "TCP", 30090)),
    )
    assert rejected(single, svc, ValidationError) == (
        'Service "web" is invalid: spec.ports[1].nodePort: Invalid value: 30090: provided port is already allocated'
    )
    assert not single.ip_allocators["IPv4"].has(ipaddress.ip_address("10.96.0.50"))
    assert not single.node_ports.has(30080)


def test_a_health_check_failure_gives_back_everything(single):
    create(single, service("first", type="NodePort", ports=ports((80, "TCP", 30000))))
    svc = service(
        type="LoadBalancer",
        external_traffic_policy="Local",
        health_check_node_port=30000,
        ports=ports((80, "TCP", None), (443, "TCP", 30443)),
    )
    rejected(single, svc, AllocationError)
    assert list(single.node_ports) == [30000]


# --- the transaction and delete -------------------------------------------------------------


def test_revert_gives_back_what_the_create_took(single):
    before = held(single)
    stored, txn = single.allocate_for_create(
        service(
            type="LoadBalancer", external_traffic_policy="Local", ip_family_policy="PreferDualStack"
        )
    )
    assert isinstance(txn, Transaction)
    assert txn.cluster_ips == (ipaddress.ip_address(stored.spec.cluster_ip),)
    assert set(txn.node_ports) == {
        stored.spec.ports[0].node_port,
        stored.spec.health_check_node_port,
    }
    assert held(single) != before
    txn.revert()
    txn.revert()  # idempotent
    assert held(single) == before
    assert txn.state == "reverted"
    with pytest.raises(RuntimeError):
        txn.commit()


def test_a_committed_transaction_cannot_be_reverted(single):
    _, txn = single.allocate_for_create(service())
    txn.commit()
    with pytest.raises(RuntimeError):
        txn.revert()
    assert len(single.ip_allocators["IPv4"]) == 1


def test_release_gives_back_everything_a_service_holds(dual):
    empty = held(dual)
    stored = create(
        dual,
        service(
            type="LoadBalancer",
            external_traffic_policy="Local",
            ip_family_policy="RequireDualStack",
            ports=ports((53, "UDP", None), (53, "TCP", None)),
        ),
    )
    assert held(dual) != empty
    dual.release(stored)
    assert held(dual) == empty
    dual.release(create(dual, service("headless", cluster_ip="None", selector=None)))
    assert held(dual) == empty


def test_many_services_never_share_an_ip_or_port(single):
    created = [create(single, service(f"s{i}", type="NodePort")) for i in range(300)]
    ips = {s.spec.cluster_ip for s in created}
    node_ports = {s.spec.ports[0].node_port for s in created}
    assert (len(ips), len(node_ports)) == (300, 300)
    assert held(single) == (frozenset(map(ipaddress.ip_address, ips)), frozenset(node_ports))


def test_allocations_need_one_cidr_or_two_of_different_families():
    with pytest.raises(ValueError, match="two of different families"):
        ServiceAllocations(
            [ipaddress.ip_network("10.96.0.0/16"), ipaddress.ip_network("10.97.0.0/16")]
        )
    allocations = ServiceAllocations([ipaddress.ip_network("fd00:10:96::/112")], random.Random(0))
    assert allocations.default_family == "IPv6"
    assert str(allocations.node_ports.port_range) == "30000-32767"
