"""Cluster DNS answers (sheet §6) as CoreDNS's kubernetes plugin gives them under kubeadm's Corefile."""

from __future__ import annotations

import json
from typing import Any

import pytest

from k8s_service_lab.api import EndpointSlice, Namespace, ObjectMeta, Pod, Service
from k8s_service_lab.api.discovery import (
    Endpoint,
    EndpointConditions,
    EndpointPort,
    ObjectReference,
)
from k8s_service_lab.api.pod import PodStatus
from k8s_service_lab.api.service import ServicePort, ServiceSpec
from k8s_service_lab.controlplane.dns import ClusterDNS, PodMode
from k8s_service_lab.controlplane.dnsrecords import (
    DNSAnswer,
    Rcode,
    ResourceRecord,
    SOAData,
    SRVData,
    answer_to_dict,
    format_answer,
    reverse_name,
)
from k8s_service_lab.controlplane.store import Store

ZONE = "cluster.local."
SERIAL = 1767225600
READY = EndpointConditions(True, True, False)
NOT_READY = EndpointConditions(False, False, False)
TERMINATING = EndpointConditions(False, True, True)
HTTP = ServicePort(80, name="http", protocol="TCP")
METRICS = ServicePort(9090, name="metrics", protocol="TCP")


def svc(name: str, ns: str = "default", **spec: Any) -> Service:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("ports", (HTTP,))
    return Service(ObjectMeta(name=name, namespace=ns), ServiceSpec(**spec))


def cluster_ip(name: str, *ips: str, ns: str = "default", **spec: Any) -> Service:
    return svc(name, ns, cluster_ip=ips[0], cluster_ips=ips, **spec)


def headless(name: str, ns: str = "default", **spec: Any) -> Service:
    return svc(name, ns, cluster_ip="None", cluster_ips=("None",), **spec)


def eps(
    service: str,
    *endpoints: Endpoint,
    ns: str = "default",
    family: str = "IPv4",
    ports: tuple[EndpointPort, ...] = (EndpointPort("http", "TCP", 8080),),
    suffix: str = "abcde",
) -> EndpointSlice:
    meta = ObjectMeta(
        name=f"{service}-{suffix}",
        namespace=ns,
        labels={"kubernetes.io/service-name": service},
    )
    return EndpointSlice(meta, family, endpoints, ports)


def ep(ip: str, cond: EndpointConditions = READY, hostname: str | None = None) -> Endpoint:
    return Endpoint((ip,), cond, hostname=hostname)


@pytest.fixture
def store() -> Store:
    s = Store()
    for ns in ("default", "other", "kube-system"):
        s.create(Namespace(ObjectMeta(name=ns)))
    s.create(cluster_ip("kubernetes", "10.96.0.1", ports=(ServicePort(443, "https", "TCP"),)))
    s.create(cluster_ip("web", "10.96.12.34", ports=(HTTP, METRICS)))
    s.create(cluster_ip("web", "10.96.200.7", ns="other"))
    s.create(cluster_ip("dual", "10.96.5.5", "fd00:10:96::5"))
    s.create(svc("ext", type="ExternalName", external_name="example.com", ports=()))
    s.create(svc("extip", type="ExternalName", external_name="1.2.3.4", ports=()))
    s.create(svc("alias", type="ExternalName", external_name="web.default.svc.cluster.local"))
    s.create(headless("db"))
    s.create(
        eps(
            "db",
            ep("10.244.2.9", hostname="db-0"),
            ep("10.244.1.5"),
            ep("10.244.1.6", NOT_READY),
            ep("10.244.1.7", TERMINATING),
        )
    )
    s.create(headless("empty"))
    s.create(eps("empty", ep("10.244.1.8", NOT_READY)))
    return s


@pytest.fixture
def dns(store: Store) -> ClusterDNS:
    return ClusterDNS(store, serial=SERIAL)


def data(answer: DNSAnswer) -> list[object]:
    return [rr.data for rr in answer.answer]


def soa(zone: str = ZONE) -> ResourceRecord:
    body = SOAData(f"ns.dns.{zone}", f"hostmaster.{zone}", SERIAL, 7200, 1800, 86400, 30)
    return ResourceRecord(zone, 30, "SOA", body)


# -- A / AAAA -----------------------------------------------------------------------------


