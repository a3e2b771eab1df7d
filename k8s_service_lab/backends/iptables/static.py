"""The rules kube-proxy writes whatever the Services: jumps from built-in chains, and the
top-level chains' fixed rules.

Two kinds (``proxier.go``): the *jump rules* from ``PREROUTING``, ``INPUT``, ``FORWARD``,
``OUTPUT`` and ``POSTROUTING`` into kube-proxy's chains are installed one by one with
``iptables -I`` (``EnsureRule(Prepend)``) on full syncs only — never through
``iptables-restore``, which would flush the host's own rules in those chains. The *static
rules* (masquerading, the mark, forwarding, the NodePort tail rule) are in every payload::

    >>> opts = ProxierOptions(masquerade_mark="0x4000")
    >>> [r.chain for r in nat_static_rules(opts)]
    ['KUBE-POSTROUTING', 'KUBE-POSTROUTING', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']
    >>> [st.rule.chain for st in jump_rules(opts).table("nat").statements]
    ['OUTPUT', 'PREROUTING', 'POSTROUTING']
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from k8s_service_lab.backends.iptables.names import (
    CANARY,
    EXTERNAL_SERVICES,
    FIREWALL,
    FORWARD,
    KUBELET_FIREWALL,
    MARK_MASQ,
    NODE_PORTS,
    POSTROUTING,
    SERVICES,
)
from k8s_service_lab.backends.iptables.options import ProxierOptions, family_cidrs, zero_cidr
from k8s_service_lab.config import IP
from k8s_service_lab.netfilter import (
    Accept,
    Addr,
    AddrType,
    Chain,
    Comment,
    ConnTrack,
    Drop,
    Insert,
    Jump,
    Mark,
    MarkTarget,
    Masquerade,
    Match,
    NfAcct,
    Return,
    Rule,
    Ruleset,
    Table,
)

__all__ = [
    "CT_INVALID_COUNTER",
    "LOCALHOST_NODEPORT_COUNTER",
    "filter_head_rules",
    "filter_tail_rules",
    "filter_top_chains",
    "jump_rules",
    "nat_static_rules",
    "nat_top_chains",
    "node_port_ips",
    "nodeport_tail_rules",
]

#: nfacct objects kube-proxy creates (``pkg/proxy/metrics``) and counts packets in.
LOCALHOST_NODEPORT_COUNTER = "localhost_nps_accepted_pkts"
CT_INVALID_COUNTER = "ct_state_invalid_dropped_pkts"

_NEW = ConnTrack(ctstate=("NEW",))
_EXTERNAL = "kubernetes externally-visible service portals"

# (table, target chain, built-in chain, comment, extra matches): upstream's
# iptablesJumpChains then iptablesKubeletJumpChains, in their order.
_JUMPS: tuple[tuple[str, str, str, str | None, tuple[Match, ...]], ...] = (
    ("filter", EXTERNAL_SERVICES, "INPUT", _EXTERNAL, (_NEW,)),
    ("filter", EXTERNAL_SERVICES, "FORWARD", _EXTERNAL, (_NEW,)),
    ("filter", NODE_PORTS, "INPUT", "kubernetes health check service ports", ()),
    ("filter", SERVICES, "FORWARD", "kubernetes service portals", (_NEW,)),
    ("filter", SERVICES, "OUTPUT", "kubernetes service portals", (_NEW,)),
    ("filter", FORWARD, "FORWARD", "kubernetes forwarding rules", ()),
    ("filter", FIREWALL, "INPUT", "kubernetes load balancer firewall", (_NEW,)),
    ("filter", FIREWALL, "OUTPUT", "kubernetes load balancer firewall", (_NEW,)),
    ("filter", FIREWALL, "FORWARD", "kubernetes load balancer firewall", (_NEW,)),
    ("nat", SERVICES, "OUTPUT", "kubernetes service portals", ()),
    ("nat", SERVICES, "PREROUTING", "kubernetes service portals", ()),
    ("nat", POSTROUTING, "POSTROUTING", "kubernetes postrouting rules", ()),
    ("filter", KUBELET_FIREWALL, "INPUT", None, ()),
    ("filter", KUBELET_FIREWALL, "OUTPUT", None, ()),
)  # fmt: skip


def jump_rules(opts: ProxierOptions) -> Ruleset:
    """What a full sync does before its restore: ensure chains, prepend the jumps.

    Each jump is an :class:`~k8s_service_lab.netfilter.Insert` at position 1, in upstream's
    order, so on a fresh host a built-in chain lists them in *reverse* (INPUT:
    KUBE-FIREWALL, KUBE-PROXY-FIREWALL, KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES). The canary
    chain the iptables monitor creates in mangle, nat and filter is declared too.
    """
    chains: dict[str, list[str]] = {"mangle": [CANARY], "filter": [], "nat": []}
    inserts: dict[str, list[Insert]] = {"mangle": [], "filter": [], "nat": []}
    for table, target, builtin, comment, extra in _JUMPS:
        if target not in chains[table]:
            chains[table].append(target)
        matches = extra if comment is None else (*extra, Comment(comment))
        inserts[table].append(Insert(Rule(builtin, matches, Jump(target)), 1))
    chains["filter"].append(CANARY)
    chains["nat"].append(CANARY)
    tables = tuple(
        Table(name, tuple(Chain(c) for c in chains[name]), tuple(inserts[name]))
        for name in ("mangle", "filter", "nat")
    )
    return Ruleset(opts.family, tables)


def filter_top_chains(opts: ProxierOptions) -> tuple[Chain, ...]:
    """The filter chains every payload declares (so flushes and rewrites), in upstream order."""
    names = [SERVICES, EXTERNAL_SERVICES, FORWARD, NODE_PORTS, FIREWALL]
    if opts.localhost_nodeports_v4:
        names.append(KUBELET_FIREWALL)
    return tuple(Chain(n) for n in names)


def nat_top_chains() -> tuple[Chain, ...]:
    return (Chain(SERVICES), Chain(NODE_PORTS), Chain(POSTROUTING), Chain(MARK_MASQ))


def nat_static_rules(opts: ProxierOptions) -> tuple[Rule, ...]:
    """KUBE-POSTROUTING masquerades marked packets (clearing the mark first, so a packet
    that loops through the stack is not masqueraded twice); KUBE-MARK-MASQ sets the mark."""
    mark = opts.masquerade_mark
    return (
        Rule(POSTROUTING, (Mark(mark, mark, invert=True),), Return()),
        Rule(POSTROUTING, (), MarkTarget("xor-mark", mark)),
        Rule(
            POSTROUTING,
            (Comment("kubernetes service traffic requiring SNAT"),),
            Masquerade(random_fully=opts.random_fully),
        ),
        Rule(MARK_MASQ, (), MarkTarget("or-mark", mark)),
    )


def filter_head_rules(opts: ProxierOptions) -> tuple[Rule, ...]:
    """kubelet's KUBE-FIREWALL rule, copied because ``route_localnet`` opens 127/8 to the
    network (issue 90259): drop packets *to* localhost not *from* localhost unless DNATed."""
    if not opts.localhost_nodeports_v4:
        return ()
    return (
        Rule(
            KUBELET_FIREWALL,
            (
                Comment("block incoming localnet connections"),
                Addr("d", "127.0.0.0/8"),
                Addr("s", "127.0.0.0/8", invert=True),
                ConnTrack(ctstate=("RELATED", "ESTABLISHED", "DNAT"), ctstate_invert=True),
            ),
            Drop(),
        ),
    )


def filter_tail_rules(opts: ProxierOptions) -> tuple[Rule, ...]:
    """KUBE-FORWARD: drop INVALID (unless tcp_be_liberal), accept marked and established."""
    rules: list[Rule] = []
    if not opts.conntrack_tcp_liberal:
        matches: tuple[Match, ...] = (ConnTrack(ctstate=("INVALID",)),)
        if opts.nfacct:
            matches = (*matches, NfAcct(CT_INVALID_COUNTER))
        rules.append(Rule(FORWARD, matches, Drop()))
    mark = opts.masquerade_mark
    rules.append(
        Rule(FORWARD, (Comment("kubernetes forwarding rules"), Mark(mark, mark)), Accept())
    )
    rules.append(
        Rule(
            FORWARD,
            (
                Comment("kubernetes forwarding conntrack rule"),
                ConnTrack(ctstate=("RELATED", "ESTABLISHED")),
            ),
            Accept(),
        )
    )
    return tuple(rules)


_TAIL_COMMENT = Comment(
    "kubernetes service nodeports; NOTE: this must be the last rule in this chain"
)


def node_port_ips(opts: ProxierOptions, node_ips: Sequence[IP]) -> list[IP] | None:
    """``nodePortAddresses.GetNodeIPs``: ``None`` when every local address matches.

    The node's addresses are its InternalIPs of this family plus loopback; ``primary``
    stands for the node's own IPs (kube-proxy's default in newer configs).
    """
    given = opts.node_port_addresses
    if not given:
        return None
    cidrs = family_cidrs([c for c in given if c != "primary"], opts.family)
    if "primary" in given:
        cidrs += [ipaddress.ip_network(ip) for ip in node_ips if ip.version == opts.family]
    if not cidrs or any(zero_cidr(str(c)) for c in cidrs):
        return None
    loopback = ipaddress.ip_address("127.0.0.1" if opts.family == 4 else "::1")
    return [ip for ip in (loopback, *node_ips) if any(ip in c for c in cidrs)]


def nodeport_tail_rules(opts: ProxierOptions, node_ips: Sequence[IP]) -> tuple[Rule, ...]:
    """The last KUBE-SERVICES rule(s): local destinations go on to KUBE-NODEPORTS."""
    selected = node_port_ips(opts, node_ips)
    if selected is None:
        matches: list[Match] = [AddrType(dst_type="LOCAL")]
        # Localhost NodePorts never work on IPv6, and on IPv4 only with route_localnet.
        if opts.family == 6:
            matches.append(Addr("d", "::1/128", invert=True))
        elif not opts.localhost_nodeports:
            matches.append(Addr("d", "127.0.0.0/8", invert=True))
        return (Rule(SERVICES, (_TAIL_COMMENT, *matches), Jump(NODE_PORTS)),)
    rules = []
    for ip in selected:
        if ip.is_loopback and not opts.localhost_nodeports_v4:
            continue  # upstream logs an error and skips it
        rules.append(Rule(SERVICES, (_TAIL_COMMENT, Addr("d", str(ip))), Jump(NODE_PORTS)))
    return tuple(rules)
