"""The kernel lab's plan, read without root: names, kindnet wiring, sysctls, the pod servers."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab import Cluster
from k8s_service_lab.config import parse_config
from k8s_service_lab.netns import LabPlan, LabPlanError, Role, plan_lab
from k8s_service_lab.netns.names import IFNAMSIZ, namespace_name, owns, pod_veth_name
from k8s_service_lab.netns.podserver import answer, go_host_port, supervisor_spec, udp_answer

WEB = """
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
"""


@pytest.fixture(scope="module")
def plan() -> LabPlan:
    cluster = Cluster()
    cluster.apply(WEB)
    return plan_lab(cluster, prefix="ksl")


def web_pods(plan: LabPlan) -> list:  # type: ignore[type-arg]
    return [p for p in plan.pods if p.pod.startswith("default/web-")]


def test_one_namespace_per_node_and_running_pod_plus_network_and_external(plan: LabPlan) -> None:
    roles = [ns.role for ns in plan.namespaces]
    assert roles.count(Role.NETWORK) == 1
    assert roles.count(Role.EXTERNAL) == 1
    assert [ns.subject for ns in plan.namespaces if ns.role is Role.NODE] == [
        "kind-control-plane",
        "kind-worker",
        "kind-worker2",
    ]
    pods = sorted(ns.subject for ns in plan.namespaces if ns.role is Role.POD)
    assert len(pods) == 5  # 2 CoreDNS + 3 web
    assert pods == sorted(p.pod for p in plan.pods)
    assert all(ns.name.startswith("ksl-") for ns in plan.namespaces)
    assert plan.of(Role.NODE, "kind-worker").name == "ksl-node-kind-worker"


def test_host_network_and_pending_pods_get_no_namespace() -> None:
    cluster = Cluster()
    cluster.apply(
        """
