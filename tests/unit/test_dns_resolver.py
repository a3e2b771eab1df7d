"""A ClusterFirst pod's resolver: kubelet's search path, ndots:5, glibc's search order (sheet §6)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.api import Namespace, ObjectMeta, Service
from k8s_service_lab.api.service import ServicePort, ServiceSpec
from k8s_service_lab.controlplane.dns import ClusterDNS
from k8s_service_lab.controlplane.dnsrecords import DNSAnswer, Rcode
from k8s_service_lab.controlplane.dnsresolver import (
    MAX_SEARCH_DOMAINS,
    ResolvConf,
    resolve,
    search_candidates,
)
from k8s_service_lab.controlplane.store import Store

HTTPS = ServicePort(443, name="https", protocol="TCP")


def cluster() -> ClusterDNS:
    store = Store()
    for ns in ("default", "other", "kube-system"):
        store.create(Namespace(ObjectMeta(name=ns)))

    def add(name: str, ns: str, ip: str) -> None:
        spec = ServiceSpec(type="ClusterIP", cluster_ip=ip, cluster_ips=(ip,), ports=(HTTPS,))
        store.create(Service(ObjectMeta(name=name, namespace=ns), spec))

    add("kubernetes", "default", "10.96.0.1")
    add("kube-dns", "kube-system", "10.96.0.10")
    add("api", "other", "10.96.40.4")
    return ClusterDNS(store)


def test_resolv_conf_as_kubelet_writes_it() -> None:
    conf = ResolvConf.cluster_first("other", nameserver="10.96.0.10", node_search=("corp.example",))
    assert conf.render() == (
        "search other.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n"
    )


def test_search_list_drops_duplicates_and_respects_kubelet_limit() -> None:
    many = tuple(f"d{i}.example" for i in range(40))
    conf = ResolvConf.cluster_first("default", node_search=("cluster.local", *many))
    assert conf.search.count("cluster.local") == 1
    assert len(conf.search) == MAX_SEARCH_DOMAINS


def test_short_name_uses_own_namespace_first() -> None:
    got = resolve(cluster(), "kubernetes")
    assert got.queries == ("kubernetes.default.svc.cluster.local.",)
    assert got.found
    assert got.answer.answer[0].data == "10.96.0.1"
    assert got.conf.nameservers == ("10.96.0.10",)


def test_service_of_another_namespace_needs_the_namespace() -> None:
    dns = cluster()
    alone = resolve(dns, "api")
    assert not alone.found
    assert alone.answer.rcode is Rcode.SERVFAIL
    assert alone.queries[-1] == "api."
    qualified = resolve(dns, "api.other")
    assert qualified.queries == (
        "api.other.default.svc.cluster.local.",
        "api.other.svc.cluster.local.",
    )
    assert qualified.answer.answer[0].data == "10.96.40.4"
    assert resolve(dns, "api", namespace="other").found


def test_partially_qualified_names() -> None:
    dns = cluster()
    got = resolve(dns, "kubernetes.default.svc")
    assert got.queries == (
        "kubernetes.default.svc.default.svc.cluster.local.",
        "kubernetes.default.svc.svc.cluster.local.",
        "kubernetes.default.svc.cluster.local.",
    )
    assert got.found
    assert resolve(dns, "kubernetes.default").queries[-1] == "kubernetes.default.svc.cluster.local."


def test_trailing_dot_is_absolute() -> None:
    got = resolve(cluster(), "kubernetes.default.svc.cluster.local.")
    assert got.queries == ("kubernetes.default.svc.cluster.local.",)
    assert got.found


def test_external_name_walks_the_whole_search_list_first() -> None:
    answers: list[str] = []

    def upstream(name: str, qtype: str) -> DNSAnswer:
        answers.append(name)
        return DNSAnswer(name, qtype, Rcode.NXDOMAIN, authoritative=False)

    dns = cluster()
    dns.upstream = upstream
    got = resolve(dns, "example.com")
    assert got.queries == (
        "example.com.default.svc.cluster.local.",
        "example.com.svc.cluster.local.",
        "example.com.cluster.local.",
        "example.com.",
    )
    assert [t.rcode for t in got.tries[:3]] == [Rcode.NXDOMAIN] * 3
    assert answers == ["example.com."]
    assert got.answer.forwarded


def test_nodata_continues_the_search_and_is_reported() -> None:
    got = resolve(cluster(), "kubernetes", "AAAA")
    assert len(got.queries) == 4
    assert got.answer.name == "kubernetes.default.svc.cluster.local."
    assert got.answer.nodata


def test_five_dots_try_as_is_first() -> None:
    conf = ResolvConf.cluster_first("default")
    assert search_candidates("a.b.c.d.e.f", conf)[0] == "a.b.c.d.e.f."
    assert search_candidates("a.b.c.d.e", conf)[-1] == "a.b.c.d.e."


@settings(database=None, max_examples=50)
@given(st.lists(st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True), min_size=1, max_size=7))
def test_candidates_cover_search_list_once(labels: list[str]) -> None:
    name = ".".join(labels)
    conf = ResolvConf.cluster_first("default")
    got = search_candidates(name, conf)
    assert len(got) == len(conf.search) + 1
    assert len(set(got)) == len(got)
    as_is_first = name.count(".") >= conf.ndots
    assert (got[0] == name + ".") is as_is_first
