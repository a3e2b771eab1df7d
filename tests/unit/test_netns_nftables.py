"""The nftables side of the kernel lab without a kernel: fitting a full sync to the table the
kernel holds, naming the line ``nft -f`` refused, and mapping ``nft monitor trace`` lines of
kube-proxy's own table back to rules and comparing them with the nft tracer.

The monitor lines are as nft 1.0.6 printed them on a 6.18 kernel for a connection to a Service
without endpoints (``tests/kernel/test_netns_nftables_agreement.py`` takes the same trace
live); addresses are this module's model's.
"""

from __future__ import annotations

import json

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.config import parse_config
from k8s_service_lab.netfilter.nftables import (
    NftChain,
    NftSet,
    NftTransaction,
    add,
    delete,
    flush,
)
from k8s_service_lab.netfilter.nftables_parse import parse_nft
from k8s_service_lab.netfilter.nftables_text import to_nft
from k8s_service_lab.netns import plan_lab
from k8s_service_lab.netns.kerneltrace import KernelRecord, trace_from_record
from k8s_service_lab.netns.nfttrace import hop_key, nft_canonical
from k8s_service_lab.netns.proxy import LabProxy, LabProxyError, nft_culprit, with_kernel_leftovers
from k8s_service_lab.netns.tracecompare import compare
from k8s_service_lab.tracer import Hop, Packet

CONFIG = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking: {kubeProxyMode: nftables}
nodes: [{role: control-plane}, {role: worker}, {role: worker}]
"""
OBJECTS = """\
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {nodeName: kind-worker, containers: [{name: c, image: agnhost}]}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {selector: {app: nothing}, ports: [{name: http, port: 80}]}
"""
KERNEL_TABLE = """\
table ip kube-proxy {
\tset affinity-OLD-default/gone/tcp/__10.244.1.9/80 {
\t\ttype ipv4_addr
\t\tflags dynamic,timeout
\t\ttimeout 3h
\t}
\tchain services {
\t}
\tchain service-OLDOLDOL-default/gone/tcp/http {
\t}
\tchain service-KEEPKEEP-default/web/tcp/http {
\t}
}
"""


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    c = Cluster(parse_config(CONFIG, source="kind-nftables.yaml"))
    c.apply(OBJECTS)
    return c


# -- LabProxy without a kernel ------------------------------------------------------------------


def test_the_proxy_takes_its_mode_from_the_kind_config_and_refuses_others(
    cluster: Cluster,
) -> None:
    plan = plan_lab(cluster, prefix="ksl-t-u")
    proxy = LabProxy(cluster, plan)
    assert proxy.mode == "nftables"
    with pytest.raises(LabProxyError, match="nftables mode: read nft_rules"):
        proxy.rules("kind-worker")
    with pytest.raises(LabProxyError, match=r'mode "ipvs" is not loaded.*iptables, nftables'):
        LabProxy(cluster, plan, mode="ipvs")
    assert LabProxy(cluster, plan, mode="iptables").mode == "iptables"


def test_a_full_sync_is_fitted_to_the_table_the_kernel_holds() -> None:
    kernel = parse_nft(KERNEL_TABLE, source="kernel")
    tx = NftTransaction(
        "ip",
        "kube-proxy",
        (
            add(NftChain("service-KEEPKEEP-default/web/tcp/http")),
            flush(NftChain("service-KEEPKEEP-default/web/tcp/http")),
            flush(NftChain("endpoint-NOTTHERE-default/web/tcp/http__10.244.1.2/80")),
            delete(NftSet("affinity-NOTTHERE-x/y/tcp/__10.0.0.1/80", "ipv4_addr")),
        ),
    )
    fitted, stale = with_kernel_leftovers(tx, kernel)
    assert stale == ("service-OLDOLDOL-default/gone/tcp/http",)
    assert to_nft(fitted).splitlines() == [
        "add chain ip kube-proxy service-KEEPKEEP-default/web/tcp/http",
        "flush chain ip kube-proxy service-KEEPKEEP-default/web/tcp/http",
        # The backend's flush and delete of what the kernel no longer holds are dropped ...
        # ... the kernel's chain nobody knows is flushed, its stale affinity set deleted.
        "flush chain ip kube-proxy service-OLDOLDOL-default/gone/tcp/http",
        "delete set ip kube-proxy affinity-OLD-default/gone/tcp/__10.244.1.9/80",
    ]


def test_without_a_table_in_the_kernel_only_what_the_sync_creates_is_kept() -> None:
    tx = NftTransaction(
        "ip",
        "kube-proxy",
        (add(NftChain("services")), flush(NftChain("services")), flush(NftChain("gone/x"))),
    )
    fitted, stale = with_kernel_leftovers(tx, parse_nft("", source="empty"))
    assert stale == ()
    assert fitted.commands == tx.commands[:2]


def test_nft_names_the_line_it_refused() -> None:
    text = "add table ip t\nadd chain ip t c\nadd rule ip t c jump nowhere\n"
    stderr = (
        "/dev/stdin:3:22-28: Error: Could not process rule: No such file or directory\n"
        "add rule ip t c jump nowhere\n                     ^^^^^^^\n"
    )
    assert nft_culprit(stderr, text) == (3, "add rule ip t c jump nowhere")
    assert nft_culprit("Error: syntax error", text) == (None, None)


# -- the kernel's trace of kube-proxy's own table -----------------------------------------------


def test_nft_rules_are_compared_by_what_they_do_not_by_spelling() -> None:
    assert nft_canonical("meta mark set meta mark | 0x00004000") == nft_canonical(
        "mark set mark or 0x4000"
    )
    assert nft_canonical("numgen random mod 2 vmap { 0 : goto a , 1 : goto b }") == nft_canonical(
        "numgen random mod 2 vmap { 0 : goto a, 1 : goto b }"
    )
    assert nft_canonical("reject") != nft_canonical("drop")
    table = "ip kube-proxy"
    policy = Hop(table, "nat-output", ":nat-output ACCEPT", None, "chain policy")
    assert hop_key(policy) == (table, "nat-output", ":nat-output ACCEPT")


def reject_record(client: str, vip: str, *, reject_handle: int = 46) -> KernelRecord:
    head = "trace id cc3f6227 ip"
    packet = (
        f'packet: iif "eth0" ip saddr {client} ip daddr {vip} ip dscp cs0 ip ttl 64 '
        "tcp sport 56581 tcp dport 80 tcp flags == syn tcp window 64240 "
    )
    monitor = "\n".join(
        [
            f"{head} mark pre {packet}",
            f"{head} mark pre unknown rule handle 3 (verdict continue)",
            f"{head} mark pre policy accept ",
            f"{head} kube-proxy filter-prerouting-pre-dnat {packet}",
            f"{head} kube-proxy filter-prerouting-pre-dnat rule ct state new jump firewall-check"
            " # handle 24 (verdict jump firewall-check)",
            f"{head} kube-proxy filter-prerouting-pre-dnat policy accept ",
            f"{head} kube-proxy nat-prerouting rule jump services # handle 28 (verdict jump "
            "services)",
            f"{head} kube-proxy nat-prerouting policy accept ",
            f"{head} kube-proxy filter-forward rule ct state new jump service-endpoints-check"
            " # handle 21 (verdict jump service-endpoints-check)",
            f"{head} kube-proxy service-endpoints-check rule ip daddr . meta l4proto . th dport"
            " vmap @no-endpoint-services # handle 47 (verdict goto reject-chain)",
            f"{head} kube-proxy reject-chain rule reject # handle {reject_handle} (verdict drop)",
        ]
    )
    handles = {
        "filter-prerouting-pre-dnat": [24],
        "nat-prerouting": [28],
        "filter-forward": [21, 32],
        "service-endpoints-check": [47],
        "reject-chain": [46],
    }
    doc = {
        "nftables": [
            {"rule": {"family": "ip", "table": "kube-proxy", "chain": c, "handle": h}}
            for c, hs in handles.items()
            for h in hs
        ]
    }
    listing = """\
