"""Partial syncs: only changed Services' chains, only changed elements, stale chains later.

Every payload is applied to :class:`NftState` (which refuses what ``nft -f`` would refuse),
so a partial sync that referenced a missing chain, re-added a map key with a new value or
deleted a chain still in use fails here as it would on a node.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.netfilter.nftables import NftChain, NftElement, NftSet, NftTransaction
from k8s_service_lab.netfilter.nftables_text import to_nft
from k8s_service_lab.proxy import EndpointInfo, NodeProxyState, ServicePortInfo, ServicePortName
from tests.golden.scenarios_iptables import ep, make_state, overall_state, port_name
from tests.golden.scenarios_nftables import FakeClock, FakeNft, fake_nft_backend

EP5 = "endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80"


def changed(
    state: NodeProxyState,
    endpoints: dict[ServicePortName, tuple[EndpointInfo, ...]] | None = None,
    services: list[ServicePortInfo] | None = None,
    *,
    updated: list[str],
) -> NodeProxyState:
    svcs = list(state.services.values()) if services is None else services
    eps = {**state.endpoints, **(endpoints or {})}
    names = [port_name(n.split("/")[0], n.split("/")[1]).service for n in updated]
    return make_state(svcs, eps, updated=names, full=False)


def cleanup_of(kernel: FakeNft) -> NftTransaction | None:
    return kernel.backend.last_cleanup


def synced() -> tuple[FakeNft, FakeClock, NodeProxyState]:
    clock = FakeClock()
    backend = fake_nft_backend(clock)
    kernel = FakeNft(backend)
    state = overall_state()
    kernel.run(backend.sync(state))
    return kernel, clock, state


def test_nothing_changed_means_an_empty_transaction() -> None:
    kernel, clock, state = synced()
    clock.advance(5)
    payload = kernel.backend.sync(changed(state, updated=[]))
    assert len(payload) == 0
    assert kernel.backend.last_cleanup is None


def test_lost_endpoint_chain_is_flushed_now_and_deleted_a_second_later() -> None:
    kernel, clock, state = synced()
    svc4 = port_name("ns4", "svc4")
    state = changed(state, {svc4: (ep("10.180.0.4"),)}, updated=["ns4/svc4"])
    payload = kernel.backend.sync(state)
    text = to_nft(payload)
    kernel.run(payload)
    assert f"flush chain ip kube-proxy {EP5}\n" in text
    assert "delete chain" not in text
    assert "ns1/svc1" not in text  # untouched Services are not rewritten
    assert "numgen random mod 1 vmap" in text
    assert kernel.state.rules(EP5) == []
    # Within the second: flushed again, and its clock restarts (as upstream's staleChains).
    clock.advance(0.5)
    again = kernel.backend.sync(changed(state, updated=[]))
    assert cleanup_of(kernel) is None
    assert [c.obj for c in again.commands] == [NftChain(EP5)]
    kernel.run(again)
    clock.advance(1.5)
    later = kernel.backend.sync(changed(state, updated=[]))
    cleanup = cleanup_of(kernel)
    assert cleanup is not None
    assert to_nft(cleanup) == f"delete chain ip kube-proxy {EP5}\n"
    assert len(later) == 0
    kernel.run(later)
    assert EP5 not in kernel.state.chains()


def test_deleted_service_loses_its_elements() -> None:
    kernel, _, state = synced()
    services = [s for s in state.services.values() if s.name.name != "svc1"]
    payload = kernel.backend.sync(changed(state, services=services, updated=["ns1/svc1"]))
    deleted = [c.obj for c in payload.commands if c.verb == "delete"]
    assert NftElement("cluster-ips", ("172.30.0.41",)) in deleted
    assert NftElement("service-ips", ("172.30.0.41", "tcp", "80")) in deleted
    kernel.run(payload)
    assert kernel.backend.last_stats is not None
    assert kernel.backend.last_stats.stale_chains_flushed == 2


def test_map_value_change_is_delete_then_add() -> None:
    kernel, _, state = synced()
    svc6 = port_name("ns6", "svc6")
    payload = kernel.backend.sync(changed(state, {svc6: (ep("10.180.0.6"),)}, updated=["ns6/svc6"]))
    text = to_nft(payload)
    assert "delete element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 }" in text
    assert "add element ip kube-proxy service-ips { 172.30.0.46 . tcp . 80 : goto service-" in text
    assert "cluster-ips" not in text  # unchanged element: not written again
    kernel.run(payload)


def test_stale_affinity_set_is_deleted_at_once() -> None:
    kernel, _, state = synced()
    svc5 = port_name("ns5", "svc5")
    payload = kernel.backend.sync(changed(state, {svc5: (ep("10.180.0.9"),)}, updated=["ns5/svc5"]))
    deleted = [
        c.obj.name for c in payload.commands if c.verb == "delete" and isinstance(c.obj, NftSet)
    ]
    assert deleted == ["affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"]
    kernel.run(payload)


SERVICES = ["ns1/svc1", "ns2/svc2", "ns3/svc3", "ns4/svc4", "ns5/svc5", "ns6/svc6"]
STEP = st.tuples(st.sampled_from(SERVICES), st.sampled_from(["none", "one", "two", "drop"]))


@settings(database=None, max_examples=60, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=6))
def test_partial_syncs_converge_to_a_fresh_full_sync(steps: list[tuple[str, str]]) -> None:
    kernel, clock, state = synced()
    base = overall_state()
    for name, action in steps:
        spn = port_name(*name.split("/"))
        services = [s for s in state.services.values() if s.name != spn]
        if action != "drop":
            services.append(base.services[spn])
        ips = {"none": (), "one": ("10.180.1.1",), "two": ("10.180.1.1", "10.180.1.2")}
        eps = {spn: tuple(ep(ip) for ip in ips.get(action, ()))}
        state = changed(state, eps, services, updated=[name])
        clock.advance(0.3)
        kernel.run(kernel.backend.sync(state))
    clock.advance(2)
    kernel.run(kernel.backend.sync(changed(state, updated=[])))
    fresh = FakeNft(fake_nft_backend())
    fresh.run(fresh.backend.sync(make_state(state.services.values(), state.endpoints)))
    assert kernel.state.dump() == fresh.state.dump()
    assert kernel.state.dangling() == []
