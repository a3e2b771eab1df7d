"""The flow cases again, on what the kernel kept: our rules, loaded and read back.

For every scenario of ``tests/flows/scenarios.py`` the jump rules and the full payload are
loaded into a scratch namespace with ``iptables-restore --noflush`` — the nft-backed tool, as on
a kind node, and the legacy (x_tables) one — after creating the nfacct counters the rules name
(the restore fails without them). ``iptables-save`` then prints the kernel's own form: matches
reordered, ``/32`` added, marks as ``--set-xmark``, probabilities as 31-bit fractions with 11
decimals. That dump is parsed with :func:`~k8s_service_lab.netfilter.parse_save` and every
flow case of the scenario is traced on it and on our own objects; both must give the same
verdict, endpoints, masquerade flags, kube-proxy chain path and probabilities.

Probabilities are compared as the kernel stores them (``probabilities="kernel"``): the dump's
``0.33333333349`` is no longer a decimal whose simplest reading is 1/3, but it is the same
31-bit fraction as our ``0.3333333333``, so both sides must agree exactly (and sum to 1).

    >>> sorted(TOOLS)
    ['legacy', 'nft']
"""

from __future__ import annotations

import shutil
from fractions import Fraction

import pytest

from k8s_service_lab.backends.iptables.static import (
    CT_INVALID_COUNTER,
    LOCALHOST_NODEPORT_COUNTER,
)
from k8s_service_lab.netfilter import Ruleset, parse_save, to_restore
from k8s_service_lab.tracer import TraceResult
from tests.flows.cases import CASES, FlowCase, trace_case
from tests.flows.scenarios import SCENARIOS
from tests.kernel.conftest import ScratchNamespace

pytestmark = pytest.mark.kernel

#: ``iptables-restore`` / ``iptables-save`` of each xtables backend.
TOOLS = {
    "nft": ("iptables-nft-restore", "iptables-nft-save"),
    "legacy": ("iptables-legacy-restore", "iptables-legacy-save"),
}

Summary = tuple[str, bool, tuple[tuple[str, int, Fraction], ...], list[tuple[object, ...]]]


def load_and_dump(ns: ScratchNamespace, tool: str, jumps: Ruleset, payload: Ruleset) -> Ruleset:
    """Load what kube-proxy would (jumps first, then the payload) and parse the kernel's dump."""
    restore, save = TOOLS[tool]
    missing = [t for t in (restore, save, "nfacct") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages iptables, nfacct)")
    # kube-proxy creates its nfacct counters before it syncs; rules naming a missing counter
    # make the whole restore fail ("RULE_APPEND failed (No such file or directory)").
    for counter in (LOCALHOST_NODEPORT_COUNTER, CT_INVALID_COUNTER):
        ns.run("nfacct", "add", counter)
    ns.run(restore, "--noflush", input=to_restore(jumps))
    ns.run(restore, "--noflush", input=to_restore(payload))
    return parse_save(ns.run(save), source=save)


def summary(result: TraceResult) -> Summary:
    """What must not change between our objects and the kernel's dump of them.

    Hops are compared by (table, chain) only — the rule text is the kernel's normalised form
    in the dump — and without chain-policy hops, since the dump also lists built-in chains
    (nat INPUT, ...) that our rulesets never mention.
    """
    branches = sorted(
        (
            (
                b.verdict,
                b.endpoint or ("", 0),
                b.masquerade,
                b.probability,
                tuple((h.table, h.chain) for h in b.hops if h.why != "chain policy"),
            )
            for b in result.branches
        ),
        key=repr,
    )
    return result.verdict, result.masquerade, result.endpoints, list(branches)


def _params() -> list[object]:
    return [pytest.param(tool, name, id=f"{tool}-{name}") for tool in TOOLS for name in SCENARIOS]


@pytest.mark.parametrize(("tool", "scenario"), _params())
def test_flows_agree_on_kernel_dump(
    scratch_netns: ScratchNamespace, tool: str, scenario: str
) -> None:
    jumps, payload = SCENARIOS[scenario].rulesets()
    dumped = load_and_dump(scratch_netns, tool, jumps, payload)
    ours = SCENARIOS[scenario].ruleset()
    cases: list[FlowCase] = [c for c in CASES if c.scenario == scenario]
    assert cases, f"scenario {scenario} has no flow case"
    for case in cases:
        mine = trace_case(ours, case, probabilities="kernel")
        theirs = trace_case(dumped, case, probabilities="kernel")
        assert not theirs.uncertain, (case.id, theirs.not_evaluated)
        assert summary(theirs) == summary(mine), case.id
        # And the kernel's rules still give upstream's answer.
        assert theirs.verdict == case.verdict, case.id
        assert {f"{ip}:{port}" for ip, port, _ in theirs.endpoints} == case.endpoints, case.id
        assert theirs.masquerade is case.masq, case.id
        if case.verdict == "DNAT":
            assert sum(p for _, _, p in theirs.endpoints) == 1, case.id
