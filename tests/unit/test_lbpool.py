"""LoadBalancer address pools: MetalLB-style and cloud-provider-kind-style (sheet §7)."""

from __future__ import annotations

import ipaddress

import pytest

from k8s_service_lab.allocators.lbpool import AddressRange, LoadBalancerPool, LoadBalancerPoolError
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.service import PortStatus, Service, ServicePort, ServiceSpec
from k8s_service_lab.config import ClusterConfig, parse_config

DUAL = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {ipFamily: dual}\n"
THREE_CP = (
    "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
    "nodes: [{role: control-plane}, {role: control-plane}, {role: control-plane}, {role: worker}]\n"
)


def lb(
    name: str = "web",
    *,
    annotations: dict[str, str] | None = None,
    families: tuple[str, ...] = ("IPv4",),
    policy: str = "SingleStack",
    ports: tuple[ServicePort, ...] = (ServicePort(80, protocol="TCP"),),
    load_balancer_ip: str | None = None,
) -> Service:
    meta = ObjectMeta(name=name, namespace="default", annotations=annotations or {})
    spec = ServiceSpec(
        type="LoadBalancer",
        ports=ports,
        ip_families=families,
        ip_family_policy=policy,
        load_balancer_ip=load_balancer_ip,
    )
    return Service(meta, spec)


def test_address_range_parsing() -> None:
    r = AddressRange.parse("172.18.255.200-172.18.255.202")
    assert [str(ip) for ip in r] == ["172.18.255.200", "172.18.255.201", "172.18.255.202"]
    assert ipaddress.ip_address("172.18.255.201") in r
    cidr = AddressRange.parse("192.168.10.0/30")
    assert (str(cidr.first), str(cidr.last)) == ("192.168.10.0", "192.168.10.3")
    with pytest.raises(ValueError, match="invalid address range"):
        AddressRange.parse("10.0.0.9-10.0.0.1")


def test_metallb_hands_out_the_lowest_free_address() -> None:
    pool = LoadBalancerPool.for_cluster(ClusterConfig.default())
    assert pool.assign(lb("a")) == ("172.18.255.200",)
    assert pool.assign(lb("b")) == ("172.18.255.201",)
    pool.release("default", "a")
    assert pool.assign(lb("c")) == ("172.18.255.200",)
    assert pool.assign(lb("b")) == ("172.18.255.201",)  # an assigned Service keeps its address


def test_metallb_honours_requests() -> None:
    pool = LoadBalancerPool.for_cluster(ClusterConfig.default())
    annotated = lb("a", annotations={"metallb.universe.tf/loadBalancerIPs": "172.18.255.220"})
    assert pool.assign(annotated) == ("172.18.255.220",)
    assert pool.assign(lb("b", load_balancer_ip="172.18.255.230")) == ("172.18.255.230",)
    new_prefix = lb("c", annotations={"metallb.io/loadBalancerIPs": "172.18.255.240"})
    assert pool.assign(new_prefix) == ("172.18.255.240",)
    assert pool.assign(lb("d")) == ("172.18.255.200",)


def test_metallb_refuses_foreign_and_taken_requests() -> None:
    pool = LoadBalancerPool.for_cluster(ClusterConfig.default())
    with pytest.raises(LoadBalancerPoolError) as info:
        pool.assign(lb("a", load_balancer_ip="10.0.0.1"))
    assert str(info.value) == '"10.0.0.1" is not allowed in config'
    pool.assign(lb("a", load_balancer_ip="172.18.255.210"))
    with pytest.raises(LoadBalancerPoolError) as info:
        pool.assign(lb("b", load_balancer_ip="172.18.255.210"))
    assert str(info.value) == (
        'can\'t change sharing key for "default/b", address also in use by default/a'
    )
    assert pool.assigned("default", "b") == ()