table ip kube-proxy {
\tchain filter-prerouting-pre-dnat {
\t\ttype filter hook prerouting priority dstnat - 10; policy accept;
\t\tct state new jump firewall-check
\t}
\tchain nat-prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tjump services
\t}
\tchain filter-forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tct state new jump service-endpoints-check
\t\tct state new jump cluster-ips-check
\t}
\tchain service-endpoints-check {
\t\tip daddr . meta l4proto . th dport vmap @no-endpoint-services
\t}
\tchain reject-chain {
\t\tcomment "helper for @no-endpoint-services / @no-endpoint-nodeports"
\t\treject
\t}
}
"""
    return KernelRecord(monitor, json.dumps(doc), "", "", listing)


def test_a_kernel_reject_maps_onto_the_nft_tracers_path(cluster: Cluster) -> None:
    client = str(cluster.get("pods", "client").status.pod_ip)
    vip = str(cluster.get("services", "empty").spec.cluster_ip)
    packet = Packet(client, vip, "tcp", 56581, 80)
    kernel, _ = trace_from_record(reject_record(client, vip), packet, marker="mark")
    assert kernel.verdict == "REJECT"
    hops = kernel.branches[0].hops
    assert {h.table for h in hops} == {"ip kube-proxy"}
    assert [h.rule for h in hops if h.why != "chain policy"] == [
        "ct state new jump firewall-check",
        "jump services",
        "ct state new jump service-endpoints-check",
        "ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
        "reject",
    ]
    simulated = cluster.trace(client, vip, 80, sport=56581, node="kind-worker")
    comparison = compare(simulated, kernel)
    assert comparison.agrees, comparison.render()
    assert comparison.path_equal


def test_a_rule_the_listing_does_not_hold_keeps_the_kernels_words_and_disagrees(
    cluster: Cluster,
) -> None:
    client = str(cluster.get("pods", "client").status.pod_ip)
    vip = str(cluster.get("services", "empty").spec.cluster_ip)
    packet = Packet(client, vip, "tcp", 56581, 80)
    record = reject_record(client, vip, reject_handle=99)  # a handle not in the listing
    kernel, _ = trace_from_record(record, packet, marker="mark")
    assert kernel.branches[0].hops[-1].rule == "nft: reject"
    comparison = compare(cluster.trace(client, vip, 80, node="kind-worker"), kernel)
    assert not comparison.path_equal
    assert "none of the simulator's branches" in " ".join(comparison.differences)
