"""Feature by feature: the rule shapes of reference §1.9, on upstream's test harness."""

from __future__ import annotations

from collections.abc import Sequence

from k8s_service_lab.backends.iptables import TOP_LEVEL_CHAINS, IptablesBackend
from k8s_service_lab.backends.iptables.service import probability
from k8s_service_lab.netfilter import Ruleset, check_jumps, to_restore
from k8s_service_lab.proxy import EndpointInfo, ServicePortInfo
from tests.golden.scenarios_iptables import (
    FakeKernel,
    ep,
    fake_backend,
    ip,
    make_state,
    net,
    port_name,
    svc,
)

P = port_name("ns1", "svc1")


def lines(payload: Ruleset) -> list[str]:
    assert check_jumps(payload, top_level=TOP_LEVEL_CHAINS) == []
    return to_restore(payload).splitlines()


def render(
    info: ServicePortInfo, eps: Sequence[EndpointInfo], backend: IptablesBackend | None = None
) -> list[str]:
    state = make_state([info], {P: eps})
    return lines((backend or fake_backend()).sync(state))


def test_probabilities_are_one_over_what_is_left() -> None:
    out = render(
        svc("ns1", "svc1", "172.30.0.41"), [ep("10.180.0.1"), ep("10.180.0.2"), ep("10.180.0.3")]
    )
    svc_rules = [x for x in out if x.startswith("-A KUBE-SVC-") and "-> " in x]
    assert ["0.3333333333" in svc_rules[0], "0.5000000000" in svc_rules[1]] == [True, True]
    assert "probability" not in svc_rules[2]
    assert [probability(n) for n in (7, 6, 9)] == ["0.1428571429", "0.1666666667", "0.1111111111"]


def test_endpoints_follow_string_order() -> None:
    out = render(svc("ns1", "svc1", "172.30.0.41"), [ep("10.180.0.2"), ep("10.180.0.10")])
    targets = [x.split('"')[1] for x in out if x.startswith("-A KUBE-SVC-") and "-> " in x]
    assert targets == ["ns1/svc1:p80 -> 10.180.0.10:80", "ns1/svc1:p80 -> 10.180.0.2:80"]


def test_external_policy_local_with_a_local_endpoint() -> None:
    info = svc("ns1", "svc1", "172.30.0.41", node_port=3001, load_balancer_vips=(ip("1.2.3.4"),),
               external_policy_local=True, health_check_node_port=30000)  # fmt: skip
    out = render(info, [ep("10.180.0.1"), ep("10.180.2.1", local=True)])
    assert "-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O" in out
    assert (
        '-A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80"'
        " -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ"
    ) in out
    # SVL has no masquerade rule (iTP is Cluster); SVC has both endpoints.
    assert not any(x.startswith("-A KUBE-SVL-") and "KUBE-MARK-MASQ" in x for x in out)
    assert sum(x.startswith("-A KUBE-SVC-") and "-> " in x for x in out) == 2
    assert not any("has no local endpoints" in x for x in out)


def test_internal_policy_local_without_local_endpoints_drops_cluster_ip() -> None:
    info = svc("ns1", "svc1", "172.30.1.1", internal_policy_local=True)
    backend = fake_backend()
    out = render(info, [ep("10.0.1.2"), ep("10.0.1.3")], backend)
    assert (
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp'
        " -d 172.30.1.1 --dport 80 -j DROP"
    ) in out
    assert backend.last_stats is not None
    assert backend.last_stats.no_local_internal == 1
    # No endpoints at all: REJECT instead.
    assert any("has no endpoints" in x and x.endswith("-j REJECT") for x in render(info, []))


def test_internal_policy_local_masquerades_in_svl() -> None:
    info = svc("ns1", "svc1", "172.30.1.1", internal_policy_local=True)
    out = render(info, [ep("10.0.1.1", local=True), ep("10.0.1.2")])
    assert any(
        x.startswith("-A KUBE-SVL-") and x.endswith("! -s 10.0.0.0/8 -j KUBE-MARK-MASQ")
        for x in out
    )
    assert not any(x.startswith(":KUBE-SVC-") for x in out)


def test_masquerade_all_and_no_detector() -> None:
    info = svc("ns1", "svc1", "172.30.0.42", node_port=3002, load_balancer_vips=(ip("5.6.7.8"),),
               external_policy_local=True)  # fmt: skip
    eps = [ep("10.180.0.2", local=True), ep("10.180.1.2")]
    everything = render(info, eps, fake_backend(masquerade_all=True))
    assert any(x.endswith("--dport 80 -j KUBE-MARK-MASQ") and "! -s" not in x for x in everything)
    nothing = render(info, eps, fake_backend(local_detector=None))
    assert not any("cluster IP" in x and "KUBE-MARK-MASQ" in x for x in nothing)
    assert not any("pod traffic for" in x for x in nothing)


