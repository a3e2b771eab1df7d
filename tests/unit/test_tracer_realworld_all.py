"""The tracer on every real node's ``iptables-save`` in ../shared/fixtures/real-world.

Node facts come from that folder's README (node IP, pod CIDR) and from the dumps themselves
(ClusterIPs, endpoints, NodePorts). Each dump gets a pod → ClusterIP, a node → ClusterIP
and an external → NodePort flow (the 2018 EKS node has no NodePorts: its external flow shows
that), plus the flows that show what the non-Kubernetes chains (AWS, docker, flannel,
libvirt) do. Rules the tracer cannot decide (mostly ``-i``/``-o`` with no interface given)
must show up as "not evaluated" hops and in ``not_evaluated``, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest

from k8s_service_lab.netfilter import parse_save
from k8s_service_lab.tracer import NodeContext, Packet, Tracer, TraceResult

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real-world"
HALF = Fraction(1, 2)

# README "Summary": the node's own address (plus loopback) and the pod CIDR of each dump.
NODES = {
    "eks-2018": ("192.168.4.93", "192.168.0.0/16"),
    "kubeadm-flannel-2024-broken": ("192.168.1.5", "10.1.0.0/16"),
    "kubeadm-flannel-2024": ("192.168.1.5", "10.1.0.0/16"),
    "kubeadm-flannel-2023-master": ("192.168.205.145", "10.244.0.0/16"),
    "kubeadm-flannel-2023-worker1": ("192.168.205.146", "10.244.0.0/16"),
}


@cache
def tracer(dump: str) -> Tracer:
    node_ip, cidr = NODES[dump]
    text = (FIXTURES / f"{dump}.iptables-save").read_text()
    return Tracer(parse_save(text, source=dump), NodeContext.of([node_ip, "127.0.0.1"], cidr))


@dataclass(frozen=True)
class Flow:
    """One packet on one dump's node and what the trace must say about it."""

    dump: str
    name: str
    kind: str  # "pod", "node" (traced as sent by the node) or "external"
    packet: Packet
    verdict: str
    endpoints: dict[tuple[str, int], Fraction] = field(default_factory=dict)
    masq: bool = False

    def trace(self, packet: Packet | None = None) -> TraceResult:
        t = tracer(self.dump)
        p = packet or self.packet
        return t.sent(p) if self.kind == "node" else t.arriving(p)


def tcp(src: str, dst: str, dport: int, **ifaces: str) -> Packet:
    return Packet(src, dst, "tcp", 40000, dport, **ifaces)


def udp(src: str, dst: str, dport: int, **ifaces: str) -> Packet:
    return Packet(src, dst, "udp", 40000, dport, **ifaces)


EKS, BROKEN, FIXED = "eks-2018", "kubeadm-flannel-2024-broken", "kubeadm-flannel-2024"
MASTER, WORKER = "kubeadm-flannel-2023-master", "kubeadm-flannel-2023-worker1"
JTEST = {("10.244.1.19", 8080): HALF, ("10.244.2.17", 8080): HALF}
COREDNS_2023 = {("10.244.0.8", 53): HALF, ("10.244.0.9", 53): HALF}
COREDNS_2024 = {("10.1.0.64", 53): HALF, ("10.1.0.67", 53): HALF}

