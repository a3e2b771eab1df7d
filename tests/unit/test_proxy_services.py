"""ServicePortName, ServicePortInfo digests of every Service shape, and the service tracker."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.service import (
    LoadBalancerIngress,
    Service,
    ServicePort,
    ServiceSpec,
    ServiceStatus,
)
from k8s_service_lab.proxy.model import (
    DroppedValue,
    EndpointInfo,
    ServiceName,
    ServicePortName,
    parse_cidr_sloppy,
    parse_ip_sloppy,
)
from k8s_service_lab.proxy.servicechanges import (
    ServiceChangeTracker,
    cluster_ip_for_family,
    service_ports,
    service_skip_reason,
)

ip = ipaddress.ip_address
net = ipaddress.ip_network


def svc(
    name: str = "web",
    *,
    ports: tuple[ServicePort, ...] = (ServicePort(80, name="http", protocol="TCP"),),
    ingress: tuple[LoadBalancerIngress, ...] = (),
    annotations: dict[str, str] | None = None,
    **spec: object,
) -> Service:
    base: dict[str, object] = {
        "type": "ClusterIP",
        "cluster_ip": "10.96.0.20",
        "cluster_ips": ("10.96.0.20",),
        "ip_families": ("IPv4",),
        "ports": ports,
    }
    base.update(spec)
    meta = ObjectMeta(name=name, namespace="default", annotations=annotations or {})
    return Service(meta, ServiceSpec(**base), ServiceStatus(ingress))  # type: ignore[arg-type]


def only(service: Service, family: str = "IPv4"):  # type: ignore[no-untyped-def]
    ports = service_ports(service, family)
    assert len(ports) == 1
    return next(iter(ports.values()))


# -- ServicePortName and helpers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("port_name", "text"),
    [("http", "ns/svc:http"), (None, "ns/svc"), ("", "ns/svc")],
)
def test_service_port_name_string_matches_upstream(port_name: str | None, text: str) -> None:
    assert str(ServicePortName("ns", "svc", port_name, "UDP")) == text


def test_protocol_is_part_of_the_key_but_not_of_the_string() -> None:
    tcp, udp = (
        ServicePortName("ns", "dns", "dns", "TCP"),
        ServicePortName("ns", "dns", "dns", "UDP"),
    )
    assert tcp != udp
    assert str(tcp) == str(udp)
    assert tcp.service == ServiceName("ns", "dns")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("010.000.000.041", "10.0.0.41"),  # Go reads leading zeros as decimal
        ("::ffff:1.2.3.4", "1.2.3.4"),  # IPv4-mapped is IPv4 to Go
        ("fd00::1", "fd00::1"),
        ("256.0.0.1", None),
        ("1.2.3", None),
        ("fe80::1%eth0", None),
        ("", None),
    ],
)
def test_parse_ip_sloppy(text: str, expected: str | None) -> None:
    parsed = parse_ip_sloppy(text)
    assert (None if parsed is None else str(parsed)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.5/24", "10.0.0.0/24"),
        ("fd00::1/64", "fd00::/64"),
        ("10.0.0.0/33", None),
        ("10.0.0.0", None),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ],
)
def test_parse_cidr_sloppy(text: str, expected: str | None) -> None:
    parsed = parse_cidr_sloppy(text)
    assert (None if parsed is None else str(parsed)) == expected


def test_endpoint_string_brackets_ipv6() -> None:
    assert EndpointInfo("10.1.1.1", 11).endpoint == "10.1.1.1:11"
    assert str(EndpointInfo("fd00::3", 80)) == "[fd00::3]:80"


# -- digesting Service shapes ---------------------------------------------------------------


def test_cluster_ip_service() -> None:
    info = only(svc())
    assert info.name == ServicePortName("default", "web", "http", "TCP")
    assert (info.cluster_ip, info.port, info.protocol) == (ip("10.96.0.20"), 80, "TCP")
    assert info.node_port is None
    assert info.health_check_node_port is None
    assert not info.externally_accessible
    assert info.uses_cluster_endpoints
    assert not info.uses_local_endpoints
    assert str(info) == "10.96.0.20:80/TCP"


def test_node_port_service_is_externally_accessible() -> None:
    ports = (ServicePort(80, name="http", protocol="TCP", node_port=30080),)
    info = only(svc(type="NodePort", ports=ports, external_traffic_policy="Cluster"))
    assert info.node_port == 30080
    assert info.externally_accessible
    assert not info.external_policy_local


def test_load_balancer_vips_skip_proxy_mode_empty_and_other_family() -> None:
    ingress = (
        LoadBalancerIngress(ip="172.18.255.200"),  # ipMode unset: VIP
        LoadBalancerIngress(ip="172.18.255.201", ip_mode="VIP"),
        LoadBalancerIngress(ip="172.18.255.202", ip_mode="Proxy"),
        LoadBalancerIngress(hostname="lb.example.com"),
        LoadBalancerIngress(ip="fc00::1"),
    )
    ports = (ServicePort(80, name="http", protocol="TCP", node_port=30080),)
    info = only(svc(type="LoadBalancer", ports=ports, ingress=ingress))
    assert info.load_balancer_vips == (ip("172.18.255.200"), ip("172.18.255.201"))
    proxy_only = only(svc(type="LoadBalancer", ingress=ingress[2:3]))
    assert proxy_only.load_balancer_vips == ()
    assert not proxy_only.externally_accessible  # no node port, no VIP, no external IP


def test_external_ips_and_source_ranges_are_family_filtered_and_invalid_ones_recorded() -> None:
    service = svc(
        type="LoadBalancer",
        external_ips=("192.0.2.10", "2001:db8::10", "not-an-ip"),
        load_balancer_source_ranges=(" 203.0.113.0/24 ", "2001:db8::/64", "10.0.0.0/99"),
    )
    info = only(service)
    assert info.external_ips == (ip("192.0.2.10"),)
    assert info.load_balancer_source_ranges == (net("203.0.113.0/24"),)
    assert info.dropped == (
        DroppedValue("spec.externalIPs[2]", "not-an-ip", "not a valid IP"),
        DroppedValue("spec.loadBalancerSourceRanges[2]", "10.0.0.0/99", "not a valid CIDR"),
    )


@pytest.mark.parametrize(
    ("affinity", "timeout", "expected"),
    [("ClientIP", 600, 600), ("ClientIP", None, 10800), ("None", None, None), (None, None, None)],
)
def test_session_affinity(affinity: str | None, timeout: int | None, expected: int | None) -> None:
    info = only(svc(session_affinity=affinity, client_ip_timeout_seconds=timeout))
    assert info.session_affinity == (affinity or "None")
    assert info.sticky_max_age_seconds == expected


def test_external_policy_local_with_health_check_node_port() -> None:
    ports = (ServicePort(80, name="http", protocol="TCP", node_port=30080),)
    lb = only(
        svc(
            type="LoadBalancer",
            ports=ports,
            external_traffic_policy="Local",
            health_check_node_port=32000,
        )
    )
    assert lb.external_policy_local
    assert lb.health_check_node_port == 32000
    assert lb.uses_local_endpoints
    assert lb.uses_cluster_endpoints
    nodeport = only(svc(type="NodePort", ports=ports, external_traffic_policy="Local"))
    assert nodeport.external_policy_local
    assert nodeport.health_check_node_port is None


def test_external_policy_local_means_nothing_without_external_access() -> None:
    info = only(svc(external_traffic_policy="Local"))
    assert not info.external_policy_local
    assert not info.uses_local_endpoints
    with_ext = only(svc(external_traffic_policy="Local", external_ips=("192.0.2.1",)))
    assert with_ext.external_policy_local
    assert with_ext.uses_local_endpoints


def test_internal_policy_local() -> None:
    info = only(svc(internal_traffic_policy="Local"))
    assert info.internal_policy_local
    assert info.uses_local_endpoints
    assert not info.uses_cluster_endpoints


def test_traffic_distribution_and_topology_annotation_are_carried() -> None:
    info = only(
        svc(
            traffic_distribution="PreferClose",
            annotations={"service.kubernetes.io/topology-aware-hints": "Auto"},
        )
    )
    assert (info.traffic_distribution, info.topology_mode) == ("PreferClose", "Auto")


def test_dual_stack_service_digests_per_family() -> None:
    dual = svc(
        cluster_ip="10.96.0.20",
        cluster_ips=("10.96.0.20", "fd00:10:96::20"),
        ip_families=("IPv4", "IPv6"),
        external_ips=("192.0.2.1", "2001:db8::1"),
    )
    v4, v6 = only(dual, "IPv4"), only(dual, "IPv6")
    assert (v4.cluster_ip, v4.external_ips) == (ip("10.96.0.20"), (ip("192.0.2.1"),))
    assert (v6.cluster_ip, v6.external_ips) == (ip("fd00:10:96::20"), (ip("2001:db8::1"),))


def test_legacy_cluster_ip_without_ip_families() -> None:
    legacy = svc(cluster_ips=(), ip_families=())
    assert cluster_ip_for_family(legacy, "IPv4") == "10.96.0.20"
    assert cluster_ip_for_family(legacy, "IPv6") is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"cluster_ip": "None", "cluster_ips": ("None",)}, 'clusterIP = "None"'),
        ({"cluster_ip": None, "cluster_ips": ()}, 'clusterIP = ""'),
        ({"type": "ExternalName", "external_name": "example.com"}, "Type=ExternalName"),
    ],
)
def test_skipped_services(changes: dict[str, object], reason: str) -> None:
    service = svc(**changes)  # type: ignore[arg-type]
    assert service_skip_reason(service, "IPv4") == reason
    assert service_ports(service, "IPv4") == {}


def test_single_stack_service_is_skipped_by_the_other_family() -> None:
    assert service_skip_reason(svc(), "IPv6") == "no IPv6 clusterIP"
    assert service_ports(svc(), "IPv6") == {}


def test_multi_port_and_unnamed_ports() -> None:
    ports = (
        ServicePort(53, name="dns", protocol="UDP"),
        ServicePort(53, name="dns-tcp", protocol="TCP"),
    )
    assert sorted(map(str, service_ports(svc(ports=ports), "IPv4"))) == [
        "default/web:dns",
        "default/web:dns-tcp",
    ]
    unnamed = service_ports(svc(ports=(ServicePort(80),)), "IPv4")
    assert list(unnamed) == [ServicePortName("default", "web", None, "TCP")]


# -- change tracking ------------------------------------------------------------------------


def test_tracker_reports_added_removed_and_renamed_ports() -> None:
    tracker = ServiceChangeTracker("IPv4")
    web, api = svc("web"), svc("api", cluster_ip="10.96.0.30", cluster_ips=("10.96.0.30",))
    assert tracker.update(None, web)
    assert tracker.update(None, api)
    first = tracker.apply({})
    assert first.updated_services == {ServiceName("default", "web"), ServiceName("default", "api")}
    assert len(first.service_map) == 2

    renamed = svc("web", ports=(ServicePort(80, name="web", protocol="TCP"),))
    assert tracker.update(web, renamed)
    second = tracker.apply(first.service_map)
    assert [str(p) for p in second.changed_ports] == ["default/web:http", "default/web:web"]
    assert second.updated_services == {ServiceName("default", "web")}
    assert ServicePortName("default", "web", "http", "TCP") not in second.service_map
    assert ServicePortName("default", "api", "http", "TCP") in second.service_map

    tracker.update(api, None)
    third = tracker.apply(second.service_map)
    assert [str(p) for p in third.changed_ports] == ["default/api:http"]
    assert sorted(map(str, third.service_map)) == ["default/web:web"]


def test_a_change_that_returns_to_where_it_started_cancels() -> None:
    tracker = ServiceChangeTracker("IPv4")
    web = svc()
    assert tracker.update(None, web)
    assert not tracker.update(web, None)  # added then deleted before a sync: nothing to do
    assert tracker.apply({}).updated_services == frozenset()


def test_changes_that_do_not_touch_the_digest_are_not_changes() -> None:
    tracker = ServiceChangeTracker("IPv4")
    web = svc()
    tracker.update(None, web)
    synced = tracker.apply({})
    relabelled = replace(web, metadata=replace(web.metadata, labels={"team": "a"}))
    assert not tracker.update(web, relabelled)
    assert tracker.apply(synced.service_map).changed_ports == ()


def test_previous_is_kept_from_the_first_change_since_the_sync() -> None:
    tracker = ServiceChangeTracker("IPv4")
    web = svc()
    tracker.update(None, web)
    synced = tracker.apply({})
    mid = svc(ports=(ServicePort(81, name="http", protocol="TCP"),))
    tracker.update(web, mid)
    assert not tracker.update(mid, web)  # back to the synced state
    assert tracker.apply(synced.service_map).service_map == synced.service_map