def test_cluster_ip_a_record(dns: ClusterDNS) -> None:
    answer = dns.query("web.default.svc.cluster.local", "A")
    assert answer.rcode is Rcode.NOERROR
    assert answer.authoritative
    assert answer.answer == (
        ResourceRecord("web.default.svc.cluster.local.", 30, "A", "10.96.12.34"),
    )


def test_other_family_is_nodata_with_soa(dns: ClusterDNS) -> None:
    answer = dns.query("web.default.svc.cluster.local.", "AAAA")
    assert answer.rcode is Rcode.NOERROR
    assert answer.nodata
    assert answer.authority == (soa(),)


def test_dual_stack_answers_one_address_per_family(dns: ClusterDNS) -> None:
    assert data(dns.query("dual.default.svc.cluster.local", "A")) == ["10.96.5.5"]
    assert data(dns.query("dual.default.svc.cluster.local", "AAAA")) == ["fd00:10:96::5"]


@pytest.mark.parametrize(
    "name",
    [
        "nope.default.svc.cluster.local",
        "web.nons.svc.cluster.local",  # the namespace must exist
        "web.default.svcx.cluster.local",
        "a.b._c._d.web.default.svc.cluster.local",  # too many labels
        "x.web.default.svc.cluster.local",  # no such endpoint of a ClusterIP Service
    ],
)
def test_missing_names_are_nxdomain_with_soa(dns: ClusterDNS, name: str) -> None:
    answer = dns.query(name, "A")
    assert answer.rcode is Rcode.NXDOMAIN
    assert answer.answer == ()
    assert answer.authority == (soa(),)


@pytest.mark.parametrize(
    "name", ["cluster.local", "svc.cluster.local", "default.svc.cluster.local", "pod.cluster.local"]
)
def test_structural_names_exist_without_records(dns: ClusterDNS, name: str) -> None:
    answer = dns.query(name, "A")
    assert answer.rcode is Rcode.NOERROR
    assert answer.nodata


def test_names_are_case_insensitive_and_keep_the_query_case(dns: ClusterDNS) -> None:
    answer = dns.query("WEB.Default.svc.cluster.local", "a")
    assert answer.answer[0].name == "WEB.Default.svc.cluster.local."
    assert data(answer) == ["10.96.12.34"]


def test_headless_answers_ready_endpoints_sorted(dns: ClusterDNS) -> None:
    # Not-ready and terminating endpoints are not ready; CoreDNS publishes ready ones only.
    assert data(dns.query("db.default.svc.cluster.local", "A")) == ["10.244.1.5", "10.244.2.9"]


def test_headless_without_ready_endpoints_is_nxdomain(dns: ClusterDNS) -> None:
    assert dns.query("empty.default.svc.cluster.local", "A").rcode is Rcode.NXDOMAIN


def test_publish_not_ready_addresses_is_what_the_controller_writes(store: Store) -> None:
    # With publishNotReadyAddresses the controller sets ready=true on every endpoint.
    store.create(headless("pnr", publish_not_ready_addresses=True))
    store.create(eps("pnr", ep("10.244.1.20", EndpointConditions(True, False, True))))
    store.create(eps("pnr", ep("10.244.1.21", EndpointConditions(None, None, None)), suffix="x"))
    answer = ClusterDNS(store).query("pnr.default.svc.cluster.local", "A")
    assert data(answer) == ["10.244.1.20", "10.244.1.21"]


def test_endpoint_names_hostname_and_dashed_ip(dns: ClusterDNS) -> None:
    assert data(dns.query("db-0.db.default.svc.cluster.local", "A")) == ["10.244.2.9"]
    assert data(dns.query("10-244-1-5.db.default.svc.cluster.local", "A")) == ["10.244.1.5"]
    # An endpoint with a hostname answers only to it; a not-ready one not at all.
    assert dns.query("10-244-2-9.db.default.svc.cluster.local", "A").rcode is Rcode.NXDOMAIN
    assert dns.query("10-244-1-6.db.default.svc.cluster.local", "A").rcode is Rcode.NXDOMAIN


