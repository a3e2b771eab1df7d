"""``ksl render --compare``: the differences it lists are the ones the traces show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.cli.compare import compare_service
from k8s_service_lab.errors import NotFoundError
from k8s_service_lab.netfilter import Comment, Ruleset
from tests.unit.test_cli import ROOT, ksl

WEB = Path(__file__).resolve().parents[2] / "examples" / "web.yaml"

NODEPORT = """
apiVersion: v1
kind: Service
metadata: {name: webnp, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 81, targetPort: 8080, nodePort: 30081}]
"""


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    c = Cluster()
    c.apply(WEB)
    c.apply(NODEPORT)
    return c


def test_unallocated_port_rejects_in_nftables_only(cluster: Cluster) -> None:
    check = compare_service(cluster, "default", "web").check("unallocated-port")
    cip = cluster.get("Service", "web").spec.cluster_ip
    assert f"{cip}:81" in check.title  # port 80 is the Service's; 81 is not
    # The same packet, traced independently through each mode, decides the facts.
    for side, mode in ((check.left, "iptables"), (check.right, "nftables")):
        traced = cluster.trace("10.244.1.254", cip, 81, node="kind-worker", mode=mode)
        assert side.signature == (traced.verdict,)
    assert check.left.signature == ("NONE",)
    assert check.right.signature == ("REJECT",)
    assert check.differs
    assert "cluster-ips-check" in check.right.summary
    assert "Reject traffic to invalid ports of ClusterIPs" in check.right.summary


@pytest.mark.parametrize(
    ("modes", "differs"),
    [
        (("iptables", "nftables"), True),
        (("nftables", "iptables"), True),
        (("iptables", "iptables"), False),
        (("nftables", "nftables"), False),
    ],
)
def test_a_difference_appears_only_between_different_modes(
    cluster: Cluster, modes: tuple[str, str], differs: bool
) -> None:
    result = compare_service(cluster, "default", "web", modes=modes)
    reject = result.check("unallocated-port")
    assert reject.differs is differs
    assert reject.right.signature == ("REJECT" if modes[1] == "nftables" else "NONE",)
    if not differs:
        assert not any(c.differs for c in result.checks)


def test_endpoint_choice_cascade_versus_uniform_numgen(cluster: Cluster) -> None:
    check = compare_service(cluster, "default", "web").check("endpoint-choice")
    assert check.left.signature == ("1/3", "1/2", "1")
    assert check.right.signature == ("1/3", "1/3", "1/3")
    assert "--probability 0.3333333333" in check.left.detail[0]
    assert "numgen random mod 3" in check.right.detail[0]
    # Both end with the same share per endpoint: the traces say so in each summary.
    traced = check.left.summary.split("traced shares: ")[1]
    assert traced == check.right.summary.split("traced shares: ")[1]
    assert traced.count("1/3") == 3


@pytest.mark.parametrize(
    ("replicas", "cascade", "numgen"),
    [(1, ("1",), ("1",)), (4, ("1/4", "1/3", "1/2", "1"), ("1/4",) * 4)],
)
def test_endpoint_choice_follows_the_endpoint_count(
    replicas: int, cascade: tuple[str, ...], numgen: tuple[str, ...]
) -> None:
    c = Cluster()
    c.apply(WEB)
    c.scale("Deployment", "web", replicas)
    check = compare_service(c, "default", "web").check("endpoint-choice")
    assert (check.left.signature, check.right.signature) == (cascade, numgen)
    assert check.differs is (replicas > 1)


def test_dispatch_counts_the_rules_passed_before_the_match(cluster: Cluster) -> None:
    check = compare_service(cluster, "default", "web").check("dispatch")
    payload = cluster.render("iptables", "kind-worker")
    assert isinstance(payload, Ruleset)
    nat = payload.table("nat")
    assert nat is not None
    services = nat.rules("KUBE-SERVICES")
    position = next(
        i
        for i, rule in enumerate(services)
        if Comment("default/web:http cluster IP") in rule.matches
    )
    assert check.left.signature == (str(position), str(len(services)))
    assert check.right.signature == ("0", "2")  # services: the vmap lookup is rule 1 of 2
    assert "lookup in @service-ips" in check.right.summary


def test_localhost_nodeport_only_in_iptables_mode(cluster: Cluster) -> None:
    check = compare_service(cluster, "default", "webnp").check("localhost-nodeport")
    assert "127.0.0.1:30081" in check.title
    assert check.left.signature[0] == "DNAT"
    assert check.right.signature == ("NONE",)
    direct = cluster.trace("127.0.0.1", "127.0.0.1", 30081, node="kind-worker", mode="iptables")
    assert len(check.left.signature) == 1 + len(direct.endpoints)
    # A ClusterIP Service has no NodePort: the question is not asked.
    keys = [c.key for c in compare_service(cluster, "default", "web").checks]
    assert keys == ["unallocated-port", "endpoint-choice", "dispatch"]


def test_rules_are_grouped_by_purpose(cluster: Cluster) -> None:
    result = compare_service(cluster, "default", "web")
    ipt, nft = dict(result.left.groups), dict(result.right.groups)
    assert len(ipt["DNAT"]) == len(nft["DNAT"]) == 3
    assert len(ipt["load-balancing"]) == 3  # a cascade of statistic rules
    assert len(nft["load-balancing"]) == 1  # one numgen vmap
    assert nft["load-balancing"][0].startswith("rule service-")
    assert all(line.startswith("nat: -A KUBE-SEP-") for line in ipt["DNAT"])
    assert any(line.startswith("element service-ips {") for line in nft["dispatch"])
    # Nothing of the other Service leaks in.
    assert not any(
        "webnp" in line for group in (ipt, nft) for lines in group.values() for line in lines
    )


def test_unknown_service_raises(cluster: Cluster) -> None:
    with pytest.raises(NotFoundError):
        compare_service(cluster, "default", "nope")


def _compare(*args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k8s_service_lab", "render", "--compare", "-f", str(WEB), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns)},
        timeout=60,
    )


def test_cli_text_fits_the_terminal_and_lists_the_differences() -> None:
    for columns in (80, 160):
        result = _compare(columns=columns)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert max(len(line) for line in lines) <= columns
    assert "Service default/web on kind-worker" in result.stdout
    assert "Differences:" in result.stdout
    assert "REJECT in cluster-ips-check" in result.stdout
    assert "kube-dns" not in result.stdout  # system Services are left out by default


def test_cli_json_and_service_filter() -> None:
    result = _compare("--service", "kube-system/kube-dns", "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["service"] for d in data] == ["kube-system/kube-dns"]
    checks = {c["check"]: c for c in data[0]["checks"]}
    assert checks["unallocated-port"]["differs"] is True
    assert [s["mode"] for s in checks["dispatch"]["sides"]] == ["iptables", "nftables"]
    assert set(data[0]["modes"][1]["rules"]) == {
        "dispatch",
        "masquerade",
        "load-balancing",
        "DNAT",
        "firewall/no-endpoints",
    }


def test_cli_errors() -> None:
    missing = _compare("--service", "default/nope")
    assert missing.returncode == 2
    assert missing.stderr.strip() == 'error: services "nope" not found'
    assert ksl("render", "--service", "default/web").returncode == 2
    both = _compare("--mode", "nftables")
    assert both.returncode == 2
    assert "--compare shows both modes" in both.stderr
