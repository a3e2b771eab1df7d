"""What every full sync writes before the Services: ``setupNFTables`` in ``proxier.go``.

The table, its base chains (hooked into the kernel, lowest priority first), the fixed
regular chains with the ``jump`` rules into them, the masquerading machinery, the sets and
verdict maps the Services fill, and the rules that consult them. v1.34 layout (upstream
#132456, also in 1.33.5): filtering on the *pre-DNAT* destination (LoadBalancer source
ranges) runs at priority ``dstnat-10`` (-110) in ``filter-prerouting-pre-dnat`` and
``filter-output-pre-dnat``; the endpoint and ClusterIP checks run at ``filter`` (0) in
``filter-input`` / ``-forward`` / ``-output``. Before v1.33.5 all filter chains ran at -110
and ``filter-output-post-dnat`` at -90::

    >>> from k8s_service_lab.backends.nftables.options import NftOptions
    >>> from k8s_service_lab.netfilter.nftables_text import to_nft
    >>> from k8s_service_lab.netfilter.nftables import NftTransaction
    >>> cmds = setup_commands(NftOptions(), ("172.18.0.3",), "10.96.0.0/16", first=False)
    >>> text = to_nft(NftTransaction("ip", "kube-proxy", cmds))
    >>> for line in text.splitlines():
    ...     if line.split()[4] == "services":
    ...         print(line)
    ... # doctest: +NORMALIZE_WHITESPACE
    add chain ip kube-proxy services
    flush chain ip kube-proxy services
    add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
    add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport
        vmap @service-nodeports
"""

from __future__ import annotations

from collections.abc import Sequence

from k8s_service_lab.backends.nftables.options import NftOptions
from k8s_service_lab.netfilter.nftables import (
    DROP,
    REJECT,
    RETURN,
    AddrLookup,
    AddrMatch,
    AddrSet,
    Command,
    CtState,
    Expr,
    FibLocal,
    Field,
    MarkCheck,
    MarkSet,
    Masquerade,
    NftChain,
    NftElement,
    NftMap,
    NftRule,
    NftSet,
    NftTable,
    VmapLookup,
    add,
    delete,
    flush,
    jump,
)

__all__ = [
    "BASE_CHAINS",
    "CLUSTER_IPS",
    "CONTAINERS",
    "FIREWALL_IPS",
    "MARK_MASQ",
    "NODEPORT_IPS",
    "NO_ENDPOINT_NODEPORTS",
    "NO_ENDPOINT_SERVICES",
    "REJECT_CHAIN",
    "SERVICE_IPS",
    "SERVICE_NODEPORTS",
    "TABLE",
    "setup_commands",
]

TABLE = "kube-proxy"
SERVICES = "services"
SERVICE_ENDPOINTS_CHECK = "service-endpoints-check"
NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check"
CLUSTER_IPS_CHECK = "cluster-ips-check"
FIREWALL_CHECK = "firewall-check"
REJECT_CHAIN = "reject-chain"
MARK_MASQ = "mark-for-masquerade"
MASQUERADING = "masquerading"

CLUSTER_IPS = "cluster-ips"
NODEPORT_IPS = "nodeport-ips"
SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
FIREWALL_IPS = "firewall-ips"

#: The element containers a full sync flushes, in ``setupNFTables``' reset order.
CONTAINERS = (
    CLUSTER_IPS,
    SERVICE_IPS,
    FIREWALL_IPS,
    NO_ENDPOINT_SERVICES,
    NO_ENDPOINT_NODEPORTS,
    SERVICE_NODEPORTS,
)

#: ``nftablesBaseChains``: name, type, hook, priority (dstnat = -100, srcnat = 100).
BASE_CHAINS = (
    NftChain("filter-prerouting-pre-dnat", "filter", "prerouting", -110),
    NftChain("filter-output-pre-dnat", "filter", "output", -110),
    NftChain("filter-forward", "filter", "forward", 0),
    NftChain("filter-input", "filter", "input", 0),
    NftChain("filter-output", "filter", "output", 0),
    NftChain("nat-prerouting", "nat", "prerouting", -100),
    NftChain("nat-output", "nat", "output", -100),
    NftChain("nat-postrouting", "nat", "postrouting", 100),
)

# ``nftablesJumpChains``: (destination, source, only new connections). The endpoint checks
# need ``reject``, which older kernels allow only in input/forward/output hooks; the firewall
# check must see the destination before DNAT rewrites it.
_JUMPS = (
    (NODEPORT_ENDPOINTS_CHECK, "filter-input", True),
    (SERVICE_ENDPOINTS_CHECK, "filter-input", True),
    (SERVICE_ENDPOINTS_CHECK, "filter-forward", True),
    (SERVICE_ENDPOINTS_CHECK, "filter-output", True),
    (FIREWALL_CHECK, "filter-prerouting-pre-dnat", True),
    (FIREWALL_CHECK, "filter-output-pre-dnat", True),
    (SERVICES, "nat-output", False),
    (SERVICES, "nat-prerouting", False),
    (MASQUERADING, "nat-postrouting", False),
    (CLUSTER_IPS_CHECK, "filter-forward", True),
    (CLUSTER_IPS_CHECK, "filter-output", True),
)

_NEW = CtState(("new",))
_DEST: tuple[Field, ...] = ("daddr", "l4proto", "dport")
_PORT: tuple[Field, ...] = ("l4proto", "dport")


def _ensure(name: str, done: set[str]) -> list[Command]:
    """``ensureChain``: add then flush a chain, once per transaction."""
    if name in done:
        return []
    done.add(name)
    chain = NftChain(name)
    return [add(chain), flush(chain)]


