"""One Service port's nftables objects, in the order ``syncProxyRules`` emits them.

For each Service port kube-proxy decides which chains it needs — ``service-`` (Cluster
policy), ``local-`` (Local policy), ``external-`` (entry for external traffic),
``firewall-`` (``loadBalancerSourceRanges``) and one ``endpoint-`` chain per endpoint — and
produces two kinds of output:

* *elements* of the shared sets and verdict maps (``cluster-ips``, ``service-ips``,
  ``service-nodeports``, ``no-endpoint-*``, ``firewall-ips``): ensured on every sync, but
  written only when they change (the proxier's element store decides);
* the Service's own chains, rules and affinity sets: written only when the Service or its
  endpoints changed (partial sync).

::

    >>> import ipaddress
    >>> from k8s_service_lab.proxy import EndpointInfo, ServicePortInfo, ServicePortName
    >>> from k8s_service_lab.proxy import categorize_endpoints
    >>> from k8s_service_lab.netfilter.nftables_text import rule_text
    >>> spn = ServicePortName("ns1", "svc1", "p80", "TCP")
    >>> info = ServicePortInfo(spn, ipaddress.ip_address("172.30.0.41"), 80, "TCP")
    >>> cat = categorize_endpoints((EndpointInfo("10.180.0.1", 80),), info, "node", {})
    >>> out = build_service_port(spn, info, cat, NftRenderContext.for_tests())
    >>> out.chains
    ('endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80', 'service-ULMVA6XW-ns1/svc1/tcp/p80')
    >>> print(rule_text(out.body[1].obj))  # doctest: +NORMALIZE_WHITESPACE
    numgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s_service_lab.backends.nftables.pieces import (
    MASQ,
    EndpointPieces,
    NftRenderContext,
    PortPieces,
)
from k8s_service_lab.backends.nftables.static import REJECT_CHAIN
from k8s_service_lab.netfilter.nftables import (
    DROP,
    AddrLookup,
    AddrMatch,
    AddrSet,
    Command,
    FibLocal,
    NftChain,
    NftElement,
    NftRule,
    NftSet,
    NumgenVmap,
    SetUpdate,
    Verdict,
    add,
    flush,
    goto,
)
from k8s_service_lab.proxy import (
    CategorizedEndpoints,
    EndpointInfo,
    ServicePortInfo,
    ServicePortName,
)

__all__ = [
    "ELEMENT_CONTAINERS",
    "EndpointPieces",
    "NftRenderContext",
    "PortPieces",
    "ServicePortOutput",
    "build_service_port",
]

#: Index of each element container in a :class:`ServicePortOutput` element pair.
ELEMENT_CONTAINERS = (
    "cluster-ips",
    "service-ips",
    "firewall-ips",
    "no-endpoint-services",
    "no-endpoint-nodeports",
    "service-nodeports",
)
_CIPS, _SVCIPS, _FWIPS, _NOEP_SVC, _NOEP_NP, _SVCNP = range(6)

_TO_REJECT = goto(REJECT_CHAIN)
_LOCAL_SRC = FibLocal("saddr")

Element = tuple[int, NftElement]


@dataclass(frozen=True, slots=True)
class ServicePortOutput:
    """What one Service port contributes to a sync, in emission order.

    ``head`` and ``fw_head`` create (and flush) chains, ``body`` fills them: all three are
    written only when the Service changed. The elements are ensured on every sync.
    ``chains`` and ``affinity_sets`` name what the port keeps alive.
    """

    head: tuple[Command, ...]
    elements_a: tuple[Element, ...]
    fw_head: tuple[Command, ...]
    elements_b: tuple[Element, ...]
    body: tuple[Command, ...]
    chains: tuple[str, ...]
    affinity_sets: tuple[str, ...]
    no_local_internal: bool = False
    no_local_external: bool = False


def _ensure(out: list[Command], chains: list[str], name: str) -> None:
    chain = NftChain(name)
    out += (add(chain), flush(chain))
    chains.append(name)


def build_service_port(
    spn: ServicePortName,
    info: ServicePortInfo,
    categorized: CategorizedEndpoints,
    ctx: NftRenderContext,
) -> ServicePortOutput:
    """Everything of one Service port, mirroring the loop body of ``syncProxyRules``."""
    proto = info.protocol.lower()
    port_pieces = ctx.port(spn, proto)
    names = port_pieces.names
    opts = ctx.opts
    cluster, local, reachable, has_endpoints = categorized
    affinity = info.session_affinity == "ClientIP"
    endpoint = port_pieces.endpoint
    pieces = {(ep.ip, ep.port): endpoint(ep) for ep in reachable}

    head: list[Command] = []
    chains: list[str] = []
    for e in pieces.values():
        head += e.head
        chains.append(e.chain)
    affinity_sets = tuple(e.affinity_set for e in pieces.values()) if affinity else ()

    uses_cluster_chain = bool(cluster) and info.uses_cluster_endpoints
    if uses_cluster_chain:
        _ensure(head, chains, names.cluster)
    uses_local_chain = bool(local) and info.uses_local_endpoints
    if uses_local_chain:
        _ensure(head, chains, names.local)

    internal_chain, has_internal = names.cluster, has_endpoints
    if info.internal_policy_local:
        internal_chain, has_internal = names.local, has_endpoints and bool(local)
    external_policy_chain, has_external = names.cluster, has_endpoints
    if info.external_policy_local:
        external_policy_chain, has_external = names.local, has_endpoints and bool(local)
    # Even without external endpoints: pods and the node still short-circuit to the
    # cluster chain from here.
    uses_ext_chain = has_endpoints and info.externally_accessible
    if uses_ext_chain:
        _ensure(head, chains, names.external)

    # The filter verdicts for traffic that has nowhere to go.
    internal_verdict: Verdict = DROP
    external_verdict: Verdict = DROP
    if not has_endpoints:
        internal_verdict = external_verdict = _TO_REJECT

    name, port = str(spn), str(info.port)
    to_external = goto(names.external)
    elements_a: list[Element] = []
    cip = str(info.cluster_ip)
    elements_a.append((_CIPS, NftElement("cluster-ips", (cip,))))
    if has_internal:
        elements_a.append(
            (_SVCIPS, NftElement("service-ips", (cip, proto, port), goto(internal_chain)))
        )
    else:
        elements_a.append(
            (
                _NOEP_SVC,
                NftElement("no-endpoint-services", (cip, proto, port), internal_verdict, name),
            )
        )
    for ip in info.external_ips:
        key = (str(ip), proto, port)
        if has_endpoints:
            elements_a.append((_SVCIPS, NftElement("service-ips", key, to_external)))
        if not has_external:
            elements_a.append(
                (_NOEP_SVC, NftElement("no-endpoint-services", key, external_verdict, name))
            )

    # Unlike iptables mode, the firewall applies even when there are no endpoints.
    uses_fw_chain = bool(info.load_balancer_vips) and bool(info.load_balancer_source_ranges)
    fw_head: list[Command] = []
    if uses_fw_chain:
        _ensure(fw_head, chains, names.firewall)
    elements_b: list[Element] = []
    for ip in info.load_balancer_vips:
        key = (str(ip), proto, port)
        if has_endpoints:
            elements_b.append((_SVCIPS, NftElement("service-ips", key, to_external)))
        if uses_fw_chain:
            elements_b.append((_FWIPS, NftElement("firewall-ips", key, goto(names.firewall))))
    if not has_external:
        for ip in info.load_balancer_vips:
            key = (str(ip), proto, port)
            elements_b.append(
                (_NOEP_SVC, NftElement("no-endpoint-services", key, external_verdict, name))
            )
    if info.node_port is not None:
        np_key = (proto, str(info.node_port))
        if has_endpoints:
            # NodePorts are never subject to loadBalancerSourceRanges.
            elements_b.append((_SVCNP, NftElement("service-nodeports", np_key, to_external)))
        if not has_external:
            elements_b.append(
                (_NOEP_NP, NftElement("no-endpoint-nodeports", np_key, external_verdict, name))
            )

    body: list[Command] = []
    rule = NftRule

    # Masquerade off-cluster traffic to the ClusterIP (v1.34: no port match any more,
    # upstream #131492: the map lookup already matched it).
    if has_internal:
        dst = AddrMatch("daddr", cip)
        if opts.masquerade_all:
            body.append(add(rule(internal_chain, (dst, MASQ))))
        elif ctx.detector.implemented:
            body.append(add(rule(internal_chain, (dst, *ctx.detector.if_not_local, MASQ))))

    if uses_ext_chain:
        ext = names.external
        if not info.external_policy_local:
            # Endpoints may be on other nodes: masquerade so replies come back here.
            body.append(add(rule(ext, (MASQ,))))
        else:
            to_cluster = goto(names.cluster)
            if ctx.detector.implemented:
                # Pod traffic to an external address acts as if it went out and came back
                # in: subject to neither traffic policy.
                body.append(
                    add(
                        rule(ext, (*ctx.detector.if_local, to_cluster), "short-circuit pod traffic")
                    )
                )
            body.append(add(rule(ext, (_LOCAL_SRC, MASQ), "masquerade local traffic")))
            body.append(add(rule(ext, (_LOCAL_SRC, to_cluster), "short-circuit local traffic")))
        if has_external:
            body.append(add(rule(ext, (goto(external_policy_chain),))))

    if uses_fw_chain:
        sources = [str(c) for c in info.load_balancer_source_ranges]
        node_ip = ctx.node_ip
        if node_ip is not None and any(node_ip in c for c in info.load_balancer_source_ranges):
            # A node reaching a VIP it holds locally uses the VIP as its source address.
            sources += [str(ip) for ip in info.load_balancer_vips]
        body.append(
            add(rule(names.firewall, (AddrSet("saddr", tuple(sources), negate=True), DROP)))
        )

    if affinity:
        timeout = info.sticky_max_age_seconds
        for set_name in affinity_sets:
            # "dynamic" too: some kernels add it themselves, and a later add without it
            # would then look like a change of flags (upstream comment).
            body.append(add(NftSet(set_name, opts.addr_type, ("dynamic", "timeout"), timeout)))

    if uses_cluster_chain:
        # Usually every reachable endpoint is a cluster endpoint (the very same tuple).
        chosen = list(pieces.values()) if cluster is reachable else _pick(pieces, cluster)
        _dispatch(body, names.cluster, chosen, affinity)
    if uses_local_chain:
        _dispatch(body, names.local, _pick(pieces, local), affinity)

    if affinity:
        for e in pieces.values():
            update = SetUpdate(e.affinity_set, "saddr")
            body += (add(e.hairpin), add(rule(e.chain, (update,))), add(e.dnat))
    else:
        for e in pieces.values():
            body += e.body

    return ServicePortOutput(
        tuple(head),
        tuple(elements_a),
        tuple(fw_head),
        tuple(elements_b),
        tuple(body),
        tuple(chains),
        affinity_sets,
        no_local_internal=has_endpoints and not has_internal,
        no_local_external=has_endpoints and not has_external,
    )


def _pick(
    pieces: dict[tuple[str, int], EndpointPieces], endpoints: tuple[EndpointInfo, ...]
) -> list[EndpointPieces]:
    return [pieces[ep.ip, ep.port] for ep in endpoints]


def _dispatch(
    body: list[Command], chain: str, endpoints: list[EndpointPieces], affinity: bool
) -> None:
    """``writeServiceToEndpointRules``: affinity lookups first, then a uniform random pick."""
    if affinity:
        for e in endpoints:
            lookup = AddrLookup("saddr", e.affinity_set)
            body.append(add(NftRule(chain, (lookup, e.goto))))
    body.append(add(NftRule(chain, (NumgenVmap(tuple(e.goto for e in endpoints)),))))
