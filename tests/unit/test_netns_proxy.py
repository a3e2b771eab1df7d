"""The kernel lab's kube-proxy pieces that need no kernel: conntrack filters, jumps to ensure,
stale chains, restore errors, the chi-square test and the traffic helper's words."""

from __future__ import annotations

import ipaddress
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab import Cluster
from k8s_service_lab.netfilter import DeleteChain, Insert, Ruleset, parse_save, to_restore
from k8s_service_lab.netns import plan_lab
from k8s_service_lab.netns.conntrack import (
    ConntrackFlow,
    StaleFilter,
    cleanup_required,
    parse_entries,
    stale_filters,
    udp_frontends,
)
from k8s_service_lab.netns.proxy import (
    LabProxy,
    LabProxyError,
    counters_named,
    delete_stale_chains,
    missing_jumps,
    restore_culprit,
)
from k8s_service_lab.netns.spread import chi_square, chi_square_sf
from k8s_service_lab.netns.traffic import Answer, TrafficError, describe_error, probe
from k8s_service_lab.proxy import EndpointInfo, ServicePortInfo, ServicePortName

UDP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: dns}
spec:
  replicas: 2
  selector: {matchLabels: {app: dns}}
  template:
    metadata: {labels: {app: dns}}
    spec: {containers: [{name: c, image: x, ports: [{containerPort: 53, protocol: UDP}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: dns}
spec:
  type: NodePort
  selector: {app: dns}
  ports: [{port: 53, targetPort: 53, protocol: UDP}]
"""


def xtables(payload: object) -> Ruleset:
    assert isinstance(payload, Ruleset)
    return payload


# -- conntrack ------------------------------------------------------------------------------------

LISTING = """\
udp      17 27 src=10.244.2.2 dst=10.96.0.20 sport=33786 dport=81 src=10.244.1.3 dst=10.244.2.2 \
sport=8081 dport=33786 mark=0 use=1
udp      17 25 src=172.18.0.100 dst=172.18.0.3 sport=5000 dport=31808 [UNREPLIED] \
src=10.244.9.9 dst=172.18.0.3 sport=8081 dport=5000 mark=0 use=1
tcp      6 431999 ESTABLISHED src=10.244.2.2 dst=10.96.0.20 sport=1 dport=81 \
src=10.244.7.7 dst=10.244.2.2 sport=8081 dport=1 [ASSURED] mark=0 use=1
udp      17 29 src=fd00:10:244:1::2 dst=fd00:10:96::a sport=41000 dport=53 \
src=fd00:10:244:2:0:0:0:3 dst=fd00:10:244:1::2 sport=53 dport=41000 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.
"""


def test_conntrack_listing_parses_original_and_reply_tuples() -> None:
    flows = parse_entries(LISTING)
    assert [f.proto for f in flows] == ["udp", "udp", "tcp", "udp"]
    assert flows[0] == ConntrackFlow("udp", "10.244.2.2", "10.96.0.20", 33786, 81, "10.244.1.3")
    assert flows[1].reply_src == "10.244.9.9"
    assert flows[3].reply_src == "fd00:10:244:2::3"  # one spelling per address


def test_stale_filters_follow_cleanup_go() -> None:
    name = ServicePortName("default", "web", "udp", "UDP")
    info = ServicePortInfo(
        name,
        ipaddress.ip_address("10.96.0.20"),
        81,
        "UDP",
        node_port=31808,
        external_ips=(ipaddress.ip_address("192.0.2.10"),),
    )
    serving = (EndpointInfo("10.244.1.3", 8081), EndpointInfo("10.244.2.2", 8081, ready=False))
    fronts = udp_frontends({name: info}, {name: serving})
    assert fronts.by_address[("10.96.0.20", 81)] == {"10.244.1.3", "10.244.2.2"}
    assert fronts.by_address[("192.0.2.10", 81)] == {"10.244.1.3", "10.244.2.2"}
    extra = ConntrackFlow("udp", "10.244.2.2", "192.0.2.10", 9, 81, "10.244.8.8")
    filters = stale_filters((*parse_entries(LISTING), extra), fronts)
    # The ClusterIP flow answered by a serving endpoint stays; TCP is never touched; the
    # NodePort flow answered by 10.244.9.9 goes with a port-only filter.
    assert filters == (
        StaleFilter(None, 31808, "10.244.9.9"),
        StaleFilter("192.0.2.10", 81, "10.244.8.8"),
    )
    assert filters[0].argv() == (
        "-p",
        "udp",
        "--orig-port-dst",
        "31808",
        "--reply-src",
        "10.244.9.9",
    )


def test_a_service_without_serving_endpoints_is_left_alone() -> None:
    name = ServicePortName("default", "web", None, "UDP")
    info = ServicePortInfo(name, ipaddress.ip_address("10.96.0.20"), 81, "UDP")
    gone = (EndpointInfo("10.244.1.3", 8081, ready=False, serving=False, terminating=True),)
    fronts = udp_frontends({name: info}, {name: gone})
    assert not fronts.by_address
    assert stale_filters(parse_entries(LISTING), fronts) == ()


def test_cleanup_is_required_when_a_udp_service_changes_endpoints() -> None:
    cluster = Cluster()
    cluster.apply(UDP)
    watcher, _ = cluster.proxy(node="kind-worker")
    first = watcher.state()
    assert cleanup_required(None, first)  # kube-dns and dns are UDP
    cluster.sync(node="kind-worker")
    assert not cleanup_required(first, watcher.state())
    cluster.apply(UDP.replace("replicas: 2", "replicas: 1"))
    cluster.advance(60)
    assert cleanup_required(first, watcher.state())
    tcp_only = Cluster()
    state = tcp_only.proxy(node="kind-worker")[0].state()
    assert cleanup_required(state, state) is False


# -- jumps, stale chains, counters, restore errors ------------------------------------------------


def test_missing_jumps_inserts_only_what_is_absent() -> None:
    jumps = xtables(Cluster().jump_rules())
    everything = missing_jumps(jumps, Ruleset(4, ()))
    assert to_restore(everything) == to_restore(jumps)
    assert missing_jumps(jumps, jumps).tables == ()
    loaded = parse_save(to_restore(jumps).replace("-I ", "-A "))  # as iptables-save lists them
    assert missing_jumps(jumps, loaded).tables == ()
    inserts = [st for t in everything.tables for st in t.statements if isinstance(st, Insert)]
    assert len(inserts) == 14


def test_a_full_payload_deletes_chains_the_kernel_has_and_no_service_uses() -> None:
    cluster = Cluster()
    cluster.apply(UDP)
    before = xtables(cluster.render())
    kernel = parse_save(to_restore(before))
    cluster.delete("services", "dns")
    after = xtables(cluster.render())
    fixed = delete_stale_chains(after, kernel)
    nat = fixed.table("nat")
    assert nat is not None
    deleted = [st.name for st in nat.statements if isinstance(st, DeleteChain)]
    assert deleted
    assert all(name.startswith(("KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-")) for name in deleted)
    last = nat.statements[-1]
    assert not isinstance(last, DeleteChain), "the NodePort rule must stay last"
    assert delete_stale_chains(after, parse_save(to_restore(after))) is after


def test_counters_named_finds_the_nfacct_objects_a_payload_uses() -> None:
    cluster = Cluster()
    assert counters_named(xtables(cluster.render())) == {"ct_state_invalid_dropped_pkts"}
    cluster.apply(UDP)  # a NodePort: its 127.0.0.1 rule counts accepted localhost packets
    assert counters_named(xtables(cluster.render())) == {
        "ct_state_invalid_dropped_pkts",
        "localhost_nps_accepted_pkts",
    }


def test_restore_errors_point_at_the_rule() -> None:
    payload = "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-SVC-X\nCOMMIT\n"
    nft = (
        "iptables-nft-restore v1.8.9 (nf_tables): Chain 'KUBE-SVC-X' does not exist\n"
        "Error occurred at line: 4\n"
    )
    assert restore_culprit(nft, payload) == (3, "-A KUBE-SERVICES -j KUBE-SVC-X")
    assert restore_culprit("iptables-restore: line 2 failed", payload) == (
        2,
        ":KUBE-SERVICES - [0:0]",
    )
    assert restore_culprit("Error occurred at line: 99", payload) == (None, None)


def test_lab_proxy_refuses_other_modes_and_absent_namespaces() -> None:
    cluster = Cluster()
    plan = plan_lab(cluster, prefix="ksl-t-unit")
    with pytest.raises(LabProxyError, match='mode "ipvs" is not loaded'):
        LabProxy(cluster, plan, mode="ipvs")
    proxy = LabProxy(cluster, plan)
    with pytest.raises(LabProxyError, match="does not exist"):
        proxy.run("kind-worker", "true")
    with pytest.raises(LabProxyError, match='node "kind-worker9" is not in lab'):
        proxy.run("kind-worker9", "true")


# -- chi-square -------------------------------------------------------------------------------------


@settings(database=None)
@given(st.floats(0.001, 200))
def test_chi_square_sf_matches_closed_forms(x: float) -> None:
    # dof 2: exp(-x/2); dof 1: erfc(sqrt(x/2)); dof 4: exp(-x/2)(1 + x/2).
    assert math.isclose(chi_square_sf(x, 2), math.exp(-x / 2), rel_tol=1e-9, abs_tol=1e-300)
    assert math.isclose(
        chi_square_sf(x, 1), math.erfc(math.sqrt(x / 2)), rel_tol=1e-8, abs_tol=1e-300
    )
    assert math.isclose(
        chi_square_sf(x, 4), math.exp(-x / 2) * (1 + x / 2), rel_tol=1e-9, abs_tol=1e-300
    )


def test_chi_square_rejects_a_lopsided_spread_and_accepts_a_fair_one() -> None:
    third = Fraction(1, 3)
    probs = {"a": third, "b": third, "c": third}
    assert chi_square({"a": 100, "b": 100, "c": 100}, probs).p_value == 1.0
    assert chi_square({"a": 150, "b": 100, "c": 50}, probs).p_value < 1e-9
    assert chi_square({"a": 1, "z": 1}, probs).p_value == 0.0
    with pytest.raises(ValueError, match="needs observations"):
        chi_square({}, probs)


# -- traffic --------------------------------------------------------------------------------------


def test_answers_and_errors_read_as_words() -> None:
    assert Answer(None, "[fd00::2]:1", "web-0", "[fd00::1]:40000").source == "fd00::1"
    assert Answer("timeout", None, None, None).source is None
    assert not Answer("refused", None, None, None).ok
    assert describe_error(OSError(113, "No route to host")) == "unreachable"
    assert describe_error(ConnectionResetError()) == "reset"
    with pytest.raises(TrafficError, match="does not exist"):
        probe("ksl-t-unit-no-such-namespace", [])