FLOWS = [
    # -- EKS 2018: no cluster CIDR in kube-proxy, so only SEP hairpins masquerade.
    Flow(EKS, "pod to kubernetes (ClientIP affinity, first packet)", "pod",
         tcp("192.168.7.62", "10.100.0.1", 443), "DNAT",
         {("192.168.119.102", 443): HALF, ("192.168.154.135", 443): HALF}),
    Flow(EKS, "pod to kube-dns", "pod", udp("192.168.7.62", "10.100.0.10", 53), "DNAT",
         {("192.168.64.27", 53): Fraction(1)}),
    Flow(EKS, "coredns to itself through kube-dns (hairpin)", "pod",
         udp("192.168.64.27", "10.100.0.10", 53), "DNAT",
         {("192.168.64.27", 53): Fraction(1)}, masq=True),
    Flow(EKS, "node to kubernetes", "node", tcp("192.168.4.93", "10.100.0.1", 443), "DNAT",
         {("192.168.119.102", 443): HALF, ("192.168.154.135", 443): HALF}),
    Flow(EKS, "external to a would-be NodePort (KUBE-NODEPORTS is empty)", "external",
         tcp("203.0.113.9", "192.168.4.93", 30080), "NONE"),
    Flow(EKS, "pod to the internet: AWS, SNAT", "pod", tcp("192.168.7.62", "1.1.1.1", 443),
         "ACCEPT", masq=True),
    # -- kubeadm + flannel 2024, broken: see test_why_the_2024_node_was_broken too.
    Flow(BROKEN, "pod to kubernetes: DNATed to the node, then host-prohibited", "pod",
         tcp("10.1.0.70", "10.2.0.1", 443), "REJECT"),
    Flow(BROKEN, "pod to kube-dns: no endpoints", "pod", udp("10.1.0.70", "10.2.0.10", 53),
         "REJECT"),
    Flow(BROKEN, "node to kubernetes over lo", "node",
         tcp("192.168.1.5", "10.2.0.1", 443, in_iface="lo", out_iface="lo"), "DNAT",
         {("192.168.1.5", 6443): Fraction(1)}, masq=True),
    Flow(BROKEN, "external to ingress-nginx NodePort: no endpoints", "external",
         tcp("203.0.113.9", "192.168.1.5", 31674), "REJECT"),
    # -- the same node after the flush.
    Flow(FIXED, "pod to kube-dns", "pod", udp("10.1.0.70", "10.2.0.10", 53), "DNAT",
         COREDNS_2024),
    Flow(FIXED, "pod to kubernetes", "pod", tcp("10.1.0.70", "10.2.0.1", 443), "DNAT",
         {("192.168.1.5", 6443): Fraction(1)}),
    Flow(FIXED, "node to kube-dns", "node", udp("192.168.1.5", "10.2.0.10", 53), "DNAT",
         COREDNS_2024, masq=True),
    Flow(FIXED, "external to jenkins NodePort", "external",
         tcp("203.0.113.9", "192.168.1.5", 32117), "DNAT",
         {("10.1.0.63", 8080): Fraction(1)}, masq=True),
    Flow(FIXED, "pod to pod, forwarded by FLANNEL-FWD", "pod",
         udp("10.1.0.70", "10.1.0.64", 53, in_iface="cni0", out_iface="cni0"), "ACCEPT"),
    # -- kubeadm + flannel 2023, two nodes of one cluster.
    Flow(MASTER, "pod to jtest", "pod", tcp("10.244.0.8", "10.97.121.82", 8080), "DNAT", JTEST),
    Flow(MASTER, "node to jtest", "node", tcp("192.168.205.145", "10.97.121.82", 8080), "DNAT",
         JTEST, masq=True),
    Flow(MASTER, "external to jtest NodePort", "external",
         tcp("203.0.113.9", "192.168.205.145", 31455), "DNAT", JTEST, masq=True),
    Flow(WORKER, "jtest pod to jtest (hairpin on one branch)", "pod",
         tcp("10.244.1.19", "10.97.121.82", 8080), "DNAT", JTEST, masq=True),
    Flow(WORKER, "node to kube-dns", "node", udp("192.168.205.146", "10.96.0.10", 53), "DNAT",
         COREDNS_2023, masq=True),
    Flow(WORKER, "external to dashboard NodePort", "external",
         tcp("203.0.113.9", "192.168.205.146", 31734), "DNAT",
         {("10.244.2.12", 8443): Fraction(1)}, masq=True),
    Flow(WORKER, "pod to the internet: flanneld masq", "pod",
         tcp("10.244.1.19", "1.1.1.1", 443), "ACCEPT", masq=True),
]  # fmt: skip


