"""Upstream's packet-flow cases (reference §2.5) through kube-proxy's nftables mode.

Every case of :mod:`tests.flows.cases` runs on the same scenario rendered by
:class:`~k8s_service_lab.backends.nftables.NftablesBackend` — one full sync, as upstream's
nftables ``NewFakeProxier`` holds it (mark ``0x4000``, pods in 10.0.0.0/8, ServiceCIDR
172.30.0.0/16, ``--nodeport-addresses 192.168.0.2/32``) — and traced by
:class:`~k8s_service_lab.tracer.nft_engine.NftTracer` on the same harness node.

Scenario options map onto the nftables proxier as follows: ``masquerade_all`` and
``node_port_addresses`` carry over; ``local_detector=None`` is the nftables proxier without a
LocalTrafficDetector; ``localhost_nodeports`` does not exist in nftables mode (there is no
``route_localnet`` and loopback is never a NodePort address), so it is dropped.

The verdicts, endpoint sets and masquerade flags are iptables mode's except where reference
§3.7 says nftables mode behaves differently; each such case is listed in
:data:`NFT_DIFFERENCES` with its upstream reason, asserted with its own expectation, and
checked to really differ from iptables mode (so the list can be neither too long nor too
short). :data:`NFT_ONLY` adds flows upstream's nftables tests assert that have no iptables
counterpart.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from k8s_service_lab.backends.nftables import NftablesBackend
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.netfilter.nftables import NftTransaction
from k8s_service_lab.tracer import TraceResult
from k8s_service_lab.tracer.nft_engine import NftTracer
from tests.flows.cases import CASES, FlowCase, by_id, trace_case
from tests.flows.scenarios import NODE, SCENARIOS
from tests.flows.test_flows import assert_matches_upstream, ruleset
from tests.golden.scenarios_iptables import NODE as NODE_NAME

#: Upstream nftables ``NewFakeProxier``: NodePorts only on the node IP (KEP-3866 default).
FAKE_NODEPORT_ADDRESSES = ("192.168.0.2/32", "2001:db8::1/128")
#: Scenario options that have no nftables counterpart (see the module docstring).
NO_NFT_OPTION = frozenset({"localhost_nodeports"})


@dataclasses.dataclass(frozen=True, slots=True)
class Difference:
    """What nftables mode gives instead of iptables mode's expectation, and why."""

    expect: str
    masq: bool
    reason: str


NFT_DIFFERENCES: dict[str, Difference] = {
    "case-06-healthcheck-accept": Difference(
        "",
        False,
        "§3.7.3: nftables mode writes no ACCEPT rule for healthCheckNodePorts (iptables "
        "mode's KUBE-NODEPORTS '-m comment health check node port -j ACCEPT' exists to get past "
        "a default-DROP INPUT policy; proxier.go in pkg/proxy/nftables has no equivalent)",
    ),
    "case-14-localhost-nodeport": Difference(
        "",
        False,
        "§3.7.2: no localhost NodePorts — nodeport-ips never holds a loopback address "
        "(and match-all NodePorts add 'ip daddr != 127.0.0.0/8'), so 127.0.0.1:3003 is not "
        "a Service; upstream nftables TestNodePorts has no localhost case",
    ),
    "case-18-udp-to-tcp-only-port": Difference(
        "REJECT",
        False,
        "§3.7.4: an allocated ClusterIP on a port/protocol it does not serve hits "
        "cluster-ips-check 'ip daddr @cluster-ips reject' (upstream nftables "
        "TestClusterIPGeneral: 'TCP-only port does not match UDP traffic' -> REJECT)",
    ),
}

_POD = "10.0.0.2"
#: Flows upstream's nftables tests assert beyond the shared table (TestClusterIPGeneral,
#: TestLoadBalancer, TestNodePorts in pkg/proxy/nftables/proxier_test.go).
NFT_ONLY: tuple[FlowCase, ...] = (
    FlowCase(90, "svc1-rejects-svc2-ports", "cluster-ip-general", "10.180.0.2",
             "172.30.0.41", 443, "REJECT"),
    FlowCase(91, "unallocated-cluster-ip-drop", "cluster-ip-general", "10.180.0.2",
             "172.30.0.50", 80, "DROP"),
    FlowCase(92, "node-to-lb-allowed", "load-balancer", "192.168.0.2", "1.2.3.4", 80,
             "10.180.0.1:80", True),
    FlowCase(93, "external-to-nodeport", "load-balancer", "203.0.113.2", "192.168.0.2",
             3001, "10.180.0.1:80", True),
    FlowCase(94, "node-to-nodeport", "node-ports-localhost-off", "192.168.0.2",
             "192.168.0.2", 3001, "10.180.0.1:80, 10.180.2.1:80", True),
    FlowCase(95, "pod-to-unknown-port-of-no-endpoint-cip", "no-endpoints-reject", _POD,
             "172.30.0.41", 81, "REJECT"),
)  # fmt: skip

_TRANSACTIONS: dict[str, NftTransaction] = {}


def nft_backend(scenario: str) -> NftablesBackend:
    """The nftables ``NewFakeProxier`` with the scenario's options mapped onto it."""
    options = {k: v for k, v in SCENARIOS[scenario].options if k not in NO_NFT_OPTION}
    options.setdefault("node_port_addresses", FAKE_NODEPORT_ADDRESSES)
    return NftablesBackend(
        ClusterConfig.default(),
        NODE_NAME,
        masquerade_mark="0x4000",
        **options,  # type: ignore[arg-type]
    )


