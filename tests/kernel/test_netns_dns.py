"""DNS in the kernel lab: real queries from a pod to the CoreDNS pods, and real resolvers.

Queries are sent from a fresh interpreter inside a pod namespace (``ip netns exec``) and read
back with scapy's DNS layer; the records must be exactly what the model answers. glibc's own
resolver (``getent hosts``) reads the ``resolv.conf`` that ``ip netns exec`` mounts from
``/etc/netns/<namespace>/``, so its search path and ``ndots:5`` are exercised for real. The lab
prefix is ``ksl-t-d`` plus three characters of the process id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.controlplane.dnsrecords import ResourceRecord, SOAData, SRVData
from k8s_service_lab.netns import LabPlan, PodPlan, plan_lab
from k8s_service_lab.netns.dnsserver import ZoneSnapshot
from k8s_service_lab.netns.kernel import build, destroy, destroy_all, lab, lab_namespaces
from k8s_service_lab.netns.proxy import LabProxy
from k8s_service_lab.netns.resolvconf import ETC_NETNS, LabDNS

pytestmark = pytest.mark.kernel


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(digits[(n // 36**i) % 36] for i in (2, 1, 0))


PREFIX = f"ksl-t-d{_base36(os.getpid())}"
ROOT = Path(__file__).resolve().parents[2]
APPS = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        ports: [{{containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-h}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{name: http, port: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: search}}
spec: {{type: ExternalName, externalName: www.example.com}}
---
apiVersion: v1
kind: Service
metadata: {{name: wide}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{}]
""".format(", ".join(f"{{name: p{i}, port: {9000 + i}}}" for i in range(20)))

# Runs inside the pod: sends each query over UDP or TCP, prints scapy's reading as JSON.
CLIENT = r"""
import json, socket, sys
from scapy.layers.dns import DNS
server, queries = json.loads(sys.argv[1])
sys.path.insert(0, sys.argv[2])
from k8s_service_lab.netns.dnswire import encode_query
def name(x):
    if isinstance(x, list):
        return b"".join(x).decode()
    return x.decode() if isinstance(x, bytes) else x
def records(section):
    out = []
    for rr in section or []:
        row = {"name": name(rr.rrname), "ttl": rr.ttl, "type": rr.type}
        for f in ("rdata", "priority", "weight", "port", "target", "mname", "rname",
                  "serial", "refresh", "retry", "expire", "minimum"):
            if f in rr.fields:
                row[f] = name(rr.fields[f])
        out.append(row)
    return out
results = []
for i, (qname, qtype, tcp) in enumerate(queries):
    wire = encode_query(qname, qtype, id=i)
    if tcp:
        with socket.create_connection((server, 53), timeout=5) as s:
            s.sendall(len(wire).to_bytes(2, "big") + wire)
            size = int.from_bytes(s.recv(2, socket.MSG_WAITALL), "big")
            data = s.recv(size, socket.MSG_WAITALL)
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(wire, (server, 53))
            data = s.recv(65535)
    d = DNS(data)
    results.append({"id": d.id, "rcode": d.rcode, "aa": d.aa, "tc": d.tc, "size": len(data),
                    "an": records(d.an), "ns": records(d.ns), "ar": records(d.ar)})
print(json.dumps(results))
"""
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "TXT": 16, "AAAA": 28, "SRV": 33}


def as_rows(records: tuple[ResourceRecord, ...]) -> list[dict[str, Any]]:
    """The model's records in the client's JSON shape."""
    rows = []
    for rr in records:
        row: dict[str, Any] = {"name": rr.name, "ttl": rr.ttl, "type": TYPES[rr.type]}
        if isinstance(rr.data, SRVData):
            row.update(priority=rr.data.priority, weight=rr.data.weight, port=rr.data.port)
            row["target"] = rr.data.target
        elif isinstance(rr.data, SOAData):
            row.update(mname=rr.data.mname, rname=rr.data.rname, serial=rr.data.serial)
            row.update(refresh=rr.data.refresh, retry=rr.data.retry, expire=rr.data.expire)
            row["minimum"] = rr.data.minimum
        else:
            row["rdata"] = rr.data
        rows.append(row)
    return rows


