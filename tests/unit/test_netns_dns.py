"""The lab's DNS server without a kernel: its codec, its snapshot, its replies, its files.

Replies are read back with scapy's DNS layer, a decoder we did not write, and compared record
by record with what the model (:class:`ClusterDNS`) answers for the same question.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS

from k8s_service_lab import Cluster
from k8s_service_lab.controlplane.dnsrecords import ResourceRecord, SOAData, SRVData
from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netns import plan_lab
from k8s_service_lab.netns.dnsserver import Responder, ZoneSnapshot, fit
from k8s_service_lab.netns.dnswire import (
    RCODES,
    Header,
    Message,
    Opt,
    Question,
    WireError,
    decode_message,
    encode_message,
    encode_query,
    type_code,
)
from k8s_service_lab.netns.podserver import supervisor_spec
from k8s_service_lab.netns.resolvconf import (
    MARKER,
    LabDNS,
    remove_resolv_confs,
    resolv_conf_dirs,
    write_resolv_confs,
)

APPS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        ports: [{containerPort: 8080}, {containerPort: 8081, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: echo, port: 81, targetPort: 8081, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: web-h}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: search}
spec: {type: ExternalName, externalName: www.example.com}
"""


def many_ports(n: int) -> str:
    ports = "".join(f"\n  - {{name: p{i}, port: {9000 + i}}}" for i in range(n))
    return (
        "apiVersion: v1\nkind: Service\nmetadata: {name: wide}\n"
        f"spec:\n  clusterIP: None\n  selector: {{app: web}}\n  ports:{ports}\n"
    )


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    cluster = Cluster()
    cluster.apply(APPS)
    cluster.apply(many_ports(20))
    return cluster


@pytest.fixture(scope="module")
def responder(cluster: Cluster) -> Responder:
    return Responder(ZoneSnapshot.of(cluster.dns))


def _name(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def scapy_records(section: Any) -> tuple[ResourceRecord, ...]:
    """scapy's records as the model's values."""
    out = []
    for rr in section or []:
        kind = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 16: "TXT", 28: "AAAA"}.get(
            rr.type, "SRV" if rr.type == 33 else f"TYPE{rr.type}"
        )
        data: Any
        if kind == "SRV":
            data = SRVData(rr.priority, rr.weight, rr.port, _name(rr.target))
        elif kind == "SOA":
            data = SOAData(
                _name(rr.mname), _name(rr.rname), rr.serial, rr.refresh, rr.retry, rr.expire,
                rr.minimum,
            )  # fmt: skip
        elif kind == "TXT":
            data = b"".join(rr.rdata).decode()
        else:
            data = _name(rr.rdata)
        out.append(ResourceRecord(_name(rr.rrname), rr.ttl, kind, data))
    return tuple(out)


def ask(responder: Responder, name: str, qtype: str, **kwargs: Any) -> Any:
    tcp = kwargs.pop("tcp", False)
    reply = responder.respond(encode_query(name, qtype, id=4242, **kwargs), tcp=tcp)
    assert reply is not None
    return DNS(reply)


QUESTIONS = [
    ("web.default.svc.cluster.local", "A"),
    ("WEB.Default.svc.cluster.local", "A"),  # case kept in the answer, as CoreDNS does
    ("web.default.svc.cluster.local", "AAAA"),  # NODATA with the SOA
    ("web.default.svc.cluster.local", "MX"),
    ("_http._tcp.web.default.svc.cluster.local", "SRV"),
    ("_echo._udp.web.default.svc.cluster.local", "SRV"),
    ("_http._tcp.web-h.default.svc.cluster.local", "SRV"),
    ("web-h.default.svc.cluster.local", "A"),
    ("search.default.svc.cluster.local", "A"),
    ("search.default.svc.cluster.local", "CNAME"),
    ("nope.default.svc.cluster.local", "A"),
    ("web.nowhere.svc.cluster.local", "A"),
    ("10-244-1-2.default.pod.cluster.local", "A"),
    ("10.0.96.10.in-addr.arpa", "PTR"),
    ("cluster.local", "NS"),
    ("cluster.local", "SOA"),
    ("dns-version.cluster.local", "TXT"),
    ("kube-dns.kube-system.svc.cluster.local", "A"),
    ("_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV"),
]


@pytest.mark.parametrize(("name", "qtype"), QUESTIONS)
def test_every_reply_is_the_models_answer(
    cluster: Cluster, responder: Responder, name: str, qtype: str
) -> None:
    want = cluster.dns.query(name, qtype)
    for tcp in (False, True):
        got = ask(responder, name, qtype, tcp=tcp)
        assert (got.id, got.qr, got.aa, got.ra, got.tc) == (4242, 1, int(want.authoritative), 0, 0)
        assert got.rcode == RCODES[want.rcode.value]
        assert _name(got.qd[0].qname) == name + "."
        assert scapy_records(got.an) == want.answer
        assert scapy_records(got.ns) == want.authority
        assert scapy_records(got.ar) == want.additional
    assert responder.recovered == 0