def transaction(scenario: str) -> NftTransaction:
    """The scenario's full nftables sync, rendered once per session."""
    if scenario not in _TRANSACTIONS:
        _TRANSACTIONS[scenario] = nft_backend(scenario).sync(SCENARIOS[scenario].build())
    return _TRANSACTIONS[scenario]


def nft_trace(case: FlowCase, probabilities: str = "intended") -> TraceResult:
    """``trace_case`` in nftables mode: the node's own sources are sent, others arrive."""
    tracer = NftTracer(transaction(case.scenario), NODE, probabilities=probabilities)
    packet = case.packet()
    return tracer.sent(packet) if NODE.is_local(case.src) else tracer.arriving(packet)


def nft_expectation(case: FlowCase) -> FlowCase:
    diff = NFT_DIFFERENCES.get(case.id)
    return case if diff is None else dataclasses.replace(case, expect=diff.expect, masq=diff.masq)


def assert_matches_nft(case: FlowCase, result: TraceResult) -> None:
    """Verdict, exact 1/n endpoint shares and masquerade as upstream says; a DROP or REJECT
    decided by a kube-proxy rule or map element (never by a chain policy)."""
    assert not result.uncertain, result.not_evaluated
    assert result.verdict == case.verdict, result
    if case.verdict == "DNAT":
        assert {b.verdict for b in result.branches} == {"DNAT"}
        assert {f"{ip}:{port}" for ip, port, _ in result.endpoints} == case.endpoints
        shares = [p for _, _, p in result.endpoints]
        assert shares == [Fraction(1, len(shares))] * len(shares)
    else:
        assert result.endpoints == ()
    if case.verdict in ("DROP", "REJECT"):
        word = case.verdict.lower()
        for branch in result.branches:
            last = branch.hops[-1]
            assert last.table == "ip kube-proxy", last
            assert last.why.endswith(word), last
    assert result.masquerade is case.masq
    assert {b.masquerade for b in result.branches} == {case.masq}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_flow(case: FlowCase) -> None:
    assert_matches_nft(nft_expectation(case), nft_trace(case))


@pytest.mark.parametrize("case_id", sorted(NFT_DIFFERENCES))
def test_documented_differences_are_real(case_id: str) -> None:
    """iptables mode still gives upstream's iptables answer; nftables mode does not."""
    case = by_id(case_id)
    assert_matches_upstream(case, trace_case(ruleset(case.scenario), case))
    nft = nft_trace(case)
    assert (nft.verdict, nft.masquerade) != (case.verdict, case.masq)
    assert NFT_DIFFERENCES[case_id].reason.startswith("§3.7")


@pytest.mark.parametrize("case", NFT_ONLY, ids=[c.id for c in NFT_ONLY])
def test_nftables_only_upstream_flow(case: FlowCase) -> None:
    assert_matches_nft(case, nft_trace(case))


@pytest.mark.parametrize(
    ("case_id", "chain"),
    [
        ("case-05-external-drop", "service-endpoints-check"),
        ("case-07-no-endpoints-reject", "reject-chain"),
        ("case-09-lb-blocked-source", "firewall-HVFWP5L3-ns5/svc5/tcp/p80"),
        ("case-11-nodeport-etp-local-no-local", "nodeport-endpoints-check"),
        ("case-18-udp-to-tcp-only-port", "cluster-ips-check"),
        ("case-26-no-local-drop", "service-endpoints-check"),
    ],
)
def test_verdicts_come_from_the_chain_upstream_names(case_id: str, chain: str) -> None:
    """Reference §3.3/§3.5: which kube-proxy chain decides each DROP or REJECT."""
    result = nft_trace(by_id(case_id))
    assert {b.hops[-1].chain for b in result.branches} == {chain}


def test_firewall_runs_before_dnat() -> None:
    """Source ranges are checked on the LB IP in filter-prerouting-pre-dnat (priority -110),
    before nat-prerouting (-100) rewrites it (§3.7.5)."""
    result = nft_trace(by_id("case-09-lb-blocked-source"))
    chains = [h.chain for h in result.branches[0].hops]
    assert chains[:2] == ["filter-prerouting-pre-dnat", "firewall-check"]
    assert "services" not in chains


def test_every_case_is_covered_and_options_map() -> None:
    assert {c.scenario for c in CASES} <= set(SCENARIOS)
    assert set(NFT_DIFFERENCES) <= {c.id for c in CASES}
    used = {k for s in SCENARIOS.values() for k, _ in s.options}
    assert used - NO_NFT_OPTION <= {"masquerade_all", "local_detector", "node_port_addresses"}
    # The variants really render different tables (else their cases prove nothing).
    base = transaction("masq-base")
    assert transaction("masq-all") != base
    assert transaction("masq-no-local-detector") != base


@pytest.mark.parametrize(
    "case_id", ["case-03-multiple-endpoints", "case-29-external-lb-terminating"]
)
def test_kernel_shares_sum_to_one_and_stay_within_2_to_the_minus_32(case_id: str) -> None:
    result = nft_trace(by_id(case_id), "kernel")
    shares = [p for _, _, p in result.endpoints]
    assert sum(shares) == 1
    n = len(shares)
    assert all(abs(p - Fraction(1, n)) < Fraction(1, 2**32) for p in shares)
