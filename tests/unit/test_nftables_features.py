"""nftables backend features beyond the overall scenario, and the object layer's rules.

Names (reference §3.4), IPv6, ``--masquerade-all``, interface-based local detection,
match-all NodePort addresses, iTP=Local, a source range holding the node IP, and the kernel
rules :class:`NftState` enforces.
"""

from __future__ import annotations

import ipaddress

import pytest

from k8s_service_lab.backends.nftables import NftablesBackend, endpoint_names, hash_and_truncate
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.netfilter.nftables import (
    NftChain,
    NftElement,
    NftMap,
    NftRule,
    NftTable,
    NftTransaction,
    add,
    delete,
    goto,
    jump,
)
from k8s_service_lab.netfilter.nftables_state import NftError, NftState
from k8s_service_lab.netfilter.nftables_text import quote, to_nft
from k8s_service_lab.proxy import (
    EndpointInfo,
    NodeProxyState,
    ServicePortInfo,
    ServicePortName,
    build_node_state,
)
from tests.golden.scenarios_iptables import ep, make_state, svc
from tests.golden.scenarios_nftables import UPSTREAM_NAMES, FakeNft, fake_nft_backend

net = ipaddress.ip_network
ip = ipaddress.ip_address


@pytest.mark.parametrize(("unhashed", "digest"), sorted(UPSTREAM_NAMES.items()))
def test_upstream_hashes(unhashed: str, digest: str) -> None:
    assert hash_and_truncate(unhashed) == f"{digest}-{unhashed}"


def test_long_names_are_truncated_with_dots() -> None:
    name = hash_and_truncate("n" * 300)
    assert len(name) == 240
    assert name.endswith("...")


def test_ipv6_endpoint_names_use_dots() -> None:
    names = endpoint_names("ns1", "svc1", "p80", "TCP", "fd00:10:180::1", 80)
    assert names.chain.endswith("-ns1/svc1/tcp/p80__fd00.10.180..1/80")


def one(info: ServicePortInfo, *eps: EndpointInfo) -> NodeProxyState:
    return make_state([info], {info.name: list(eps)})


def text_of(backend: NftablesBackend, state: NodeProxyState) -> str:
    payload = backend.sync(state)
    kernel = FakeNft(backend)
    kernel.run(payload)
    assert kernel.state.dangling() == []
    return to_nft(payload)


def test_masquerade_all_drops_the_source_condition() -> None:
    text = text_of(
        fake_nft_backend(masquerade_all=True), one(svc("ns", "a", "172.30.0.9"), ep("10.1.1.1"))
    )
    assert "/tcp/p80 ip daddr 172.30.0.9 jump mark-for-masquerade\n" in text


def test_interface_prefix_detector() -> None:
    backend = fake_nft_backend(local_detector="InterfaceNamePrefix", local_interface="veth")
    text = text_of(backend, one(svc("ns", "a", "172.30.0.9"), ep("10.1.1.1")))
    assert "ip daddr 172.30.0.9 iifname != veth* jump mark-for-masquerade" in text


def test_no_detector_means_no_clusterip_masquerade() -> None:
    text = text_of(
        fake_nft_backend(local_detector=None), one(svc("ns", "a", "172.30.0.9"), ep("10.1.1.1"))
    )
    assert "ip daddr 172.30.0.9" not in text


def test_match_all_nodeports_use_fib_and_drop_the_set() -> None:
    backend = fake_nft_backend()
    backend.node_port_addresses = ("0.0.0.0/0",)
    text = text_of(backend, one(svc("ns", "a", "172.30.0.9", node_port=30001), ep("10.1.1.1")))
    assert "delete set ip kube-proxy nodeport-ips\n" in text
    assert (
        "services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport "
        "vmap @service-nodeports" in text
    )
    assert "nodeport-endpoints-check ip daddr != 127.0.0.0/8 meta l4proto" in text


def test_internal_local_without_local_endpoints_drops_clusterip() -> None:
    info = svc("ns", "a", "172.30.0.9", internal_policy_local=True)
    text = text_of(fake_nft_backend(), one(info, ep("10.1.1.1")))
    assert 'no-endpoint-services { 172.30.0.9 . tcp . 80 comment "ns/a:p80" : drop }' in text
    assert "service-" not in text.split("flush map ip kube-proxy service-nodeports")[1]


def test_internal_local_with_local_endpoint_uses_local_chain() -> None:
    info = svc("ns", "a", "172.30.0.9", internal_policy_local=True)
    text = text_of(fake_nft_backend(), one(info, ep("10.1.1.1"), ep("10.1.1.2", local=True)))
    assert "172.30.0.9 . tcp . 80 : goto local-" in text
    assert "numgen random mod 1 vmap { 0 : goto endpoint-" in text


