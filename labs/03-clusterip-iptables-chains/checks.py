"""Checks for lab 03: a ClusterIP packet through kube-proxy's iptables chains."""

from __future__ import annotations

import re
from fractions import Fraction

from k8s_service_lab.labs import Context


def _svc_chain(ctx: Context) -> tuple[str, list[str]]:
    """The KUBE-SVC chain of default/web:http and its rules, from the rendered rules."""
    text = ctx.render("iptables", ctx.pod_node("client"))
    found = re.search(
        r'-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP"'
        r".* -j (KUBE-SVC-[A-Z0-9]{16})",
        text,
    )
    assert found, "KUBE-SERVICES has no rule for default/web:http"
    chain = found.group(1)
    return chain, [line for line in text.splitlines() if line.startswith(f"-A {chain} ")]


def service_chains_are_rendered(ctx: Context) -> str:
    chain, rules = _svc_chain(ctx)
    seps = [r.rsplit("-j ", 1)[1] for r in rules if "-j KUBE-SEP-" in r]
    assert len(seps) == 3, f"{chain} should jump to 3 KUBE-SEP chains, has {seps}"
    # kube-proxy writes the first split as 1/3 with ten decimals (iptables-save shows the
    # kernel's fixed-point value, 0.33333333349, instead).
    assert "--probability 0.3333333333" in rules[1], f"the first endpoint rule: {rules[1]}"
    return f"KUBE-SERVICES jumps to {chain}, which splits over {len(seps)} KUBE-SEP chains"


def trace_walks_svc_then_sep(ctx: Context) -> str:
    result = ctx.trace("pod/client", ctx.cluster_ip("web"), 80)
    assert result.verdict == "DNAT", f"verdict {result.verdict}"
    for branch in result.branches:
        chains = [h.chain for h in branch.hops if h.table == "nat"]
        order = [c.split("-")[1] for c in chains if c.startswith("KUBE-")]
        assert order[:3] == ["SERVICES", "SVC", "SEP"], f"path {chains}"
    return f"each of the {len(result.branches)} branches goes KUBE-SERVICES → KUBE-SVC → KUBE-SEP"


def every_endpoint_answers(ctx: Context) -> str:
    pods = set(ctx.pods("app=web"))
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80, count=10 * len(pods))
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert traffic.pods == pods, f"not all pods answered: {traffic.describe()}"
    client = ctx.pod_ip("client")
    assert traffic.sources == {client}, f"the pods saw {traffic.sources}, not the client's {client}"
    return f"every endpoint answered, seeing the client's own address: {traffic.describe()}"


def probabilities_follow_the_endpoint_count(ctx: Context) -> str:
    result = ctx.trace("pod/client", ctx.cluster_ip("web"), 80)
    probs = sorted({p for _, _, p in result.endpoints})
    assert len(result.endpoints) == 4, f"got {result.endpoints}"
    assert probs == [Fraction(1, 4)], f"got {result.endpoints}"
    _, rules = _svc_chain(ctx)
    written = [r.split("--probability ")[1].split()[0] for r in rules if "--probability" in r]
    assert written == ["0.2500000000", "0.3333333333", "0.5000000000"], written
    return "four endpoints: the rules say 1/4, then 1/3, then 1/2, then the rest — 1/4 each"
