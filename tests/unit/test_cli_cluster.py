"""``ksl get``, ``ksl explain`` and ``ksl dns`` against the embedded cluster, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.test_cli import ksl

WEB = Path(__file__).resolve().parents[2] / "examples" / "web.yaml"


def test_get_services_on_a_fresh_cluster_matches_kind() -> None:
    result = ksl("get", "services", "-A")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "NAMESPACE     NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)                  AGE",
        "default       kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP                  60s",
        "kube-system   kube-dns     ClusterIP   10.96.0.10   <none>        53/UDP,53/TCP,9153/TCP   60s",
    ]


def test_get_pods_wide_after_applying_a_deployment() -> None:
    result = ksl("get", "pods", "-o", "wide", "-f", str(WEB))
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED",
        "NODE",
        "READINESS",
        "GATES",
    ]
    assert len(rows) == 3
    for row in rows:
        cells = row.split()
        assert cells[0].startswith("web-")
        assert cells[1:3] == ["1/1", "Running"]
        assert cells[5].startswith("10.244.")
        assert cells[6] in {"kind-worker", "kind-worker2"}


def test_get_one_object_as_yaml_and_json() -> None:
    text = ksl("get", "svc", "kubernetes", "-o", "yaml").stdout
    assert text.startswith("apiVersion: v1\nkind: Service\n")
    assert "clusterIP: 10.96.0.1\n" in text
    listing = json.loads(ksl("get", "svc", "-n", "kube-system", "-o", "json").stdout)
    assert listing["kind"] == "List"
    assert [i["metadata"]["name"] for i in listing["items"]] == ["kube-dns"]


def test_get_reports_what_is_missing_like_kubectl() -> None:
    missing = ksl("get", "svc", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): services "nope" not found'
    empty = ksl("get", "deployments")
    assert empty.returncode == 0
    assert empty.stderr.strip() == "No resources found in default namespace."
    bad_kind = ksl("get", "widgets")
    assert bad_kind.returncode == 1
    assert 'doesn\'t have a resource type "widgets"' in bad_kind.stderr


def test_get_reports_refused_objects_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 0, targetPort: 80}]}\n"
    )
    result = ksl("get", "svc", "-f", str(bad))
    assert result.returncode == 1
    assert "spec.ports[0].port: Invalid value: 0" in result.stderr
    assert "kubernetes" in result.stdout


def test_explain_shows_each_pod(tmp_path: Path) -> None:
    result = ksl("explain", "service", "web", "-f", str(WEB))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Service default/web (ClusterIP)"
    assert lines[3] == "  verdict:   3 ready endpoint(s)"
    assert sum(1 for line in lines if line.startswith("  + web-")) == 3


def test_dns_answers_like_dig() -> None:
    result = ksl("dns", "kube-dns.kube-system")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "kube-dns.kube-system.svc.cluster.local.\t30\tIN\tA\t10.96.0.10"
    )
    srv = json.loads(
        ksl(
            "dns", "_dns._udp.kube-dns.kube-system.svc.cluster.local", "-t", "SRV", "-o", "json"
        ).stdout
    )
    assert srv["status"] == "NOERROR"
    nx = ksl("dns", "nope.default.svc.cluster.local.")
    assert nx.returncode == 1
    assert ";; status: NXDOMAIN" in nx.stdout