def test_headless_answers_every_ready_pod_and_external_name_a_cname(cluster: Cluster) -> None:
    answer = cluster.dns.query("web-h.default.svc.cluster.local", "A")
    pods = {p.status.pod_ip for p in cluster.list("pods") if p.metadata.labels.get("app") == "web"}
    assert {r.data for r in answer.answer} == pods
    assert len(pods) == 3
    cname = cluster.dns.query("search.default.svc.cluster.local", "A").answer
    assert [(r.type, r.data) for r in cname] == [("CNAME", "www.example.com.")]


def test_names_outside_the_cluster_get_servfail_without_an_upstream(responder: Responder) -> None:
    got = ask(responder, "example.com", "A")
    assert (got.rcode, got.aa, got.ancount, got.nscount, got.arcount) == (2, 0, 0, 0, 0)
    assert ask(responder, "9.9.9.9.in-addr.arpa", "PTR").rcode == 2  # fell through to forward


def test_the_snapshot_survives_json_and_answers_as_the_model(cluster: Cluster) -> None:
    zone = ZoneSnapshot.of(cluster.dns)
    again = ZoneSnapshot.from_json(json.loads(json.dumps(zone.to_json())))
    assert again == zone
    dns = again.cluster_dns()
    for name, qtype in QUESTIONS:
        assert dns.query(name, qtype) == cluster.dns.query(name, qtype)


def test_an_update_swaps_the_zone(cluster: Cluster) -> None:
    other = Cluster()
    responder = Responder(ZoneSnapshot.of(other.dns))
    assert ask(responder, "web.default.svc.cluster.local", "A").rcode == 3
    responder.update(ZoneSnapshot.of(cluster.dns))
    got = ask(responder, "web.default.svc.cluster.local", "A")
    assert scapy_records(got.an) == cluster.dns.query("web.default.svc.cluster.local", "A").answer


# -- truncation and EDNS ----------------------------------------------------------------------------


WIDE_SRV = "wide.default.svc.cluster.local"


def test_udp_without_edns_is_cut_to_512_with_tc(cluster: Cluster, responder: Responder) -> None:
    want = cluster.dns.query(WIDE_SRV, "SRV")
    assert len(want.answer) == 60  # 3 pods x 20 ports
    raw = responder.respond(encode_query(WIDE_SRV, "SRV", id=1))
    assert raw is not None
    assert len(raw) <= 512
    got = DNS(raw)
    assert got.tc == 1
    kept = scapy_records(got.an)
    assert 0 < len(kept) < 60
    assert kept == want.answer[: len(kept)]
    assert got.arcount == 0  # additional records go first
    full = ask(responder, WIDE_SRV, "SRV", tcp=True)
    assert full.tc == 0
    assert scapy_records(full.an) == want.answer
    assert scapy_records(full.ar) == want.additional


def test_edns_raises_the_udp_limit_and_is_echoed(responder: Responder) -> None:
    cookie = (10, bytes(range(8)))
    opt = Opt(udp_size=8192, flags=0x8000, options=(cookie, (65001, b"x")))
    raw = responder.respond(encode_query(WIDE_SRV, "SRV", id=1, opt=opt))
    assert raw is not None
    assert 512 < len(raw) <= 8192
    reply = decode_message(raw)
    assert not reply.header.tc
    assert len(reply.answer) == 60
    # request.SizeAndDo: the query's OPT, DO kept, only options CoreDNS knows.
    assert reply.opt == Opt(8192, 0, 0, 0x8000, (cookie,))
    small = responder.respond(encode_query(WIDE_SRV, "SRV", id=1, opt=Opt(udp_size=100)))
    assert small is not None
    assert len(small) <= 512
    assert decode_message(small).header.tc


def test_fit_keeps_uncompressed_messages_that_fit_and_compresses_the_rest() -> None:
    rr = ResourceRecord("a.example.", 30, "A", "192.0.2.1")
    msg = Message(Header(1, qr=True), (Question("a.example.", 1),), answer=(rr,) * 25)
    assert len(encode_message(msg)) == 12 + 15 + 25 * 25 > 512
    wire, cut = fit(msg, 512)  # compressed, every record is 16 octets
    assert len(wire) == 12 + 15 + 25 * 16
    assert not cut.header.tc
    assert cut == msg
    wire, cut = fit(msg, 200)  # below 512 counts as 512 (RFC 6891)
    assert wire == fit(msg, 512)[0]
    many = Message(msg.header, msg.question, answer=(rr,) * 60)
    wire, cut = fit(many, 512)
    assert cut.header.tc
    assert len(cut.answer) == (512 - 27) // 16
    assert len(wire) <= 512
    assert decode_message(wire).header.tc