def in_pod(pod: PodPlan, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["ip", "netns", "exec", pod.namespace, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def ask(pod: PodPlan, server: str, queries: list[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    out = in_pod(pod, sys.executable, "-c", CLIENT, json.dumps([server, queries]), str(ROOT))
    results: list[dict[str, Any]] = json.loads(out.stdout)
    assert [r["id"] for r in results] == list(range(len(queries)))
    return results


def etc_netns() -> tuple[bool, tuple[str, ...]]:
    """/etc/netns as the lab must leave it; other kernel tests' labs (``ksl-t-…``) left out."""
    if not ETC_NETNS.is_dir():
        return (False, ())
    entries = sorted(
        str(p.relative_to(ETC_NETNS))
        for p in ETC_NETNS.rglob("*")
        if not p.relative_to(ETC_NETNS).parts[0].startswith("ksl-t-")
        or p.relative_to(ETC_NETNS).parts[0].startswith(f"{PREFIX}-")
    )
    return (True, tuple(e for e in entries if not e.startswith(".ksl-")))


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    assert lab_namespaces(PREFIX) == (), f"leftover lab: run destroy_all({PREFIX!r})"
    before = etc_netns()
    cluster = Cluster()
    cluster.apply(APPS)
    yield cluster
    leftover = lab_namespaces(PREFIX)
    destroy_all(PREFIX)
    assert leftover == ()
    assert etc_netns() == before


def pods(plan: LabPlan, prefix: str) -> list[PodPlan]:
    return [p for p in plan.pods if p.pod.startswith(prefix)]


QUESTIONS = [
    ("web.default.svc.cluster.local", "A"),
    ("_http._tcp.web.default.svc.cluster.local", "SRV"),
    ("search.default.svc.cluster.local", "A"),  # ExternalName: a CNAME
    ("web-h.default.svc.cluster.local", "A"),  # headless: every ready pod
    ("nope.default.svc.cluster.local", "A"),  # NXDOMAIN, the SOA in authority
    ("10.0.96.10.in-addr.arpa", "PTR"),
]


def test_real_queries_from_a_pod_get_the_models_answers(cluster: Cluster) -> None:
    plan = plan_lab(cluster, prefix=PREFIX)
    coredns = pods(plan, "kube-system/coredns-")
    client = pods(plan, "default/web-")[0]
    dns = LabDNS.of(cluster.dns, nameserver=str(coredns[0].ips[0]))
    with lab(plan, dns=dns) as running:
        assert running.servers is not None
        conf = Path(ETC_NETNS, client.namespace, "resolv.conf").read_text()
        assert conf == (
            "search default.svc.cluster.local svc.cluster.local cluster.local\n"
            f"nameserver {coredns[0].ips[0]}\noptions ndots:5\n"
        )
        for server in coredns:
            queries = [(n, t, tcp) for n, t in QUESTIONS for tcp in (False, True)]
            for (name, qtype, _), got in zip(
                queries, ask(client, str(server.ips[0]), queries), strict=True
            ):
                want = cluster.dns.query(name, qtype)
                assert got["rcode"] == {"NOERROR": 0, "NXDOMAIN": 3}[want.rcode.value]
                assert (got["aa"], got["tc"]) == (1, 0)
                assert got["an"] == as_rows(want.answer), name
                assert got["ns"] == as_rows(want.authority), name
                assert got["ar"] == as_rows(want.additional), name
        web_h = cluster.dns.query("web-h.default.svc.cluster.local", "A").answer
        assert sorted(r.data for r in web_h) == sorted(
            str(p.ips[0]) for p in pods(plan, "default/web-")
        )
        assert [
            r.type for r in cluster.dns.query("search.default.svc.cluster.local", "A").answer
        ] == ["CNAME"]

        # 60 SRV records do not fit 512 octets: UDP says TC, TCP carries them all.
        wide = "wide.default.svc.cluster.local"
        udp, tcp = ask(client, str(coredns[0].ips[0]), [(wide, "SRV", False), (wide, "SRV", True)])
        assert udp["tc"] == 1
        assert udp["size"] <= 512
        assert 0 < len(udp["an"]) < 60
        assert tcp["tc"] == 0
        assert tcp["an"] == as_rows(cluster.dns.query(wide, "SRV").answer)

        # glibc's resolver, through the mounted resolv.conf: "web" is found on the first
        # search domain (fewer than 5 dots), "web.default" on the second.
        web_ip = cluster.dns.query("web.default.svc.cluster.local", "A").answer[0].data
        line = in_pod(client, "getent", "hosts", "web").stdout.split()
        assert line == [web_ip, "web.default.svc.cluster.local"]
        line = in_pod(client, "getent", "hosts", "web.default").stdout.split()
        assert line == [web_ip, "web.default.svc.cluster.local"]
        assert in_pod(client, "getent", "hosts", "nope", check=False).returncode == 2

        # A new Service is answered once the new zone has been handed over.
        late = "late.default.svc.cluster.local"
        assert ask(client, str(coredns[1].ips[0]), [(late, "A", False)])[0]["rcode"] == 3
        cluster.apply(
            "apiVersion: v1\nkind: Service\nmetadata: {name: late}\n"
            "spec: {selector: {app: web}, ports: [{port: 80}]}\n"
        )
        running.servers.update_dns(ZoneSnapshot.of(cluster.dns))
        for server in coredns:
            for tcp_ in (False, True):
                (got,) = ask(client, str(server.ips[0]), [(late, "A", tcp_)])
                assert got["an"] == as_rows(cluster.dns.query(late, "A").answer)
                assert got["an"]
        assert in_pod(client, "getent", "hosts", "late").stdout.split()[1] == late


def test_the_kube_dns_cluster_ip_answers_through_kube_proxy(cluster: Cluster) -> None:
    plan = plan_lab(cluster, prefix=PREFIX)
    client = pods(plan, "default/web-")[-1]
    dns = LabDNS.of(cluster.dns)
    assert dns.nameserver == "10.96.0.10"
    with lab(plan, dns=dns) as running:
        assert running.dns == dns
        LabProxy(cluster, plan).install()
        queries = [("web.default.svc.cluster.local", "A", tcp) for tcp in (False, True)]
        want = as_rows(cluster.dns.query("web.default.svc.cluster.local", "A").answer)
        for got in ask(client, "10.96.0.10", queries):
            assert got["an"] == want
        line = in_pod(client, "getent", "hosts", "kube-dns.kube-system").stdout.split()
        assert line == ["10.96.0.10", "kube-dns.kube-system.svc.cluster.local"]


def test_teardowns_remove_the_resolv_confs_even_after_a_crash(cluster: Cluster) -> None:
    plan = plan_lab(cluster, prefix=PREFIX)
    dns = LabDNS.of(cluster.dns)
    build(plan, dns=dns)
    mine = {p.namespace for p in plan.pods}
    assert {d.name for d in ETC_NETNS.iterdir() if d.name.startswith(f"{PREFIX}-")} == mine
    teardown = destroy(plan)
    assert {f.parent.name for f in teardown.files if f.name == "resolv.conf"} == mine
    assert not any(Path(ETC_NETNS, name).exists() for name in mine)
    # A crash between removing a namespace and its directory: destroy_all finds it by name.
    build(plan, dns=dns)
    orphan = plan.pods[0].namespace
    subprocess.run(["ip", "netns", "delete", orphan], check=True)
    teardown = destroy_all(PREFIX)
    assert orphan not in teardown.namespaces
    assert Path(ETC_NETNS, orphan, "resolv.conf") in teardown.files
    assert not any(Path(ETC_NETNS, name).exists() for name in mine)