apiVersion: v1
kind: Pod
metadata: {name: agent}
spec: {hostNetwork: true, nodeName: kind-worker, containers: [{name: a, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: nowhere}
spec: {nodeName: no-such-node, containers: [{name: a, image: x}]}
"""
    )
    names = {p.pod for p in plan_lab(cluster).pods}
    assert "default/agent" not in names
    assert "default/nowhere" not in names


def test_pods_are_wired_as_kindnet_wires_them(plan: LabPlan) -> None:
    for pod in web_pods(plan):
        node_index = ["kind-control-plane", "kind-worker", "kind-worker2"].index(pod.node)
        gateway = f"10.244.{node_index}.1"
        ip = str(pod.ips[0])
        ns = plan.namespace(pod.namespace)
        assert [a.text() for a in ns.addresses] == [f"{ip}/32 dev eth0"]
        assert [r.text() for r in ns.routes] == [
            f"{gateway} dev eth0 scope link",
            f"default via {gateway} dev eth0",
        ]
        node = plan.of(Role.NODE, pod.node)
        veth = next(v for v in plan.veths if v.peer_namespace == pod.namespace)
        assert (veth.namespace, veth.peer, veth.bridge) == (node.name, "eth0", None)
        assert f"{gateway}/32 dev {veth.name}" in [a.text() for a in node.addresses]
        assert f"{ip} dev {veth.name} scope link" in [r.text() for r in node.routes]


def test_nodes_route_to_each_other_and_default_to_the_lab_gateway(plan: LabPlan) -> None:
    worker = plan.of(Role.NODE, "kind-worker")
    assert worker.addresses[0].text() == "172.18.0.3/16 dev eth0"
    routes = [r.text() for r in worker.routes]
    assert "10.244.0.0/24 via 172.18.0.2 dev eth0" in routes
    assert "10.244.2.0/24 via 172.18.0.4 dev eth0" in routes
    assert "10.244.1.0/24 via 172.18.0.3 dev eth0" not in routes
    assert routes[-1] == "default via 172.18.0.1 dev eth0"
    assert [str(g) for g in plan.gateways] == ["172.18.0.1"]
    assert [a.text() for a in plan.network.addresses] == ["172.18.0.1/16 dev ksl-br"]
    assert plan.network.bridges == ("ksl-br",)
    assert {v.bridge for v in plan.veths if v.namespace == plan.network.name} == {"ksl-br"}


def test_the_external_host_is_on_the_kind_network_but_is_no_node(plan: LabPlan) -> None:
    assert [str(ip) for ip in plan.external_ips] == ["172.18.0.100"]
    assert [a.text() for a in plan.external.addresses] == ["172.18.0.100/16 dev eth0"]
    assert [r.text() for r in plan.external.routes] == ["default via 172.18.0.1 dev eth0"]
    nodes = {ns.addresses[0].address.ip for ns in plan.namespaces if ns.role is Role.NODE}
    assert ipaddress.ip_address("172.18.0.100") not in nodes


def test_the_external_address_clash_is_refused() -> None:
    many = "\n".join(["- role: control-plane"] + ["- role: worker"] * 98)
    config = parse_config(f"kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n{many}\n")
    with pytest.raises(LabPlanError, match=r"172\.18\.0\.100 is a node's address"):
        plan_lab(Cluster(config))


def test_node_sysctls_follow_kube_proxy_and_kind(plan: LabPlan) -> None:
    node = plan.of(Role.NODE, "kind-worker")
    assert [(s.key, s.value) for s in node.sysctls] == [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.route_localnet", "1"),
        ("net.netfilter.nf_conntrack_tcp_timeout_established", "86400"),
        ("net.netfilter.nf_conntrack_tcp_timeout_close_wait", "3600"),
    ]
    assert node.sysctls[1].path == "/proc/sys/net/ipv4/conf/all/route_localnet"
    for ns in plan.namespaces:
        if ns.role is not Role.NODE:
            assert [(s.key, s.value) for s in ns.sysctls] == [("net.ipv4.ip_forward", "0")]


def test_nftables_mode_has_no_localhost_nodeports() -> None:
    config = parse_config(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
        "networking: {kubeProxyMode: nftables}\nnodes: [{role: control-plane}]\n"
    )
    node = plan_lab(Cluster(config)).of(Role.NODE, "kind-control-plane")
    assert "net.ipv4.conf.all.route_localnet" not in [s.key for s in node.sysctls]


def test_dual_stack_plans_both_families() -> None:
    config = parse_config(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
        "networking: {ipFamily: dual}\nnodes: [{role: control-plane}, {role: worker}]\n"
    )
    cluster = Cluster(config)
    cluster.apply(WEB)
    plan = plan_lab(cluster)
    pod = next(p for p in plan.pods if p.pod.startswith("default/web-"))
    assert [ip.version for ip in pod.ips] == [4, 6]
    routes = [r.text() for r in plan.namespace(pod.namespace).routes]
    assert routes[2:] == [
        "fd00:10:244:1::1 dev eth0 scope link",
        "default via fd00:10:244:1::1 dev eth0",
    ]
    worker = plan.of(Role.NODE, "kind-worker")
    assert "fc00:f853:ccd:e793::3/64 dev eth0" in [a.text() for a in worker.addresses]
    assert "default via fc00:f853:ccd:e793::1 dev eth0" in [r.text() for r in worker.routes]
    assert ("net.ipv6.conf.all.forwarding", "1") in [(s.key, s.value) for s in worker.sysctls]
    assert supervisor_spec(plan)["pods"][-1]["ipv6"] is True


def test_link_names_fit_ifnamsiz_and_are_unique_per_namespace(plan: LabPlan) -> None:
    seen: set[tuple[str, str]] = set()
    for veth in plan.veths:
        for where, name in ((veth.namespace, veth.name), (veth.peer_namespace, veth.peer)):
            assert len(name) < IFNAMSIZ
            assert (where, name) not in seen
            seen.add((where, name))
            assert name == "eth0" or name.startswith("ksl-")


def test_the_plan_is_deterministic_and_printable(plan: LabPlan) -> None:
    again = Cluster()
    again.apply(WEB)
    assert plan_lab(again, prefix="ksl") == plan
    text = plan.describe()
    assert text.splitlines()[0] == "lab ksl: 10 namespaces, 9 veths"
    assert "  route default via 172.18.0.1 dev eth0" in text
    assert "  link ksl-n1 (veth to ksl-node-kind-worker) master ksl-br" in text


@pytest.mark.parametrize(
    ("prefix", "why"),
    [
        ("KSL", "lower-case"),
        ("ksl-", "lower-case"),
        ("ksl-lab-toolong", "longer than 10"),
        # "ksl-t-net-node-x" would read as lab "ksl-t"'s network namespace "node-x".
        ("ksl-t-net", 'the word "net"'),
        ("pod", 'the word "pod"'),
    ],
)
def test_bad_prefixes_are_refused(prefix: str, why: str) -> None:
    with pytest.raises(LabPlanError, match=why):
        plan_lab(Cluster(), prefix=prefix)


def test_names_belong_to_exactly_one_lab() -> None:
    assert owns("ksl-t-topo", "ksl-t-topo-node-kind-worker")
    assert not owns("ksl-t", "ksl-t-topo-node-kind-worker")
    assert not owns("ksl", "ksl-t-topo-node-kind-worker")
    assert not owns("ksl", "ksl-t-12-345")  # another developer's scratch namespace
    assert not owns("ksl-t", "ksl-t-ipt-12-0")
    long = namespace_name("ksl", "pod", "default/" + "x" * 80)
    assert len(long) == 63
    assert long == namespace_name("ksl", "pod", "default/" + "x" * 80)
    assert long != namespace_name("ksl", "pod", "default/" + "x" * 81)


@settings(database=None, max_examples=50)
@given(st.lists(st.from_regex(r"[a-z]{1,10}/[a-z0-9-]{1,40}", fullmatch=True), unique=True))
def test_pod_veth_names_fit_and_are_stable(pods: list[str]) -> None:
    for pod in pods:
        name = pod_veth_name("ksl-t-topo", pod)
        assert len(name) == IFNAMSIZ - 1
        assert name == pod_veth_name("ksl-t-topo", pod)
        assert name != pod_veth_name("ksl-t-topo", pod, salt=1)


def test_agnhost_http_answers() -> None:
    peer = ("10.244.1.5", 41000)
    assert answer("/hostName", "web-0", peer) == (200, "web-0")
    assert answer("/echo?msg=a%20b", "web-0", peer) == (200, "a b")
    assert answer("/echo?msg=x&code=abc", "web-0", peer) == (
        200,
        "argument 'code' must be an integer or empty, got \"abc\"\n",
    )
    assert answer("/healthz", "web-0", peer) == (200, "")
    status, body = answer("/anything/else", "web-0", peer)
    assert status == 200
    assert body.startswith("NOW: ")
    assert go_host_port(("fd00:10:244:1::5", 80, 0, 0)) == "[fd00:10:244:1::5]:80"


def test_agnhost_udp_answers() -> None:
    peer = ("10.244.2.9", 5000)
    assert udp_answer(b"hostname", "web-1", peer) == b"web-1"
    assert udp_answer(b"clientip\n", "web-1", peer) == b"10.244.2.9:5000"
    assert udp_answer(b"echo", "web-1", peer) is None  # no space: not the echo command
    assert udp_answer(b"what", "web-1", peer) is None
