"""The upstream overall nftables scenario, line for line (reference §3.5).

Our first sync of ``TestOverallNFTablesRules``'s six Services, applied to an empty table,
must leave exactly the objects upstream's test expects knftables' fake to hold, compared in
upstream's ``sortNFTablesTransaction`` order.
"""

from __future__ import annotations

from k8s_service_lab.netfilter.nftables import DROP, NftChain, NftElement, goto
from k8s_service_lab.netfilter.nftables_text import to_nft
from tests.golden.scenarios_iptables import overall_state
from tests.golden.scenarios_nftables import (
    UPSTREAM_OVERALL,
    FakeNft,
    fake_nft_backend,
    sort_transaction,
)


def test_overall_table_matches_upstream_expectation() -> None:
    backend = fake_nft_backend()
    kernel = FakeNft(backend)
    kernel.run(backend.sync(overall_state()))
    assert sort_transaction(kernel.state.dump()) == sort_transaction(UPSTREAM_OVERALL)
    assert kernel.state.dangling() == []


def test_sort_transaction_keeps_rule_order_but_sorts_elements() -> None:
    text = (
        "add rule ip kube-proxy c b\nadd rule ip kube-proxy c a\n"
        "add element ip kube-proxy s { 2 }\nadd element ip kube-proxy s { 1 }\n"
        'add table ip kube-proxy { comment "k" ; }\n# comment\n'
    )
    assert sort_transaction(text) == [
        'add table ip kube-proxy { comment "k" ; }',
        "add rule ip kube-proxy c b",
        "add rule ip kube-proxy c a",
        "add element ip kube-proxy s { 1 }",
        "add element ip kube-proxy s { 2 }",
    ]


def test_first_sync_recreates_base_chains_once() -> None:
    backend = fake_nft_backend()
    first = to_nft(backend.sync(overall_state()))
    assert "delete chain ip kube-proxy nat-prerouting\n" in first
    backend.force_full_sync()
    second = to_nft(backend.sync(overall_state()))
    assert "delete chain" not in second
    assert "add chain ip kube-proxy nat-prerouting { type nat" in second


def test_full_sync_flushes_every_container_and_rewrites_every_service() -> None:
    backend = fake_nft_backend()
    backend.sync(overall_state())
    backend.force_full_sync()
    payload = backend.sync(overall_state())
    flushed = {c.obj.name for c in payload.commands if c.verb == "flush"}  # type: ignore[union-attr]
    assert {"cluster-ips", "service-ips", "no-endpoint-services", "firewall-ips"} <= flushed
    assert backend.last_stats is not None
    assert backend.last_stats.services_written == 6
    chains = {c.obj.name for c in payload.commands if isinstance(c.obj, NftChain)}
    assert "endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80" in chains


def test_no_endpoint_verdicts() -> None:
    payload = fake_nft_backend().sync(overall_state())
    elements = {
        c.obj.key: c.obj
        for c in payload.commands
        if isinstance(c.obj, NftElement) and c.obj.container.startswith("no-endpoint")
    }
    # No endpoints anywhere: REJECT (through reject-chain); none on this node for an
    # eTP=Local Service: DROP what the external chain did not short-circuit.
    assert elements[("172.30.0.46", "tcp", "80")].value == goto("reject-chain")
    assert elements[("tcp", "3001")].value == DROP
    assert elements[("tcp", "3001")].comment == "ns2/svc2:p80"
    assert elements[("1.2.3.4", "tcp", "80")].value == DROP