def test_large_udp_replies_are_compressed_to_avoid_fragments(responder: Responder) -> None:
    opt = Opt(udp_size=4096)
    raw = responder.respond(encode_query(WIDE_SRV, "SRV", id=1, opt=opt))
    assert raw is not None
    plain = responder.respond(encode_query(WIDE_SRV, "SRV", id=1, opt=opt), tcp=True)
    # Over TCP it fits uncompressed and goes so; over UDP (> 1480 octets) compressed anyway.
    assert plain is not None
    assert len(raw) < len(plain)
    assert len(plain) > 1480
    assert decode_message(raw).answer == decode_message(plain).answer


# -- malformed and unusual messages -----------------------------------------------------------------


def header(bits: int = 0x0100, counts: tuple[int, int, int, int] = (1, 0, 0, 0)) -> bytes:
    return struct.pack("!6H", 77, bits, *counts)


QUESTION = b"\x03web\x07default\x03svc\x07cluster\x05local\x00\x00\x01\x00\x01"


@pytest.mark.parametrize(
    ("data", "rcode", "questions"),
    [
        pytest.param(header(counts=(2, 0, 0, 0)) + QUESTION, "FORMERR", 0, id="two questions"),
        pytest.param(header(counts=(0, 0, 0, 0)), "FORMERR", 0, id="no question"),
        pytest.param(header(counts=(1, 0, 0, 3)) + QUESTION, "FORMERR", 0, id="3 additional"),
        pytest.param(header() + b"\x03we", "FORMERR", 0, id="label past the end"),
        pytest.param(header() + b"\x43abc\x00", "FORMERR", 0, id="label type 0x40"),
        pytest.param(header() + b"\xc0\x0c", "FORMERR", 0, id="pointer loop"),
        pytest.param(header() + b"\x01a" * 128 + b"\x00", "FORMERR", 0, id="name > 255"),
        pytest.param(
            header(counts=(1, 0, 0, 1)) + QUESTION + b"\x00\x00\x29", "FORMERR", 1, id="cut RR"
        ),
        pytest.param(header(0x1100), "NOTIMP", 0, id="opcode STATUS"),
        pytest.param(header(), "SERVFAIL", 0, id="a bare header"),
    ],
)
def test_malformed_queries_get_an_error_reply(
    responder: Responder, data: bytes, rcode: str, questions: int
) -> None:
    raw = responder.respond(data)
    assert raw is not None
    reply = decode_message(raw)
    assert reply.header.id == 77
    assert reply.header.qr
    assert not reply.header.aa
    assert reply.header.rcode == RCODES[rcode]
    assert reply.header.rd  # copied from the query
    assert len(reply.question) == questions
    assert (reply.answer, reply.authority, reply.additional) == ((), (), ())
    if rcode == "NOTIMP":
        assert reply.header.opcode == 2


def test_silence_for_short_messages_and_responses(responder: Responder) -> None:
    assert responder.respond(b"") is None
    assert responder.respond(header()[:11]) is None
    assert responder.respond(header(0x8100) + QUESTION) is None


def test_lenient_questions_and_edns_versions(responder: Responder) -> None:
    # The question may stop after its name: type and class read as 0 (miekg's unpackQuestion).
    cut = DNS(responder.respond(header() + QUESTION[:-4]) or b"")
    assert cut.rcode == 0
    assert cut.qd[0].qtype == 0
    assert cut.ns is not None
    raw = responder.respond(encode_query("web.default.svc.cluster.local", opt=Opt(version=1)))
    assert raw is not None
    badvers = decode_message(raw)
    assert badvers.header.rcode == RCODES["BADVERS"]
    assert badvers.answer == ()
    assert badvers.opt == Opt(0, 1, 0, 0, ())


# -- the codec ------------------------------------------------------------------------------------

LABEL = st.text(st.characters(codec="ascii"), min_size=1, max_size=20)


