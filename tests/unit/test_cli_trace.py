"""``ksl trace`` and ``ksl demo`` as a user runs them (in-process, through the typer app)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from k8s_service_lab.cli.main import app
from tests.unit.test_cli import runner

ROOT = Path(__file__).resolve().parents[2]
WEB = str(ROOT / "examples" / "web.yaml")
FIXTURES = ROOT.parent / "shared" / "fixtures" / "real-world"

# A Deployment of two echo pods, both on kind-worker (nodeSelector), behind the eTP=Local
# NodePort of examples/nodeport-local.yaml, and a Service without endpoints.
ECHO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      nodeSelector: {kubernetes.io/hostname: kind-worker}
      containers: [{name: echo, image: agnhost, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: nothing}
spec:
  selector: {app: nothing}
  ports: [{port: 80}]
"""


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = tmp_path_factory.mktemp("echo") / "echo.yaml"
    path.write_text(ECHO)
    return ["-f", str(path), "-f", str(ROOT / "examples" / "nodeport-local.yaml")]


def trace_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["trace", *args, "-o", "json"])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_pod_to_service_by_shorthand_names_each_endpoint_pod() -> None:
    doc = trace_json("-f", WEB, "--src", "10.244.2.200", "--dst", "svc/default/web")
    assert doc["verdict"] == "DNAT"
    assert doc["node"] == "kind-worker2"  # the source's node: 10.244.2.0/24
    assert doc["direction"] == "arriving"
    assert doc["packet"]["dport"] == 80
    assert doc["packet"]["proto"] == "tcp"
    assert not doc["masquerade"]
    eps = doc["endpoints"]
    assert [e["probability"] for e in eps] == ["1/3"] * 3
    assert sum(Fraction(e["probability"]) for e in eps) == 1
    assert {e["port"] for e in eps} == {8080}
    assert all(e["pod"].startswith("default/web-") for e in eps)
    assert sorted(e["node"] for e in eps) == ["kind-worker", "kind-worker", "kind-worker2"]
    assert all(e["source"] == "10.244.2.200" for e in eps)
    assert doc["hops"][0]["chain"] == "PREROUTING"
    assert doc["hops"][1]["comment"] == "default/web:http cluster IP"
    assert len(doc["branches"]) == 3
    assert [b["probability"] for b in doc["branches"]] == ["1/3"] * 3


def test_node_to_service_is_masqueraded_from_the_address_of_its_route() -> None:
    doc = trace_json("-f", WEB, "--src", "node/kind-worker", "--dst", "svc/default/web")
    assert doc["direction"] == "sent"
    assert doc["node"] == "kind-worker"
    assert doc["masquerade"]
    sources = {e["node"]: e["source"] for e in doc["endpoints"]}
    # A local pod is reached through its veth (kindnet's gateway address), a remote one
    # through eth0: the pod sees 10.244.1.1 or the node IP (DESIGN §8's measured facts).
    assert sources == {"kind-worker": "10.244.1.1", "kind-worker2": "172.18.0.3"}


def test_node_port_with_local_policy_keeps_the_client_address(echo: list[str]) -> None:
    doc = trace_json(*echo, "--src", "203.0.113.7", "--dst", "node/kind-worker", "--dport", "30080")
    assert doc["verdict"] == "DNAT"
    assert not doc["masquerade"]
    assert [e["source"] for e in doc["endpoints"]] == ["203.0.113.7"] * 2
    assert [e["probability"] for e in doc["endpoints"]] == ["1/2", "1/2"]


def test_node_port_with_local_policy_drops_on_a_node_without_local_pods(
    echo: list[str],
) -> None:
    doc = trace_json(
        *echo, "--src", "203.0.113.7", "--dst", "node/kind-worker2", "--dport", "30080"
    )
    assert doc["verdict"] == "DROP"
    assert doc["endpoints"] == []
    assert any("has no local endpoints" in (h["comment"] or "") for h in doc["hops"])


def test_service_without_endpoints_is_rejected_in_the_text_tree(echo: list[str]) -> None:
    result = runner.invoke(
        app, ["trace", *echo, "--src", "10.244.1.50", "--dst", "svc/default/nothing"]
    )
    assert result.exit_code == 0, result.output
    assert "REJECT" in result.stdout.splitlines()[1]
    assert '"default/nothing has no endpoints"' in result.stdout