def test_metallb_sharing_needs_the_same_key_and_disjoint_ports() -> None:
    pool = LoadBalancerPool.for_cluster(ClusterConfig.default())
    key = {"metallb.io/allow-shared-ip": "k"}
    assert pool.assign(lb("tcp", annotations=key)) == ("172.18.255.200",)
    udp = lb("udp", annotations=key, ports=(ServicePort(53, protocol="UDP"),))
    assert pool.assign(udp) == ("172.18.255.200",)
    assert pool.assign(lb("clash", annotations=key)) == ("172.18.255.201",)  # TCP/80 is taken
    with pytest.raises(LoadBalancerPoolError) as info:
        pool.assign(
            lb("clash2", annotations={**key, "metallb.io/loadBalancerIPs": "172.18.255.200"})
        )
    assert str(info.value) == 'port TCP/80 is already in use on "172.18.255.200"'
    pool.release("default", "tcp")
    assert pool.used() == {
        ipaddress.ip_address("172.18.255.200"),
        ipaddress.ip_address("172.18.255.201"),
    }
    pool.release("default", "udp")
    assert ipaddress.ip_address("172.18.255.200") not in pool.used()


def test_exhaustion_says_no_available_ips_and_holds_nothing() -> None:
    pool = LoadBalancerPool(["10.0.0.1-10.0.0.2"])
    pool.assign(lb("a"))
    pool.assign(lb("b"))
    with pytest.raises(LoadBalancerPoolError) as info:
        pool.assign(lb("c"))
    assert str(info.value) == "no available IPs"
    assert pool.assigned("default", "c") == ()
    assert len(pool.used()) == 2


def test_dual_stack_gets_one_address_per_family() -> None:
    pool = LoadBalancerPool.for_cluster(parse_config(DUAL))
    ips = pool.assign(lb(families=("IPv4", "IPv6"), policy="RequireDualStack"))
    assert [ipaddress.ip_address(ip).version for ip in ips] == [4, 6]
    v4_only = LoadBalancerPool(["10.0.0.0/30"])
    assert len(v4_only.assign(lb("p", families=("IPv4", "IPv6"), policy="PreferDualStack"))) == 1
    with pytest.raises(LoadBalancerPoolError):
        v4_only.assign(lb("r", families=("IPv4", "IPv6"), policy="RequireDualStack"))


def test_metallb_ingress_is_ip_only() -> None:
    pool = LoadBalancerPool.for_cluster(ClusterConfig.default())
    svc = lb()
    (ingress,) = pool.ingress(svc, pool.assign(svc))
    assert (ingress.ip, ingress.ip_mode, ingress.ports) == ("172.18.255.200", None, ())
    assert pool.ip_mode == "VIP"


def test_cloud_provider_kind_takes_the_next_docker_address_after_the_nodes() -> None:
    pool = LoadBalancerPool.for_cluster(ClusterConfig.default(), style="cloud-provider-kind")
    svc = lb(ports=(ServicePort(80, protocol="TCP"), ServicePort(53, protocol="UDP")))
    ips = pool.assign(svc)
    assert ips == ("172.18.0.5",)
    (ingress,) = pool.ingress(svc, ips)
    assert ingress.ip_mode == "Proxy"
    assert ingress.ports == (PortStatus(80, "TCP"), PortStatus(53, "UDP"))
    # Requests and sharing are not cloud-provider-kind's business: one container each.
    asked = lb(
        "b", load_balancer_ip="172.18.255.200", annotations={"metallb.io/allow-shared-ip": "k"}
    )
    assert pool.assign(asked) == ("172.18.0.6",)


def test_cloud_provider_kind_skips_the_external_load_balancer_of_ha_clusters() -> None:
    pool = LoadBalancerPool.for_cluster(parse_config(THREE_CP), style="cloud-provider-kind")
    # .1 gateway, .2-.5 the four nodes, .6 kind's haproxy container: .7 is free.
    assert pool.assign(lb()) == ("172.18.0.7",)


def test_cloud_provider_kind_dual_stack() -> None:
    pool = LoadBalancerPool.for_cluster(parse_config(DUAL), style="cloud-provider-kind")
    ips = pool.assign(lb(families=("IPv4", "IPv6"), policy="RequireDualStack"))
    # A file without ``nodes`` is one control-plane node (.2): the load balancer gets .3.
    assert ips == ("172.18.0.3", "fc00:f853:ccd:e793::3")


def test_unknown_style() -> None:
    with pytest.raises(ValueError, match="unknown load-balancer style"):
        LoadBalancerPool(["10.0.0.0/30"], style="haproxy")