@settings(database=None, max_examples=300)
@given(
    labels=st.lists(LABEL, min_size=1, max_size=5),
    qtype=st.sampled_from(["A", "AAAA", "SRV", "PTR", "TYPE4000"]),
    ident=st.integers(0, 0xFFFF),
    opt=st.none() | st.builds(Opt, st.integers(0, 0xFFFF), st.just(0), st.integers(0, 255)),
)
def test_queries_round_trip(labels: list[str], qtype: str, ident: int, opt: Opt | None) -> None:
    raw = [label.encode() for label in labels]
    name = ".".join(
        "".join("\\" + chr(b) if chr(b) in '. ;()@$"\\' else f"\\{b:03d}" if b < 0x21 or b > 0x7E else chr(b)
                for b in label)
        for label in raw
    ) + "."  # fmt: skip
    query = decode_message(encode_query(name, qtype, id=ident, opt=opt))
    assert query.header == Header(ident, rd=True)
    assert query.question == (Question(name, type_code(qtype)),)
    assert query.opt == opt
    assert DNS(encode_query(name, qtype, id=ident)).qd[0].qname == b".".join(raw) + b"."


@pytest.mark.parametrize("compress", [False, True])
def test_responses_decode_with_scapy_and_compress_by_suffix(compress: bool) -> None:
    owner = "_http._tcp.web.default.svc.cluster.local."
    records = (
        ResourceRecord(owner, 30, "SRV", SRVData(0, 50, 80, "web.default.svc.cluster.local.")),
        ResourceRecord("web.default.svc.cluster.local.", 30, "A", "10.96.12.34"),
        ResourceRecord("x.cluster.local.", 30, "AAAA", "fd00:10:96::a"),
        ResourceRecord("x.cluster.local.", 30, "CNAME", "web.default.svc.cluster.local."),
        ResourceRecord("dns-version.cluster.local.", 28800, "TXT", "1.1.0"),
    )
    soa = SOAData("ns.dns.cluster.local.", "hostmaster.cluster.local.", 5, 7200, 1800, 86400, 30)
    msg = Message(
        Header(9, qr=True, aa=True, rcode=3), (Question(owner, 33),), records[:1],
        (ResourceRecord("cluster.local.", 30, "SOA", soa),), records[1:],
    )  # fmt: skip
    wire = encode_message(msg, compress=compress)
    got = DNS(wire)
    assert scapy_records(got.an) == msg.answer
    assert scapy_records(got.ns) == msg.authority
    assert scapy_records(got.ar) == msg.additional
    assert got.rcode == 3
    assert got.aa == 1
    if compress:
        assert len(wire) < len(encode_message(msg))
    # An SRV target is never compressed (RFC 3597 §4): its name appears in full.
    assert b"\x03web\x07default\x03svc\x07cluster\x05local\x00" in wire
    assert decode_message(wire).header == msg.header


def test_unencodable_names_are_refused() -> None:
    with pytest.raises(WireError, match="1 to 63"):
        encode_query("a" * 64 + ".example")
    with pytest.raises(WireError, match="255"):
        encode_query(".".join(["a" * 60] * 5))


# -- resolv.conf files and the supervisor's spec ------------------------------------------------------


def test_resolv_confs_are_written_and_removed_leaving_the_directory_as_found(
    cluster: Cluster, tmp_path: Path
) -> None:
    plan = plan_lab(cluster, prefix="ksl-t-u")
    dns = LabDNS.of(cluster.dns)
    root = tmp_path / "netns"
    written = write_resolv_confs(plan, dns, root)
    assert len(written) == len(plan.pods)
    assert (root / MARKER).exists()
    web = next(p for p in plan.pods if p.pod.startswith("default/web-"))
    assert (root / web.namespace / "resolv.conf").read_text() == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\noptions ndots:5\n"
    )
    assert set(resolv_conf_dirs("ksl-t-u", root)) == {p.namespace for p in plan.pods}
    assert resolv_conf_dirs("ksl-t", root) == ()  # another lab's prefix owns none of them
    remove_resolv_confs([ns.name for ns in plan.namespaces], root)
    assert not root.exists()
    root.mkdir()  # a directory that was there before stays
    write_resolv_confs(plan, dns, root)
    remove_resolv_confs(resolv_conf_dirs("ksl-t-u", root), root)
    assert root.is_dir()
    assert list(root.iterdir()) == []
    with pytest.raises(ServiceLabError, match="not a plain name"):
        remove_resolv_confs(["../etc"], root)


def test_the_supervisor_spec_hands_port_53_of_coredns_pods_to_dns(cluster: Cluster) -> None:
    plan = plan_lab(cluster, prefix="ksl-t-u")
    dns = LabDNS.of(cluster.dns)
    assert dns.nameserver == "10.96.0.10"
    assert len(dns.servers) == 2
    spec = supervisor_spec(plan, dns)
    served = {p["pod"]: p for p in spec["pods"]}
    for pod in dns.servers:
        assert served[pod]["dns"] is True
        assert served[pod]["ports"] == [[9153, "TCP"]]
    assert supervisor_spec(plan)["dns"] is None
    assert ZoneSnapshot.from_json(spec["dns"]) == dns.zone