def setup_commands(
    opts: NftOptions,
    nodeport_ips: Sequence[str] | None,
    service_cidrs: str | None,
    *,
    first: bool,
) -> list[Command]:
    """The fixed part of a full sync.

    ``nodeport_ips`` ``None`` means NodePorts answer on every local address (the
    ``nodeport-ips`` set is deleted; ``fib daddr type local`` is used instead).
    ``service_cidrs`` (comma-separated, this family) adds the drop for unallocated ClusterIPs.
    ``first``: the proxier's first sync also adds and deletes every base chain, so that a
    chain left with an older priority is recreated rather than failing the transaction.
    """
    mark, fam, addr = opts.masquerade_mark, opts.nft_family, opts.addr_type
    out: list[Command] = [add(NftTable(fam, TABLE, "rules for kube-proxy"))]
    if first:
        for bc in BASE_CHAINS:
            out += [add(NftChain(bc.name)), delete(NftChain(bc.name))]
    for bc in BASE_CHAINS:
        out += [add(bc), flush(bc)]
    done: set[str] = set()
    for dest, source, new_only in _JUMPS:
        out += _ensure(dest, done)
        exprs = (_NEW, jump(dest)) if new_only else (jump(dest),)
        out.append(add(NftRule(source, exprs)))
    for name in (SERVICES, CLUSTER_IPS_CHECK, MASQUERADING, MARK_MASQ):
        out += _ensure(name, done)

    out.append(add(NftRule(MARK_MASQ, (MarkSet("or", mark),))))
    out.append(add(NftRule(MASQUERADING, (MarkCheck(mark, "0"), RETURN))))
    out.append(add(NftRule(MASQUERADING, (MarkSet("xor", mark),))))
    out.append(add(NftRule(MASQUERADING, (Masquerade(fully_random=True),))))

    out.append(add(NftSet(CLUSTER_IPS, addr, comment="Active ClusterIPs")))
    out.append(
        add(
            NftRule(
                CLUSTER_IPS_CHECK,
                (AddrLookup("daddr", CLUSTER_IPS), REJECT),
                "Reject traffic to invalid ports of ClusterIPs",
            )
        )
    )
    if service_cidrs:
        cidrs = AddrSet("daddr", (service_cidrs,), compact=True)
        out.append(
            add(NftRule(CLUSTER_IPS_CHECK, (cidrs, DROP), "Drop traffic to unallocated ClusterIPs"))
        )

    # add+delete rather than delete: a bare delete fails when the set is absent.
    nodeport_set = NftSet(NODEPORT_IPS, addr, comment="IPs that accept NodePort traffic")
    out.append(add(nodeport_set))
    if nodeport_ips is None:
        out.append(delete(NftSet(NODEPORT_IPS, addr)))
    else:
        out.append(flush(nodeport_set))
        out += [add(NftElement(NODEPORT_IPS, (ip,))) for ip in nodeport_ips]

    out.append(
        add(
            NftMap(
                NO_ENDPOINT_SERVICES,
                f"{addr} . inet_proto . inet_service : verdict",
                comment="vmap to drop or reject packets to services with no endpoints",
            )
        )
    )
    out.append(
        add(
            NftMap(
                NO_ENDPOINT_NODEPORTS,
                "inet_proto . inet_service : verdict",
                comment="vmap to drop or reject packets to service nodeports with no endpoints",
            )
        )
    )
    reject_chain = NftChain(
        REJECT_CHAIN, comment="helper for @no-endpoint-services / @no-endpoint-nodeports"
    )
    out += [add(reject_chain), flush(reject_chain), add(NftRule(REJECT_CHAIN, (REJECT,)))]
    out.append(add(NftRule(SERVICE_ENDPOINTS_CHECK, (VmapLookup(_DEST, NO_ENDPOINT_SERVICES),))))
    check = (*_nodeport_guard(opts, nodeport_ips), VmapLookup(_PORT, NO_ENDPOINT_NODEPORTS))
    out.append(add(NftRule(NODEPORT_ENDPOINTS_CHECK, check)))

    out.append(
        add(
            NftMap(
                FIREWALL_IPS,
                f"{addr} . inet_proto . inet_service : verdict",
                comment="destinations that are subject to LoadBalancerSourceRanges",
            )
        )
    )
    out += _ensure(FIREWALL_CHECK, done)
    out.append(add(NftRule(FIREWALL_CHECK, (VmapLookup(_DEST, FIREWALL_IPS),))))

    out.append(
        add(
            NftMap(
                SERVICE_IPS,
                f"{addr} . inet_proto . inet_service : verdict",
                comment="ClusterIP, ExternalIP and LoadBalancer IP traffic",
            )
        )
    )
    out.append(
        add(
            NftMap(
                SERVICE_NODEPORTS, "inet_proto . inet_service : verdict", comment="NodePort traffic"
            )
        )
    )
    out.append(add(NftRule(SERVICES, (VmapLookup(_DEST, SERVICE_IPS),))))
    guard = _nodeport_guard(opts, nodeport_ips)
    if nodeport_ips is None:
        guard = (FibLocal("daddr"), *guard)
    out.append(add(NftRule(SERVICES, (*guard, VmapLookup(_PORT, SERVICE_NODEPORTS)))))
    return out


def _nodeport_guard(opts: NftOptions, nodeport_ips: Sequence[str] | None) -> tuple[Expr, ...]:
    # Match-all NodePorts still exclude loopback: nftables mode has no localhost NodePorts.
    if nodeport_ips is None:
        return (AddrMatch("daddr", opts.localhost, negate=True),)
    return (AddrLookup("daddr", NODEPORT_IPS),)