def test_source_ranges_containing_the_node_allow_the_vips_as_source() -> None:
    info = svc("ns1", "svc1", "172.30.0.41", node_port=3001,
               load_balancer_vips=(ip("1.2.3.4"), ip("5.6.7.8")),
               load_balancer_source_ranges=(net("192.168.0.0/24"), net("203.0.113.0/25")))  # fmt: skip
    out = render(info, [ep("10.180.0.1")])
    fw = [x for x in out if x.startswith("-A KUBE-FW-")]
    assert [x.split(" -s ")[1].split()[0] for x in fw[:-1]] == [
        "192.168.0.0/24", "203.0.113.0/25", "1.2.3.4", "5.6.7.8",
    ]  # fmt: skip
    assert sum(x.startswith("-A KUBE-PROXY-FIREWALL") for x in out) == 2
    # NodePorts bypass the ranges: KUBE-NODEPORTS goes to EXT, not FW.
    assert all("KUBE-EXT-" in x for x in out if x.startswith("-A KUBE-NODEPORTS"))


def test_terminating_endpoints_stand_in_when_none_is_ready() -> None:
    info = svc("ns1", "svc1", "172.30.0.41", load_balancer_vips=(ip("1.2.3.4"),))
    eps = [ep("10.0.1.2", ready=False, terminating=True, local=True),
           ep("10.0.1.4", ready=False, serving=False, terminating=True)]  # fmt: skip
    out = render(info, eps)
    assert any("-> 10.0.1.2:80" in x for x in out)
    assert not any("10.0.1.4" in x for x in out)
    everything_gone = render(info, [ep("10.0.1.4", ready=False, serving=False, terminating=True)])
    assert sum(x.endswith("-j REJECT") for x in everything_gone) == 2


def test_udp_and_unnamed_ports() -> None:
    info = svc("ns1", "svc1", "172.30.0.41", port_name_="")
    info = type(info)(port_name("ns1", "svc1", None, "UDP"), info.cluster_ip, 53, "UDP")
    state = make_state([info], {info.name: [ep("10.180.0.1", 53)]})
    out = lines(fake_backend().sync(state))
    assert (
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP" -m udp -p udp -d 172.30.0.41'
        " --dport 53 -j KUBE-SVC-" in "\n".join(out)
    )
    assert any(x.endswith("-m udp -p udp -j DNAT --to-destination 10.180.0.1:53") for x in out)


def test_node_port_addresses_and_localhost() -> None:
    info = svc("ns1", "svc1", "172.30.0.41", node_port=3001)
    chosen = fake_backend(node_port_addresses=["192.168.0.0/24", "127.0.0.1/32"])
    out = render(info, [ep("10.180.0.1")], chosen)
    tails = [x for x in out if "must be the last rule" in x]
    assert [t.split(" -d ")[1].split()[0] for t in tails] == ["127.0.0.1", "192.168.0.2"]
    no_localhost = fake_backend(
        node_port_addresses=["192.168.0.0/24", "127.0.0.1/32"], localhost_nodeports=False
    )
    out = render(info, [ep("10.180.0.1")], no_localhost)
    assert [x.split(" -d ")[1].split()[0] for x in out if "must be the last" in x] == [
        "192.168.0.2"
    ]
    assert not any("127.0.0.0/8" in x for x in out)  # no nfacct localhost rule, no KUBE-FIREWALL
    assert [s.name for s in no_localhost.sysctls() if s.writes] == []
    everywhere = render(info, [ep("10.180.0.1")], fake_backend(localhost_nodeports=False))
    assert any(
        x.endswith("-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS")
        for x in everywhere
    )


def test_host_probes_change_static_rules() -> None:
    out = render(
        svc("ns1", "svc1", "172.30.0.41"),
        [],
        fake_backend(conntrack_tcp_liberal=True, nfacct=False),
    )
    assert not any("INVALID" in x for x in out)
    out = render(
        svc("ns1", "svc1", "172.30.0.41", node_port=3001),
        [ep("10.1.1.1")],
        fake_backend(nfacct=False),
    )
    assert "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP" in out
    assert not any("nfacct" in x for x in out)


def test_jump_rules_end_up_in_reverse_order() -> None:
    kernel_input: list[str] = []
    rules = fake_backend().jump_rules()
    filt = rules.table("filter")
    assert filt is not None
    applied = filt.rules_by_chain()["INPUT"]
    kernel_input = [
        r.target.chain for r in applied if r.target is not None and hasattr(r.target, "chain")
    ]
    assert kernel_input == [
        "KUBE-FIREWALL", "KUBE-PROXY-FIREWALL", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES",
    ]  # fmt: skip
    assert all(t.table("nat") is not None for t in [rules])
    assert [t.name for t in rules.tables] == ["mangle", "filter", "nat"]


def test_kernel_after_many_syncs_matches_a_fresh_render() -> None:
    backend, kernel = fake_backend(), FakeKernel()
    eps = [ep("10.180.0.1")]
    for n in range(1, 6):
        info = svc("ns1", "svc1", "172.30.0.41", node_port=3000 + n)
        state = make_state([info], {P: eps * (n % 2)}, updated=[P.service], full=n == 1)
        kernel.restore(backend.sync(state))
    assert check_jumps(kernel.ruleset(), top_level=TOP_LEVEL_CHAINS) == []
    fresh = FakeKernel()
    fresh.restore(fake_backend().render(state))
    assert kernel.tables == fresh.tables
