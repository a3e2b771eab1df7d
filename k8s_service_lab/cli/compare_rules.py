"""Which rules are one Service's, in each kube-proxy mode (for ``ksl render --compare``).

iptables rules name their Service in a comment (``ns/svc:port ...``), and the per-Service
chains they jump to hold the rest; nftables chains carry ``ns/svc`` in their names, and the
map and set elements that point at them (or hold the ClusterIP) are the Service's too. Each
line comes back with its purpose (dispatch, masquerade, load-balancing, DNAT,
firewall/no-endpoints)::

    >>> mentions("default/web:http cluster IP", "default", "web")
    True
    >>> mentions("default/webber", "default", "web")
    False
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from k8s_service_lab.backends.iptables.names import is_service_chain_name as ipt_service_chain
from k8s_service_lab.backends.nftables.names import service_of_chain
from k8s_service_lab.backends.nftables.static import MARK_MASQ
from k8s_service_lab.netfilter import nftables as nf
from k8s_service_lab.netfilter import rule_text
from k8s_service_lab.netfilter import xtables_matches as xt
from k8s_service_lab.netfilter.nftables_text import command_text

__all__ = ["iptables_lines", "mentions", "nft_lines"]


def mentions(comment: str | None, namespace: str, name: str) -> bool:
    """kube-proxy's comments start with the ServicePortName: ``ns/svc:port ...`` or ``ns/svc``."""
    prefix = f"{namespace}/{name}"
    return comment is not None and (
        comment == prefix or comment.startswith((f"{prefix}:", f"{prefix} "))
    )


def iptables_lines(
    payload: Any, namespace: str, name: str, _ips: Sequence[str]
) -> list[tuple[str, str]]:
    """Rules whose comment names the Service, and every rule of the per-Service chains they
    lead to (endpoint rules lose their comments in large-cluster mode)."""
    out: list[tuple[str, str]] = []
    for table in payload.tables:
        by_chain = table.rules_by_chain()
        rules = [r for chain_rules in by_chain.values() for r in chain_rules]
        ours: set[str] = set()
        picked: set[int] = set()
        comments = ((r, [m.text for m in r.matches if isinstance(m, xt.Comment)]) for r in rules)
        todo = [r for r, texts in comments if any(mentions(t, namespace, name) for t in texts)]
        while todo:
            rule = todo.pop()
            picked.add(id(rule))
            target = rule.target
            if (
                isinstance(target, xt.Jump | xt.Goto)
                and ipt_service_chain(target.chain)
                and target.chain not in ours
            ):
                ours.add(target.chain)
                todo += by_chain.get(target.chain, [])
        for rule in (r for r in rules if id(r) in picked):
            t = rule.target
            jumps_to = t.chain if isinstance(t, xt.Jump | xt.Goto) else ""
            if isinstance(t, xt.DNAT):
                purpose = "DNAT"
            elif jumps_to == "KUBE-MARK-MASQ":
                purpose = "masquerade"
            elif isinstance(t, xt.Reject | xt.Drop) or rule.chain.startswith("KUBE-FW-"):
                purpose = "firewall/no-endpoints"
            elif jumps_to.startswith("KUBE-SEP-") or any(
                isinstance(m, xt.Statistic | xt.Recent) for m in rule.matches
            ):
                purpose = "load-balancing"
            else:
                purpose = "dispatch"
            out.append((purpose, f"{table.name}: {rule_text(rule)}"))
    return out


_ELEMENT_PURPOSE = {
    "cluster-ips": "dispatch",
    "service-ips": "dispatch",
    "service-nodeports": "dispatch",
    "no-endpoint-services": "firewall/no-endpoints",
    "no-endpoint-nodeports": "firewall/no-endpoints",
    "firewall-ips": "firewall/no-endpoints",
}


def nft_lines(
    payload: Any, namespace: str, name: str, cluster_ips: Sequence[str]
) -> list[tuple[str, str]]:
    """The Service's chains' rules (their names carry ``ns/svc``), affinity sets, and the
    elements that point at its chains, name it in a comment, or hold its ClusterIP."""

    me = (namespace, name)
    out: list[tuple[str, str]] = []
    for verb, obj in payload.commands:
        if verb != "add":
            continue
        if isinstance(obj, nf.NftRule) and service_of_chain(obj.chain) == me:
            kinds = {type(e) for e in obj.exprs}
            verdicts = [e for e in obj.exprs if isinstance(e, nf.Verdict)]
            if nf.Dnat in kinds:
                purpose = "DNAT"
            elif any(v.chain == MARK_MASQ for v in verdicts):
                purpose = "masquerade"
            elif kinds & {nf.NumgenVmap, nf.AddrLookup, nf.SetUpdate}:
                purpose = "load-balancing"
            elif any(v.kind in ("drop", "reject") for v in verdicts):
                purpose = "firewall/no-endpoints"
            else:
                purpose = "dispatch"
        elif isinstance(obj, nf.NftSet) and service_of_chain(obj.name) == me:
            purpose = "load-balancing"
        elif isinstance(obj, nf.NftElement) and (
            (
                obj.value is not None
                and obj.value.chain is not None
                and service_of_chain(obj.value.chain) == me
            )
            or mentions(obj.comment, namespace, name)
            or (obj.container == "cluster-ips" and obj.key[0] in cluster_ips)
        ):
            purpose = _ELEMENT_PURPOSE.get(obj.container, "dispatch")
        else:
            continue
        # ``add rule ip kube-proxy CHAIN ...`` without the words every line shares.
        text = command_text(payload.family, payload.table, verb, obj).removeprefix("add ")
        out.append((purpose, text.replace(f" {payload.family} {payload.table} ", " ", 1)))
    return out


# --- the checks ----------------------------------------------------------------------------