def test_terminating_endpoints_are_used_when_none_is_ready() -> None:
    info = svc("ns", "a", "172.30.0.9")
    gone = ep("10.1.1.1", ready=False, serving=True, terminating=True)
    text = text_of(fake_nft_backend(), one(info, gone))
    assert "dnat to 10.1.1.1:80" in text
    assert "reject-chain }" not in text.split("service-nodeports\n")[-1]


def test_source_range_holding_the_node_ip_lets_the_vips_in() -> None:
    info = svc(
        "ns", "lb", "172.30.0.9", node_port=30001, load_balancer_vips=(ip("1.2.3.4"),),
        load_balancer_source_ranges=(net("192.168.0.0/24"), net("203.0.113.0/25")),
    )  # fmt: skip
    text = text_of(fake_nft_backend(), one(info, ep("10.1.1.1")))
    assert "ip saddr != { 192.168.0.0/24 , 203.0.113.0/25 , 1.2.3.4 } drop" in text


def test_firewall_applies_without_endpoints_too() -> None:
    info = svc(
        "ns", "lb", "172.30.0.9", load_balancer_vips=(ip("1.2.3.4"),),
        load_balancer_source_ranges=(net("203.0.113.0/25"),),
    )  # fmt: skip
    text = text_of(fake_nft_backend(), one(info))
    assert "firewall-ips { 1.2.3.4 . tcp . 80 : goto firewall-" in text
    assert "no-endpoint-services { 1.2.3.4 . tcp . 80 comment" in text


def test_ipv6_family() -> None:
    config = ClusterConfig.from_dict(
        {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
         "networking": {"ipFamily": "dual"}}
    )  # fmt: skip
    spn = ServicePortName("ns", "a", None, "TCP")
    info = ServicePortInfo(spn, ip("fd00:10:96::9"), 80, "TCP", session_affinity="ClientIP",
                           sticky_max_age_seconds=60)  # fmt: skip
    state = build_node_state(
        config,
        "kind-control-plane",
        "IPv6",
        {spn: info},
        {spn: (EndpointInfo("fd00:10:244::5", 8080),)},
    )
    backend = NftablesBackend(config, "kind-control-plane", 6)
    text = text_of(backend, state)
    assert text.startswith('add table ip6 kube-proxy { comment "rules for kube-proxy" ; }')
    assert "meta l4proto tcp dnat to [fd00:10:244::5]:8080" in text
    assert "{ type ipv6_addr ; flags dynamic,timeout ; timeout 60s ; }" in text
    assert "update @affinity-" in text
    assert "{ ip6 saddr }" in text
    with pytest.raises(ValueError, match="IPv6 backend cannot sync IPv4"):
        backend.sync(make_state([], {}))


def test_backend_protocol_extras() -> None:
    backend = fake_nft_backend()
    assert backend.name == "nftables"
    assert len(backend.jump_rules()) == 0
    assert backend.sysctls() == ()
    state = make_state([svc("ns", "a", "172.30.0.9")], {})
    first = to_nft(backend.render(state))
    assert to_nft(backend.render(state)) == first  # render leaves no bookkeeping behind
    assert to_nft(backend.sync(state)) == first


def test_quote_escapes_like_go() -> None:
    assert quote('a "b" \\c') == '"a \\"b\\" \\\\c"'


def tx(*commands: object) -> NftTransaction:
    return NftTransaction("ip", "t", (add(NftTable("ip", "t")), *commands))  # type: ignore[arg-type]


def test_state_refuses_what_nft_refuses() -> None:
    state = NftState("ip", "t")
    with pytest.raises(NftError, match="no such chain"):
        state.apply(tx(add(NftRule("c", (jump("missing"),)))))
    assert not state.exists  # all or nothing
    m = NftMap("m", "inet_service : verdict")
    state.apply(tx(add(NftChain("c")), add(m), add(NftElement("m", ("80",), goto("c")))))
    with pytest.raises(NftError, match="another value"):
        state.apply(tx(add(NftChain("d")), add(NftElement("m", ("80",), goto("d")))))
    with pytest.raises(NftError, match="still referenced"):
        state.apply(tx(delete(NftChain("c"))))
    with pytest.raises(NftError, match="no such element"):
        state.apply(tx(delete(NftElement("m", ("81",)))))
    with pytest.raises(NftError, match="another hook"):
        state.apply(
            tx(add(NftChain("c", "nat", "output", -100)), add(NftChain("c", "nat", "input", 0)))
        )
    state.apply(tx(delete(NftElement("m", ("80",))), delete(NftChain("c"))))
    assert "c" not in state.chains()