def test_every_dump_has_a_pod_a_node_and_an_external_flow() -> None:
    dumps = {p.name.removesuffix(".iptables-save") for p in FIXTURES.glob("*.iptables-save")}
    assert dumps == set(NODES)
    for dump in dumps:
        assert {f.kind for f in FLOWS if f.dump == dump} == {"pod", "node", "external"}, dump


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f"{f.dump}: {f.name}")
def test_flow(flow: Flow) -> None:
    result = flow.trace()
    assert result.verdict == flow.verdict
    assert {(ip, port): p for ip, port, p in result.endpoints} == flow.endpoints
    assert result.masquerade == flow.masq
    assert sum(b.probability for b in result.branches) == 1
    if flow.verdict == "DNAT":
        assert sum(flow.endpoints.values()) == 1


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f"{f.dump}: {f.name}")
def test_undecided_rules_are_named_and_shown_where_reached(flow: Flow) -> None:
    result = flow.trace()
    assert result.uncertain == bool(result.not_evaluated)
    hops = [h for b in result.branches for h in b.hops]
    for entry in result.not_evaluated:
        assert any(entry.startswith(f"{h.table}: {h.rule} (") for h in hops), entry
    for hop in hops:
        if hop.why.startswith("not evaluated"):
            assert any(e.startswith(f"{hop.table}: {hop.rule} (") for e in result.not_evaluated)


# Interfaces that settle the undecided rules: eni* veths of the AWS VPC CNI, flannel's cni0
# bridge, an uplink for external clients. Knowing them must not change where a packet goes.
IFACES = {"pod": {EKS: "eni1a2b3c4d", "*": "cni0"}, "external": {EKS: "eth1", "*": "ens33"}}


@pytest.mark.parametrize(
    "flow",
    [f for f in FLOWS if f.kind != "node" and f.packet.in_iface is None],
    ids=lambda f: f"{f.dump}: {f.name}",
)
def test_settling_the_undecided_rules_changes_no_verdict(flow: Flow) -> None:
    names = IFACES[flow.kind]
    settled = replace(flow.packet, in_iface=names.get(flow.dump, names["*"]), out_iface="eth9")
    before, after = flow.trace(), flow.trace(settled)
    assert (after.verdict, after.endpoints, after.masquerade) == (
        before.verdict,
        before.endpoints,
        before.masquerade,
    )
    assert len(after.not_evaluated) < len(before.not_evaluated) or not before.uncertain


def _last(result: TraceResult) -> tuple[str, str, str | None]:
    (branch,) = result.branches
    hop = branch.hops[-1]
    return hop.chain, hop.rule, hop.comment


def test_eks_affinity_check_misses_on_a_first_packet_and_the_sep_records_it() -> None:
    result = tracer(EKS).arriving(tcp("192.168.7.62", "10.100.0.1", 443))
    for branch in result.branches:
        whys = [h.why for h in branch.hops if h.chain.startswith("KUBE-SEP-")]
        assert any("--set KUBE-SEP-" in w and "192.168.7.62" in w for w in whys)
    rcheck = [
        h
        for b in result.branches
        for h in b.hops
        if "--rcheck" in h.rule and h.chain == "KUBE-SVC-NPX46M4PTMTKRN6Y"
    ]
    assert rcheck == []  # a first packet is never in the recent list: --rcheck does not match


def test_eks_aws_connmark_rules_are_not_evaluated_without_an_interface() -> None:
    result = tracer(EKS).arriving(tcp("192.168.7.62", "10.100.0.10", 53))
    assert [e.split(" (")[-1] for e in result.not_evaluated] == [
        "-i eth0: interface not known)",
        "-i eni+: interface not known)",
    ]
    assert all("AWS, primary ENI" in e for e in result.not_evaluated)
    # With the uplink named, --limit-iface-in (per-interface addresses) is still undecidable.
    named = tracer(EKS).arriving(tcp("192.168.7.62", "10.100.0.10", 53, in_iface="eth0"))
    assert len(named.not_evaluated) == 1
    assert "--limit-iface-in" in named.not_evaluated[0]


