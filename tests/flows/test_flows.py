"""Upstream's packet-flow cases (reference §2.5) through our rules and our tracer.

Each case renders its scenario with the iptables backend (one full ``sync()`` payload merged
with the backend's ``jump_rules()``, as ``Cluster.trace`` does) and traces one new flow on the
harness node (``testNodeIPs`` 192.168.0.2, 192.168.1.2, 192.168.99.11 plus 127.0.0.1; pods in
10.0.0.0/8). A source the node owns is traced as the node sending it (nat OUTPUT, filter OUTPUT,
POSTROUTING, then back in through the INPUT hooks when it was for the node itself); any other
source as arriving (nat PREROUTING, routing, filter INPUT or FORWARD, POSTROUTING).

How upstream's ``tracePacket`` output maps onto a :class:`~k8s_service_lab.tracer.TraceResult`:

- ``"ip:port, ..."`` — verdict ``DNAT`` on every branch, the same endpoints as a set, each with
  probability exactly ``1/n`` (kube-proxy's ``1/(n-i)`` rules read as intended), summing to 1;
- ``DROP`` / ``REJECT`` / ``ACCEPT`` — that verdict, decided by a rule in a ``KUBE-*`` chain
  (not by a chain policy);
- ``""`` — verdict ``NONE``: no rule decided anything and the packet fell through ACCEPT
  policies. An explicit ``ACCEPT`` does not count as ``""``: upstream would have printed it;
- ``masq`` — ``result.masquerade``, and every branch agrees.

Upstream's tracer skips mark, ctstate and rcheck rules and scans the filter chains directly;
ours runs every hook and evaluates those matches (ctstate NEW, plus conntrack's DNAT state once
rewritten). On these 36 cases (48 flows) both agree, so no case carries a kernel-only note.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from k8s_service_lab.netfilter import Ruleset
from k8s_service_lab.tracer import TraceResult
from tests.flows.cases import CASES, FlowCase, by_id, trace_case
from tests.flows.scenarios import SCENARIOS

_RULESETS: dict[str, Ruleset] = {}


def ruleset(scenario: str) -> Ruleset:
    """The scenario's rules, rendered once per test session (they are immutable)."""
    if scenario not in _RULESETS:
        _RULESETS[scenario] = SCENARIOS[scenario].ruleset()
    return _RULESETS[scenario]


def assert_matches_upstream(case: FlowCase, result: TraceResult) -> None:
    """The whole mapping of the module docstring, for one traced case."""
    assert not result.uncertain, result.not_evaluated
    assert result.verdict == case.verdict
    if case.verdict == "DNAT":
        assert {b.verdict for b in result.branches} == {"DNAT"}
        got = {f"{ip}:{port}" for ip, port, _ in result.endpoints}
        assert got == case.endpoints
        shares = [p for _, _, p in result.endpoints]
        assert all(type(p) is Fraction for p in shares)
        assert shares == [Fraction(1, len(shares))] * len(shares)
        assert sum(shares) == 1
    else:
        assert result.endpoints == ()
    if case.verdict in ("DROP", "REJECT", "ACCEPT"):
        for branch in result.branches:
            last = branch.hops[-1]
            assert last.chain.startswith("KUBE-"), last
            assert last.rule.endswith(f"-j {case.verdict}"), last
    assert result.masquerade is case.masq
    assert {b.masquerade for b in result.branches} == {case.masq}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_flow(case: FlowCase) -> None:
    assert_matches_upstream(case, trace_case(ruleset(case.scenario), case))


def test_every_acceptance_case_is_covered() -> None:
    assert sorted({c.number for c in CASES}) == list(range(1, 37))
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.scenario for c in CASES} == set(SCENARIOS)


def test_scenarios_differ_where_upstream_options_differ() -> None:
    """The option variants really render different rules (else their cases prove nothing)."""
    base = ruleset("masq-base")
    assert ruleset("masq-all") != base
    assert ruleset("masq-no-local-detector") != base
    assert ruleset("node-ports-addresses") != ruleset("node-ports-localhost-off")


@pytest.mark.parametrize(
    ("case_id", "chain"),
    [
        ("case-05-external-drop", "KUBE-EXTERNAL-SERVICES"),
        ("case-09-lb-blocked-source", "KUBE-PROXY-FIREWALL"),
        ("case-20-pod-lb-not-in-ranges", "KUBE-PROXY-FIREWALL"),
        ("case-26-no-local-drop", "KUBE-SERVICES"),
        ("case-06-healthcheck-accept", "KUBE-NODEPORTS"),
    ],
)
def test_filter_verdicts_come_from_the_chain_upstream_names(case_id: str, chain: str) -> None:
    """Reference §1.8/§1.9: which filter chain holds each DROP, REJECT or ACCEPT."""
    case = by_id(case_id)
    result = trace_case(ruleset(case.scenario), case)
    assert {b.hops[-1].chain for b in result.branches} == {chain}
    assert {b.hops[-1].table for b in result.branches} == {"filter"}