def test_ipv6_endpoint_dashed_name(store: Store) -> None:
    store.create(headless("v6"))
    store.create(eps("v6", ep("fd00:10:244::5"), family="IPv6"))
    dns = ClusterDNS(store)
    assert data(dns.query("fd00-10-244--5.v6.default.svc.cluster.local", "AAAA")) == [
        "fd00:10:244::5"
    ]
    assert dns.query("v6.default.svc.cluster.local", "A").nodata


def test_endpoint_names_of_a_cluster_ip_service(store: Store) -> None:
    # Beyond the spec, CoreDNS answers endpoint names of non-headless Services too.
    store.create(eps("web", ep("10.244.1.30")))
    assert data(ClusterDNS(store).query("10-244-1-30.web.default.svc.cluster.local", "A")) == [
        "10.244.1.30"
    ]


def test_headless_without_ports_still_has_addresses(store: Store) -> None:
    store.create(headless("bare", ports=()))
    store.create(eps("bare", ep("10.244.1.40"), ports=()))
    dns = ClusterDNS(store)
    assert data(dns.query("bare.default.svc.cluster.local", "A")) == ["10.244.1.40"]
    assert dns.query("bare.default.svc.cluster.local", "SRV").nodata


# -- ExternalName / CNAME -----------------------------------------------------------------


def test_external_name_is_a_lone_cname_without_upstream(dns: ClusterDNS) -> None:
    answer = dns.query("ext.default.svc.cluster.local", "A")
    assert answer.rcode is Rcode.NOERROR
    assert answer.answer == (
        ResourceRecord("ext.default.svc.cluster.local.", 30, "CNAME", "example.com."),
    )


def test_external_name_chases_through_upstream(store: Store) -> None:
    def upstream(name: str, qtype: str) -> DNSAnswer:
        rr = ResourceRecord(name, 300, qtype, "93.184.215.14")
        return DNSAnswer(name, qtype, Rcode.NOERROR, (rr,), authoritative=False)

    answer = ClusterDNS(store, upstream=upstream).query("ext.default.svc.cluster.local", "A")
    assert [rr.type for rr in answer.answer] == ["CNAME", "A"]
    assert answer.answer[1].name == "example.com."


def test_external_name_inside_the_zone_is_chased(dns: ClusterDNS) -> None:
    answer = dns.query("alias.default.svc.cluster.local", "A")
    assert [(rr.type, rr.data) for rr in answer.answer] == [
        ("CNAME", "web.default.svc.cluster.local."),
        ("A", "10.96.12.34"),
    ]


def test_external_name_ip_literal_is_nxdomain(dns: ClusterDNS) -> None:
    assert dns.query("extip.default.svc.cluster.local", "A").rcode is Rcode.NXDOMAIN


def test_cname_query_and_srv_on_external_name(dns: ClusterDNS) -> None:
    assert data(dns.query("ext.default.svc.cluster.local", "CNAME")) == ["example.com."]
    assert dns.query("web.default.svc.cluster.local", "CNAME").nodata
    assert dns.query("ext.default.svc.cluster.local", "SRV").nodata


# -- SRV ----------------------------------------------------------------------------------


def test_srv_named_port_of_cluster_ip_service(dns: ClusterDNS) -> None:
    answer = dns.query("_http._tcp.web.default.svc.cluster.local", "SRV")
    assert data(answer) == [SRVData(0, 100, 80, "web.default.svc.cluster.local.")]
    assert answer.additional == (
        ResourceRecord("web.default.svc.cluster.local.", 30, "A", "10.96.12.34"),
    )


def test_srv_bare_name_lists_every_port_with_split_weight(dns: ClusterDNS) -> None:
    answer = dns.query("web.default.svc.cluster.local", "SRV")
    target = "web.default.svc.cluster.local."
    assert data(answer) == [SRVData(0, 50, 80, target), SRVData(0, 50, 9090, target)]


def test_srv_dual_stack_counts_both_addresses(dns: ClusterDNS) -> None:
    answer = dns.query("_http._tcp.dual.default.svc.cluster.local", "SRV")
    assert data(answer) == [SRVData(0, 50, 80, "dual.default.svc.cluster.local.")]
    assert [rr.type for rr in answer.additional] == ["A", "AAAA"]


