"""Checks for lab 09: the same Service in kube-proxy's iptables and nftables modes.

The tracer and the kernel lab read iptables mode only for now, so traffic runs in iptables
mode; the nftables rules are compared as the text kube-proxy would hand to ``nft -f``.
"""

from __future__ import annotations

import re

from k8s_service_lab.labs import Context


def _endpoint_ips(ctx: Context) -> set[str]:
    return {e.address for e in ctx.endpoints("web") if e.ready}


def iptables_splits_with_probabilities(ctx: Context) -> str:
    text = ctx.render("iptables")
    lines = [line for line in text.splitlines() if line.startswith("-A KUBE-SVC-")]
    web = [line for line in lines if '"default/web:http -> ' in line]
    assert len(web) == 3, f"expected one KUBE-SVC rule per endpoint, found {len(web)}"
    assert sum("--probability" in line for line in web) == 2, "expected two random rules"
    return "iptables: a KUBE-SVC rule per endpoint, two with -m statistic, the last takes the rest"


def nftables_uses_a_map_and_numgen(ctx: Context) -> str:
    text = ctx.render("nftables")
    ip = ctx.cluster_ip("web")
    element = re.search(
        rf"add element ip kube-proxy service-ips {{ {re.escape(ip)} \. tcp \. 80 : goto (\S+) }}",
        text,
    )
    assert element, f"no service-ips map element for {ip} . tcp . 80"
    chain = element.group(1)
    n = len(_endpoint_ips(ctx))
    numgen = [
        line
        for line in text.splitlines()
        if line.startswith(f"add rule ip kube-proxy {chain} ") and "numgen random mod" in line
    ]
    assert numgen, f"{chain} has no numgen rule"
    assert f"numgen random mod {n} vmap" in numgen[0], f"no numgen over {n} endpoints"
    return f"nftables: service-ips sends {ip} . tcp . 80 to {chain}; numgen random mod {n} picks"


def nftables_trace_gives_each_pod_one_in_n(ctx: Context) -> str:
    # The tracer walks the nftables table itself: one numgen rule, N branches of exactly 1/N.
    from fractions import Fraction

    from k8s_service_lab.tracer import Packet

    client = ctx.cluster.get("Pod", "client")
    tracer = ctx.cluster.tracer(client.spec.node_name, "nftables")
    packet = Packet(client.status.pod_ip, ctx.cluster_ip("web"), "tcp", 40000, 80)
    result = tracer.arriving(packet)
    n = len(_endpoint_ips(ctx))
    assert result.verdict == "DNAT", f"nftables trace ends in {result.verdict}"
    shares = sorted(p for _, _, p in result.endpoints)
    assert shares == [Fraction(1, n)] * n, f"nftables shares {shares}, not {n} x 1/{n}"
    numgen = [h for b in result.branches for h in b.hops if "numgen random mod" in h.rule]
    assert numgen, "no numgen rule on the nftables path"
    return f"nftables trace: numgen random mod {n} gives each of {n} pods exactly 1/{n}"


def same_endpoints_in_both_modes(ctx: Context) -> str:
    ips = _endpoint_ips(ctx)
    ipt = set(re.findall(r"--to-destination (\S+):8080", ctx.render("iptables")))
    nft = set(re.findall(r"dnat to (\S+) : 8080|dnat to (\S+):8080", ctx.render("nftables")))
    nft_ips = {a or b for a, b in nft}
    assert ips <= ipt, f"iptables DNATs to {sorted(ipt)}, endpoints are {sorted(ips)}"
    assert ips <= nft_ips, f"nftables DNATs to {sorted(nft_ips)}, endpoints are {sorted(ips)}"
    return f"both modes DNAT to the same {len(ips)} endpoints: {', '.join(sorted(ips))}"


def traffic_reaches_every_pod(ctx: Context) -> str:
    pods = set(ctx.pods("app=web"))
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80)
    assert traffic.answered, traffic.describe()
    assert traffic.pods == pods, traffic.describe()
    return "in iptables mode (the mode this lab's kind.yaml runs) every pod answers"
