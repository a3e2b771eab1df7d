"""Trace reports (text, JSON, mermaid) and trace sessions (ClientIP affinity), issue 5."""

from __future__ import annotations

from fractions import Fraction

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.netfilter import parse_save
from k8s_service_lab.tracer import EndpointName, NodeContext, Packet, Tracer, TraceReport

RULES = """*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:SVC - [0:0]
-A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -m comment --comment "say \\"hi\\"" -j SVC
-A SVC -m statistic --mode random --probability 0.25 -j DNAT --to-destination 10.0.0.1:8080
-A SVC -j DNAT --to-destination 10.0.0.2:8080
-A POSTROUTING -d 10.0.0.2/32 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
-A FORWARD -d 10.0.0.9/32 -j REJECT
COMMIT
"""
NODE = NodeContext.of(["172.18.0.3", "127.0.0.1"])
PKT = Packet("10.244.1.5", "10.96.0.1", "tcp", 40000, 80)


def _report(packet: Packet = PKT) -> TraceReport:
    result = Tracer(parse_save(RULES), NODE).arriving(packet)
    names = {"10.0.0.1": EndpointName("default/a", "kind-worker")}
    return TraceReport(packet, result, "kind-worker", "arriving", names)


def test_json_contract() -> None:
    doc = _report().to_json()
    assert doc["verdict"] == "DNAT"
    assert doc["packet"] == {
        "src": "10.244.1.5", "dst": "10.96.0.1", "proto": "tcp", "sport": 40000, "dport": 80,
    }  # fmt: skip
    first, second = doc["endpoints"]
    assert (first["ip"], first["port"], first["probability"]) == ("10.0.0.1", 8080, "1/4")
    assert (first["pod"], first["node"], first["masquerade"]) == ("default/a", "kind-worker", False)
    assert (second["probability"], second["pod"], second["masquerade"]) == ("3/4", None, True)
    assert second["source"] == "172.18.0.3"  # MASQUERADE: the node's address
    assert first["percent"] == 25.0
    assert doc["masquerade"] is True
    # The jump into SVC is shared; the split starts at the random rule.
    assert [h["chain"] for h in doc["hops"]] == ["PREROUTING"]
    assert doc["hops"][0]["comment"] == 'say "hi"'
    assert [b["endpoint"] for b in doc["branches"]] == ["10.0.0.1:8080", "10.0.0.2:8080"]
    assert doc["branches"][0]["hops"][0]["why"].endswith("1/4 of the flows that get here")


def test_text_tree_names_branches_and_what_the_pod_sees() -> None:
    text = _report().to_text(width=200)
    lines = text.splitlines()
    assert lines[0] == "tcp 10.244.1.5:40000 → 10.96.0.1:80 on kind-worker (arriving)"
    assert "verdict DNAT to 2 endpoints, masqueraded (SNAT)" in lines[1]
    assert any("1/4 (25%) → 10.0.0.1:8080 — pod default/a on kind-worker" in x for x in lines)
    assert any("3/4 (75%) → 10.0.0.2:8080" in x for x in lines)
    assert "(masqueraded: the pod sees 172.18.0.3)" in text
    assert "(the pod sees 10.244.1.5)" in text


def test_single_outcome_has_no_branch_level_and_says_why_it_stops() -> None:
    rep = _report(Packet("10.244.1.5", "10.0.0.9", "udp", 1, 53))
    doc = rep.to_json()
    assert doc["verdict"] == "REJECT"
    assert len(doc["branches"]) == 1
    assert doc["branches"][0]["hops"] == []
    assert doc["hops"][-1]["rule"] == "-A FORWARD -d 10.0.0.9/32 -j REJECT"
    assert "REJECT: the packet goes no further" in rep.to_text()


def test_mermaid_escapes_quotes_and_labels_branches() -> None:
    chart = _report().to_mermaid()
    assert chart.startswith("flowchart TD\n")
    assert "say #quot;hi#quot;" in chart
    assert 'say "hi"' not in chart
    assert "-->|1/4|" in chart
    assert "-->|3/4|" in chart
    assert "DNAT 10.0.0.2:8080 (SNAT 172.18.0.3)" in chart


AFFINITY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: sticky}
spec:
  replicas: 3
  selector: {matchLabels: {app: sticky}}
  template:
    metadata: {labels: {app: sticky}}
    spec: {containers: [{name: c, image: agnhost}]}
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: sticky}
  sessionAffinity: ClientIP
  ports: [{port: 80}]
"""


@pytest.mark.parametrize("chosen", [0, 1, 2])
def test_client_ip_affinity_sticks_within_a_trace_session(chosen: int) -> None:
    cluster = Cluster()
    cluster.apply(AFFINITY)
    ip = cluster.get("Service", "sticky").spec.cluster_ip
    tracer = cluster.tracer("kind-worker")
    pkt = Packet("10.244.2.9", ip, "tcp", 40000, 80)
    first = tracer.arriving(pkt)
    assert [p for _, _, p in first.endpoints] == [Fraction(1, 3)] * 3
    branch = first.branches[chosen]
    assert branch.recent  # the SEP chain's "-m recent --set" recorded the client
    tracer.remember(branch)
    again = tracer.arriving(Packet("10.244.2.9", ip, "tcp", 40001, 80))
    assert again.endpoints == ((*branch.endpoint, Fraction(1)),)  # type: ignore[misc]
    assert any(
        "--rcheck" in h.rule and h.why.endswith(": 10.244.2.9 seen") for h in again.branches[0].hops
    )
    # Another client is not stuck; forgetting ends the session.
    other = tracer.arriving(Packet("10.244.2.10", ip, "tcp", 40000, 80))
    assert len(other.endpoints) == 3
    tracer.forget()
    assert len(tracer.arriving(pkt).endpoints) == 3