def test_srv_headless_one_per_ready_endpoint(dns: ClusterDNS) -> None:
    answer = dns.query("_http._tcp.db.default.svc.cluster.local", "SRV")
    assert data(answer) == [
        SRVData(0, 50, 8080, "10-244-1-5.db.default.svc.cluster.local."),
        SRVData(0, 50, 8080, "db-0.db.default.svc.cluster.local."),
    ]
    assert [(rr.name, rr.data) for rr in answer.additional] == [
        ("10-244-1-5.db.default.svc.cluster.local.", "10.244.1.5"),
        ("db-0.db.default.svc.cluster.local.", "10.244.2.9"),
    ]


def test_srv_weight_floors_and_protocol_matters(store: Store) -> None:
    store.create(headless("three"))
    store.create(eps("three", ep("10.244.1.1"), ep("10.244.1.2"), ep("10.244.1.3")))
    dns = ClusterDNS(store)
    weights = {
        rr.data.weight
        for rr in dns.query("_http._tcp.three.default.svc.cluster.local", "SRV").answer
        if isinstance(rr.data, SRVData)
    }
    assert weights == {33}
    assert dns.query("_http._udp.web.default.svc.cluster.local", "SRV").rcode is Rcode.NXDOMAIN
    assert dns.query("_nope._tcp.web.default.svc.cluster.local", "SRV").rcode is Rcode.NXDOMAIN


# -- PTR ----------------------------------------------------------------------------------


def test_ptr_of_cluster_ip(dns: ClusterDNS) -> None:
    answer = dns.query("34.12.96.10.in-addr.arpa", "PTR")
    assert answer.answer == (
        ResourceRecord("34.12.96.10.in-addr.arpa.", 30, "PTR", "web.default.svc.cluster.local."),
    )


def test_ptr_of_ipv6_cluster_ip_nibbles(dns: ClusterDNS) -> None:
    assert data(dns.query(reverse_name("fd00:10:96::5"), "PTR")) == [
        "dual.default.svc.cluster.local."
    ]


def test_ptr_of_endpoint_ip(dns: ClusterDNS) -> None:
    assert data(dns.query(reverse_name("10.244.2.9"), "PTR")) == [
        "db-0.db.default.svc.cluster.local."
    ]
    assert data(dns.query(reverse_name("10.244.1.5"), "PTR")) == [
        "10-244-1-5.db.default.svc.cluster.local."
    ]


def test_unknown_reverse_names_fall_through_to_forward(dns: ClusterDNS) -> None:
    for name in (reverse_name("10.244.9.9"), "96.10.in-addr.arpa"):
        answer = dns.query(name, "PTR")
        assert answer.forwarded
        assert answer.rcode is Rcode.SERVFAIL
        assert not answer.authoritative


def test_without_fallthrough_unknown_reverse_is_nxdomain(store: Store) -> None:
    answer = ClusterDNS(store, fallthrough=False, serial=SERIAL).query(
        reverse_name("10.244.9.9"), "PTR"
    )
    assert answer.rcode is Rcode.NXDOMAIN
    assert answer.authority == (soa("in-addr.arpa."),)


# -- pods, TXT, SOA, NS, forwarding --------------------------------------------------------


def test_pod_records_insecure(dns: ClusterDNS) -> None:
    assert data(dns.query("10-244-1-99.default.pod.cluster.local", "A")) == ["10.244.1.99"]
    assert data(dns.query("fd00-10-244--9.default.pod.cluster.local", "AAAA")) == ["fd00:10:244::9"]
    assert dns.query("not-an-ip.default.pod.cluster.local", "A").rcode is Rcode.NXDOMAIN
    assert dns.query("10-244-1-99.nons.pod.cluster.local", "A").rcode is Rcode.NXDOMAIN


def test_pod_records_verified_and_disabled(store: Store) -> None:
    store.create(
        Pod(ObjectMeta(name="p", namespace="default"), status=PodStatus(pod_ip="10.244.1.99"))
    )
    verified = ClusterDNS(store, pods=PodMode.VERIFIED)
    assert data(verified.query("10-244-1-99.default.pod.cluster.local", "A")) == ["10.244.1.99"]
    assert verified.query("10-244-1-98.default.pod.cluster.local", "A").rcode is Rcode.NXDOMAIN
    disabled = ClusterDNS(store, pods=PodMode.DISABLED)
    assert disabled.query("10-244-1-99.default.pod.cluster.local", "A").rcode is Rcode.NXDOMAIN


