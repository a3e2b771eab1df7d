"""The nft tracer on what the real kernel prints back: same answers as on our own objects.

For every flow scenario, the nftables backend's full transaction is loaded with ``nft -f``
into a ``ksl-t`` scratch namespace; ``nft list table ip kube-proxy`` and ``nft -j list
ruleset`` are read back, parsed, and every flow case of the scenario (plus the
nftables-only upstream flows) is traced through both dumps: verdict, endpoints with their
exact probabilities, masquerade and the chain path must equal the trace of the transaction
itself, and nothing may be "not evaluated". The real k3s dump is replayed the same way.
Nothing runs outside the scratch namespaces (DESIGN §8).
"""

from __future__ import annotations

import os
import shutil

import pytest

from k8s_service_lab.netfilter.nftables_json import parse_nft_json
from k8s_service_lab.netfilter.nftables_parse import parse_nft
from k8s_service_lab.netfilter.nftables_text import to_nft
from k8s_service_lab.tracer import TraceResult
from k8s_service_lab.tracer.nft_engine import NftTracer
from tests.flows.cases import CASES, FlowCase
from tests.flows.scenarios import NODE, SCENARIOS
from tests.flows.test_flows_nftables import NFT_ONLY, nft_trace, transaction
from tests.kernel.conftest import ScratchNamespace
from tests.unit.test_nftables_parse import K3S, K3S_NODE, PACKETS_K3S

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = [t for t in ("ip", "nft") if shutil.which(t) is None]
    if os.geteuid() != 0:
        missing.insert(0, "root")
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages nftables, iproute2)")


def _summary(result: TraceResult) -> object:
    return (
        result.verdict,
        result.endpoints,
        result.masquerade,
        result.uncertain,
        sorted((b.probability, tuple(h.chain for h in b.hops)) for b in result.branches),
    )


def _trace(tracer: NftTracer, case: FlowCase) -> TraceResult:
    packet = case.packet()
    return tracer.sent(packet) if NODE.is_local(case.src) else tracer.arriving(packet)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_kernel_dumps_trace_like_our_objects(
    scratch_netns: ScratchNamespace, scenario: str
) -> None:
    scratch_netns.run("nft", "-f", "-", input=to_nft(transaction(scenario)))
    text = scratch_netns.run("nft", "list", "table", "ip", "kube-proxy")
    doc = scratch_netns.run("nft", "-j", "list", "ruleset")
    dumps = {
        "text": NftTracer(parse_nft(text, source=f"{scenario}.nft"), NODE),
        "json": NftTracer(parse_nft_json(doc, source=f"{scenario}.json"), NODE),
    }
    cases = [c for c in (*CASES, *NFT_ONLY) if c.scenario == scenario]
    assert cases
    for case in cases:
        ours = nft_trace(case)
        assert not ours.uncertain
        for form, tracer in dumps.items():
            assert _summary(_trace(tracer, case)) == _summary(ours), (form, case.id)


def test_k3s_dump_replayed_in_the_kernel_traces_the_same(scratch_netns: ScratchNamespace) -> None:
    scratch_netns.run("nft", "-f", "-", input=K3S.read_text())
    printed = scratch_netns.run("nft", "list", "table", "ip", "kube-proxy")
    doc = scratch_netns.run("nft", "-j", "list", "ruleset")
    original = NftTracer(parse_nft(K3S.read_text()), K3S_NODE)
    for tracer in (
        NftTracer(parse_nft(printed), K3S_NODE),
        NftTracer(parse_nft_json(doc), K3S_NODE),
    ):
        for packet, sent in PACKETS_K3S:
            want = original.sent(packet) if sent else original.arriving(packet)
            got = tracer.sent(packet) if sent else tracer.arriving(packet)
            assert _summary(got) == _summary(want), packet
            assert not got.uncertain