def test_eks_aws_snat_rewrites_the_source_to_the_node() -> None:
    result = tracer(EKS).arriving(tcp("192.168.7.62", "1.1.1.1", 443))
    (branch,) = result.branches
    assert branch.packet.src == "192.168.4.93"
    assert branch.hops[-1].comment == "AWS, SNAT"
    # A VPC destination keeps the pod's address.
    inside = tracer(EKS).arriving(tcp("192.168.7.62", "192.168.24.73", 80))
    assert not inside.masquerade


def test_why_the_2024_node_was_broken() -> None:
    # README: after a reboot the host's own "REJECT icmp-host-prohibited" rules sit in INPUT
    # and FORWARD ahead of flannel's; CoreDNS logged "dial tcp 10.2.0.1:443: i/o timeout".
    known = {"in_iface": "cni0"}
    api = tracer(BROKEN).arriving(tcp("10.1.0.70", "10.2.0.1", 443, **known))
    assert not api.uncertain
    (branch,) = api.branches
    assert branch.endpoint == ("192.168.1.5", 6443)  # kube-proxy did its part ...
    assert (branch.packet.dst, branch.packet.dport) == ("192.168.1.5", 6443)
    assert _last(api)[:2] == ("INPUT", "-A INPUT -j REJECT --reject-with icmp-host-prohibited")

    # ... and pod-to-pod traffic never reaches FLANNEL-FWD: FORWARD rejects it first.
    pod = tracer(BROKEN).arriving(
        udp("10.1.0.70", "10.1.0.64", 53, in_iface="cni0", out_iface="cni0")
    )
    assert pod.verdict == "REJECT"
    assert not pod.uncertain
    assert _last(pod)[:2] == ("FORWARD", "-A FORWARD -j REJECT --reject-with icmp-host-prohibited")
    assert all(h.chain != "FLANNEL-FWD" for h in pod.branches[0].hops)
    # The same packet on the repaired node is accepted by flannel.
    fixed = tracer(FIXED).arriving(
        udp("10.1.0.70", "10.1.0.64", 53, in_iface="cni0", out_iface="cni0")
    )
    assert fixed.verdict == "ACCEPT"
    assert any(h.chain == "FLANNEL-FWD" for h in fixed.branches[0].hops)

    # Services without endpoints are rejected by kube-proxy itself, with its comment.
    dns = tracer(BROKEN).arriving(udp("10.1.0.70", "10.2.0.10", 53))
    assert _last(dns)[0::2] == ("KUBE-SERVICES", "kube-system/kube-dns:dns has no endpoints")
    nodeport = tracer(BROKEN).arriving(tcp("203.0.113.9", "192.168.1.5", 31674))
    assert _last(nodeport)[0::2] == (
        "KUBE-EXTERNAL-SERVICES",
        "ingress-nginx/ingress-nginx-controller:http has no endpoints",
    )


def test_broken_node_own_api_call_comes_back_on_lo_and_is_accepted() -> None:
    # A node's packet to its own address comes back in on lo, where the host's
    # "-i lo -j ACCEPT" accepts it before the REJECT that broke pod traffic.
    result = tracer(BROKEN).sent(tcp("192.168.1.5", "10.2.0.1", 443))
    assert result.verdict == "DNAT"
    assert not any("-i lo" in e for e in result.not_evaluated)
    assert any(h.rule == "-A INPUT -i lo -j ACCEPT" for h in result.branches[0].hops)


def test_flannel_hairpin_masquerades_only_the_branch_that_returns_to_the_client() -> None:
    result = tracer(WORKER).arriving(tcp("10.244.1.19", "10.97.121.82", 8080))
    masq = {b.endpoint: b.masquerade for b in result.branches}
    assert masq == {("10.244.1.19", 8080): True, ("10.244.2.17", 8080): False}