def test_dns_version_txt(dns: ClusterDNS) -> None:
    answer = dns.query("dns-version.cluster.local", "TXT")
    assert answer.answer == (ResourceRecord("dns-version.cluster.local.", 28800, "TXT", "1.1.0"),)
    assert format_answer(answer).endswith('"1.1.0"')


def test_soa_query_and_serial_from_clock(store: Store) -> None:
    store.clock.advance(60)
    answer = ClusterDNS(store).query("cluster.local", "SOA")
    (rr,) = answer.answer
    assert isinstance(rr.data, SOAData)
    assert rr.data.serial == int(store.clock.now().timestamp())
    assert str(rr.data).startswith("ns.dns.cluster.local. hostmaster.cluster.local. ")


def test_ns_points_at_kube_dns(store: Store) -> None:
    store.create(cluster_ip("kube-dns", "10.96.0.10", ns="kube-system"))
    coredns = ObjectMeta(
        name="coredns-abc", namespace="kube-system", labels={"k8s-app": "kube-dns"}
    )
    store.create(Pod(coredns, status=PodStatus(pod_ip="10.244.0.2")))
    store.create(eps("kube-dns", ep("10.244.0.2"), ns="kube-system"))
    dns = ClusterDNS(store)
    answer = dns.query("cluster.local", "NS")
    assert data(answer) == ["kube-dns.kube-system.svc.cluster.local."]
    assert [rr.data for rr in answer.additional] == ["10.96.0.10"]
    assert data(dns.query("ns.dns.cluster.local", "A")) == ["10.96.0.10"]


def test_outside_the_zone_is_forwarded(store: Store) -> None:
    assert ClusterDNS(store).query("example.com", "A").forwarded
    seen: list[tuple[str, str]] = []

    def upstream(name: str, qtype: str) -> DNSAnswer:
        seen.append((name, qtype))
        return DNSAnswer(name, qtype, Rcode.NXDOMAIN, authoritative=False)

    answer = ClusterDNS(store, upstream=upstream).query("example.com", "A")
    assert answer.forwarded
    assert answer.rcode is Rcode.NXDOMAIN
    assert seen == [("example.com.", "A")]


def test_other_types_tell_nodata_from_nxdomain(dns: ClusterDNS) -> None:
    assert dns.query("web.default.svc.cluster.local", "MX").nodata
    assert dns.query("nope.default.svc.cluster.local", "MX").rcode is Rcode.NXDOMAIN


# -- output -------------------------------------------------------------------------------


def test_format_answer_is_dig_answer_section(dns: ClusterDNS) -> None:
    text = format_answer(dns.query("_http._tcp.web.default.svc.cluster.local", "SRV"))
    assert (
        text
        == "_http._tcp.web.default.svc.cluster.local.\t30\tIN\tSRV\t0 100 80 web.default.svc.cluster.local."
    )
    negative = dns.query("nope.default.svc.cluster.local", "A")
    assert format_answer(negative) == ""
    assert format_answer(negative, section="authority") == (
        f"cluster.local.\t30\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. {SERIAL} 7200 1800 86400 30"
    )


def test_answer_to_dict_is_json(dns: ClusterDNS) -> None:
    out = answer_to_dict(dns.query("_http._tcp.web.default.svc.cluster.local", "SRV"))
    json.dumps(out)
    assert out["status"] == "NOERROR"
    assert out["question"] == {
        "name": "_http._tcp.web.default.svc.cluster.local.",
        "class": "IN",
        "type": "SRV",
    }
    assert out["answer"][0]["rdata"] == {
        "priority": 0,
        "weight": 100,
        "port": 80,
        "target": "web.default.svc.cluster.local.",
    }
    assert out["additional"][0]["data"] == "10.96.12.34"


def test_endpoint_pod_names_option(store: Store) -> None:
    ref = ObjectReference(kind="Pod", namespace="default", name="db-7f9c")
    store.create(headless("named"))
    store.create(eps("named", Endpoint(("10.244.1.50",), READY, target_ref=ref)))
    dns = ClusterDNS(store, endpoint_pod_names=True)
    assert data(dns.query("db-7f9c.named.default.svc.cluster.local", "A")) == ["10.244.1.50"]