def test_mermaid_has_one_labelled_edge_per_branch() -> None:
    result = runner.invoke(
        app,
        ["trace", "-f", WEB, "--src", "10.244.2.200", "--dst", "svc/default/web", "-o", "mermaid"],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert sum("-->|1/3|" in line for line in lines) == 3
    assert sum("DNAT 10.244." in line for line in lines) == 3


def test_dns_port_takes_the_protocol_of_the_services_first_port_53() -> None:
    doc = trace_json("--src", "10.244.1.9", "--dst", "svc/kube-system/kube-dns", "--dport", "53")
    assert doc["packet"]["proto"] == "udp"
    assert all(e["pod"].startswith("kube-system/coredns-") for e in doc["endpoints"])
    tcp = trace_json(
        "--src",
        "10.244.1.9",
        "--dst",
        "svc/kube-system/kube-dns",
        "--dport",
        "53",
        "--proto",
        "tcp",
    )
    assert tcp["hops"][1]["comment"] == "kube-system/kube-dns:dns-tcp cluster IP"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--src", "pod/default/nope", "--dst", "1.1.1.1", "--dport", "80"], 1,
         'Error from server (NotFound): pods "nope" not found'),
        (["--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "80", "--node", "kind-worker9"], 1,
         'Error from server (NotFound): nodes "kind-worker9" not found'),
        (["--src", "svc/default/kubernetes", "--dst", "1.1.1.1", "--dport", "80"], 2,
         "--src cannot be a Service"),
        (["--src", "10.244.1.9", "--dst", "svc/kube-system/kube-dns"], 2,
         "--dport is needed for svc/kube-system/kube-dns (ports: 53/UDP dns, 53/TCP dns-tcp,"
         " 9153/TCP metrics)"),
        (["--src", "web", "--dst", "1.1.1.1", "--dport", "80"], 2,
         "--src web: not an IP address"),
        (["--src", "pod/web", "--dst", "1.1.1.1", "--dport", "80"], 2,
         "write pod/NAMESPACE/NAME"),
        (["--src", "10.244.1.9", "--dst", "fd00::1", "--dport", "80"], 2,
         "are of different IP families"),
        (["--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "80", "--node-ip", "1.1.1.1"], 2,
         "--node-ip and --cluster-cidr describe a --dump's node"),
        (["--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "80", "-o", "yaml"], 2,
         'unknown output format "yaml"'),
        (["--dump", "/nonexistent.rules", "--node-ip", "1.1.1.1", "--src", "1.1.1.1",
          "--dst", "2.2.2.2", "--dport", "80"], 2, "No such file or directory"),
        (["--dump", "x", "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "80"], 2,
         "--dump needs --node-ip"),
    ],
)  # fmt: skip
def test_bad_requests_say_what_is_wrong(args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, ["trace", *args])
    assert result.exit_code == code, result.output
    assert message in result.stderr


def test_a_broken_dump_is_refused_with_its_line_number(tmp_path: Path) -> None:
    dump = tmp_path / "node.rules"
    dump.write_text("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j\nCOMMIT\n")
    result = runner.invoke(
        app,
        ["trace", "--dump", str(dump), "--node-ip", "192.168.1.5",
         "--src", "10.1.0.70", "--dst", "10.2.0.10", "--dport", "53"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"{dump}:3" in result.stderr


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/real-world not present")
def test_trace_through_a_real_nodes_dump() -> None:
    doc = trace_json(
        "--dump", str(FIXTURES / "kubeadm-flannel-2024.iptables-save"),
        "--node-ip", "192.168.1.5", "--cluster-cidr", "10.1.0.0/16",
        "--src", "10.1.0.70", "--dst", "10.2.0.10", "--dport", "53", "--proto", "udp",
    )  # fmt: skip
    assert doc["verdict"] == "DNAT"
    assert [(e["ip"], e["probability"]) for e in doc["endpoints"]] == [
        ("10.1.0.64", "1/2"),
        ("10.1.0.67", "1/2"),
    ]
    assert doc["uncertain"]  # the libvirt CHECKSUM rule on virbr0 is listed, not guessed
    assert any("virbr0" in text for text in doc["not_evaluated"])


def test_demo_walks_from_manifest_to_packet() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    titles = [line for line in out.splitlines() if line.startswith("== ")]
    assert len(titles) == 8
    assert "KUBE-SVC-" in out
    assert "--probability 0.3333333333" in out
    assert out.count("1/3 (33.33%) → 10.244.") == 3
    assert "verdict DNAT to 3 endpoints, not masqueraded" in out
    # Every pod line of the tour's `get pods -o wide` names a node; the client sits on worker2.
    assert "client                1/1     Running" in out


def test_nftables_mode_traces_the_numgen_split() -> None:
    doc = trace_json(
        "--mode", "nftables", "-f", WEB, "--src", "10.244.2.200", "--dst", "svc/default/web"
    )  # fmt: skip
    assert doc["verdict"] == "DNAT"
    assert [e["probability"] for e in doc["endpoints"]] == ["1/3"] * 3
    assert all(h["table"] == "ip kube-proxy" for h in doc["hops"])
    assert any("vmap @service-ips" in h["rule"] for h in doc["hops"])
    assert any("numgen random mod 3" in b["hops"][0]["rule"] for b in doc["branches"])


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/real-world not present")
def test_trace_through_a_real_nft_dump_detects_its_format() -> None:
    args = (
        "--dump", str(FIXTURES / "k3s-nftables.nft"), "--node-ip", "10.34.4.246",
        "--src", "10.42.0.5", "--dst", "10.43.0.10", "--dport", "53", "--proto", "udp",
    )  # fmt: skip
    doc = trace_json(*args)
    assert doc["verdict"] == "DNAT"
    assert [(e["ip"], e["port"]) for e in doc["endpoints"]] == [("10.42.0.171", 53)]
    # Read as iptables-save it is refused, with the line that gave it away.
    result = runner.invoke(app, ["trace", *args, "--format", "iptables"])
    assert result.exit_code == 1
    assert "k3s-nftables.nft:" in result.stderr
