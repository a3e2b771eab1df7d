"""``ksl render``: what kube-proxy would load on a node, as text you can diff with a real one.

By default: the jump rules kube-proxy inserts into the built-in chains (``-I`` lines, which it
installs before its payload), then the ``iptables-restore`` payload of a full sync. Both load
into a fresh network namespace with ``iptables-restore --noflush``. ``--as-save`` prints the
resulting tables the way ``iptables-save`` shows them on a real node; ``--explain`` lists every
chain with what it is for. ``--compare`` shows each Service in iptables and nftables mode side
by side (:mod:`k8s_service_lab.cli.compare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from k8s_service_lab.netfilter import Ruleset

#: The chains every sync writes, and what they do (for ``--explain``).
STATIC_CHAINS = {
    "KUBE-SERVICES": "entry point: one rule per Service IP:port, sending it to its KUBE-SVC chain",
    "KUBE-NODEPORTS": "entry point for node ports, reached from the end of KUBE-SERVICES",
    "KUBE-POSTROUTING": "masquerades (SNATs) packets that KUBE-MARK-MASQ marked",
    "KUBE-MARK-MASQ": "marks a packet (0x4000) for masquerading on its way out",
    "KUBE-FORWARD": "accepts forwarded Service traffic; drops conntrack-INVALID packets",
    "KUBE-PROXY-FIREWALL": "drops load-balancer traffic from outside loadBalancerSourceRanges",
    "KUBE-EXTERNAL-SERVICES": "rejects external traffic to Services that have no endpoints",
    "KUBE-FIREWALL": "drops martian packets to 127.0.0.0/8 from outside (kubelet's rule)",
    "KUBE-PROXY-CANARY": "empty; kube-proxy watches it to notice that the tables were flushed",
    "KUBE-KUBELET-CANARY": "empty; kubelet's canary, like kube-proxy's",
}
PREFIXES = {
    "KUBE-SVC-": "a Service port's cluster-wide endpoints: picks one at random",
    "KUBE-SVL-": "a Service port's node-local endpoints (traffic policy Local)",
    "KUBE-EXT-": "external traffic (node ports, LB IPs, external IPs) for a Service port",
    "KUBE-FW-": "a load-balancer IP with loadBalancerSourceRanges",
    "KUBE-SEP-": "one endpoint: DNATs to the pod's IP:port",
}


def run_render(
    files: Sequence[Path],
    config_path: Path | None,
    mode: str | None,
    node: str | None,
    family: int,
    as_save: bool,
    explain: bool,
    seed: int,
    *,
    compare: bool = False,
    service: str | None = None,
    output: str = "text",
) -> int:
    if compare or service is not None or output != "text":
        if not compare:
            flag = "--service" if service is not None else "-o"
            typer.echo(f"error: {flag} goes with --compare", err=True)
            return 2
        if mode is not None or as_save or explain:
            flag = "--mode" if mode is not None else "--as-save" if as_save else "--explain"
            typer.echo(f"error: --compare shows both modes; leave out {flag}", err=True)
            return 2
        from k8s_service_lab.cli.compare import run_compare

        return run_compare(files, config_path, node, family, service, output, seed)
    from k8s_service_lab.cli.common import build_cluster
    from k8s_service_lab.netfilter import (
        KernelTables,
        NftTransaction,
        Ruleset,
        to_nft,
        to_restore,
        to_save,
    )

    cluster, ok = build_cluster(files, config_path, seed)
    jumps = cluster.jump_rules(mode, node, family)
    payload = cluster.render(mode, node, family)
    if isinstance(payload, NftTransaction):
        # nftables mode: one transaction for `nft -f`, nothing outside kube-proxy's table.
        if as_save or explain:
            flag = "--as-save" if as_save else "--explain"
            typer.echo(f"error: {flag} reads iptables rules; for nftables see --compare", err=True)
            return 2
        typer.echo(to_nft(payload), nl=False)
        return 0 if ok else 1
    assert isinstance(jumps, Ruleset)
    if explain:
        typer.echo(_explain(payload))
    elif as_save:
        kernel = KernelTables(family)
        # On a kind node kubelet starts first and installs its KUBE-FIREWALL jumps; kube-proxy
        # then prepends its own above them (EnsureRule leaves existing rules in place).
        kernel.ensure(_only_jumps_to(jumps, "KUBE-FIREWALL"))
        kernel.ensure(jumps)
        kernel.restore(payload)
        typer.echo(to_save(kernel.ruleset()), nl=False)
    else:
        typer.echo(to_restore(jumps), nl=False)
        typer.echo(to_restore(payload), nl=False)
    return 0 if ok else 1


def _only_jumps_to(rules: Ruleset, chain: str) -> Ruleset:
    from k8s_service_lab.netfilter import Insert, Jump, Ruleset, Table

    tables = []
    for table in rules.tables:
        kept = tuple(
            st
            for st in table.statements
            if isinstance(st, Insert)
            and isinstance(st.rule.target, Jump)
            and st.rule.target.chain == chain
        )
        declared = tuple(c for c in table.chains if c.name == chain)
        tables.append(Table(table.name, declared, kept))
    return Ruleset(rules.family, tuple(tables))


def _explain(payload: object) -> str:
    from k8s_service_lab.netfilter import Comment, Ruleset

    assert isinstance(payload, Ruleset)
    lines = []
    for table in payload.tables:
        lines.append(f"*{table.name}")
        by_chain = table.rules_by_chain()
        for chain in table.chains:
            name = chain.name
            meaning = STATIC_CHAINS.get(name)
            if meaning is None:
                prefix = next((p for p in PREFIXES if name.startswith(p)), None)
                meaning = PREFIXES[prefix] if prefix else "a chain of its own"
                comments = [
                    m.text
                    for rule in by_chain.get(name, ())
                    for m in rule.matches
                    if isinstance(m, Comment)
                ]
                if comments:
                    meaning += f" [{comments[0].split(' ')[0]}]"
            rules = len(by_chain.get(name, ()))
            lines.append(f"  {name:<28} {rules:>3} rule(s)  {meaning}")
    return "\n".join(lines)
