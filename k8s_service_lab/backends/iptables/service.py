"""One Service port's iptables rules, in the order kube-proxy's ``syncProxyRules`` emits them.

For each Service port the proxier decides which chains it needs (``KUBE-SVC-``, ``KUBE-SVL-``,
``KUBE-EXT-``, ``KUBE-FW-``, one ``KUBE-SEP-`` per endpoint) and writes three groups of rules:

* *top-level* rules in ``KUBE-SERVICES`` / ``KUBE-NODEPORTS`` (nat) that catch the Service's
  addresses — rewritten on every sync;
* *filter* rules that REJECT (no endpoints anywhere) or DROP (no local endpoints) — also on
  every sync;
* the Service's own chains — written only when the Service changed (partial sync, KEP-3453).

::

    >>> import ipaddress
    >>> from k8s_service_lab.proxy import EndpointInfo, ServicePortInfo, ServicePortName
    >>> from k8s_service_lab.proxy import categorize_endpoints
    >>> spn = ServicePortName("ns1", "svc1", "p80", "TCP")
    >>> info = ServicePortInfo(spn, ipaddress.ip_address("172.30.0.41"), 80, "TCP")
    >>> cat = categorize_endpoints((EndpointInfo("10.180.0.1", 80),), info, "node", {})
    >>> out = build_service_port(spn, info, cat, RenderContext.for_tests())
    >>> [c.name for c in out.chains]
    ['KUBE-SVC-XPGD46QRK7WJZT7O', 'KUBE-SEP-SXIVWICOYRO3J4NJ']
    >>> out.nat_top[0].target
    Jump(chain='KUBE-SVC-XPGD46QRK7WJZT7O')
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from k8s_service_lab.backends.iptables.names import (
    EXTERNAL_SERVICES,
    FIREWALL,
    MARK_MASQ,
    NODE_PORTS,
    SERVICES,
    ServicePortChains,
    endpoint_chain_name,
    service_port_chains,
)
from k8s_service_lab.backends.iptables.options import LocalDetector, ProxierOptions
from k8s_service_lab.backends.iptables.pieces import (
    EndpointPieces,
    probability,
    statistic,
    statistic_only,
)
from k8s_service_lab.backends.iptables.static import LOCALHOST_NODEPORT_COUNTER
from k8s_service_lab.config import IP
from k8s_service_lab.netfilter import (
    Accept,
    Addr,
    AddrType,
    Chain,
    Comment,
    Drop,
    Jump,
    Match,
    NfAcct,
    Protocol,
    Recent,
    Reject,
    Rule,
    Target,
    TcpUdp,
)
from k8s_service_lab.proxy import (
    CategorizedEndpoints,
    EndpointInfo,
    ServicePortInfo,
    ServicePortName,
)

__all__ = ["RenderContext", "ServicePortRules", "build_service_port", "probability"]

_MASQ = Jump(MARK_MASQ)
_LOCAL_SRC = AddrType(src_type="LOCAL")
_LOCAL_DST = AddrType(dst_type="LOCAL")
_LOCALHOST = Addr("d", "127.0.0.0/8")
_NPS_COUNTER = NfAcct(LOCALHOST_NODEPORT_COUNTER)
_ACCEPT, _DROP, _REJECT = Accept(), Drop(), Reject()
_PROTOCOLS = {p: Protocol(p, module=True) for p in ("tcp", "udp", "sctp")}


@dataclass(slots=True)
class RenderContext:
    """Per-proxier inputs that are the same for every Service port, plus name caches.

    ``large_cluster`` drops the per-endpoint comments (more than 1000 endpoints in all).
    """

    opts: ProxierOptions
    detector: LocalDetector
    #: ``proxier.nodeIP``: the node's primary IP of this family (hairpin via LB VIP).
    node_ip: IP | None
    large_cluster: bool = False
    _chains: dict[tuple[str, str], ServicePortChains] = field(default_factory=dict)
    _seps: dict[tuple[str, str, str], str] = field(default_factory=dict)
    _endpoints: dict[tuple[str, str, str, int], EndpointPieces] = field(default_factory=dict)

    @classmethod
    def for_tests(cls) -> RenderContext:
        """Upstream's fake proxier: mark 0x4000, pods in 10.0.0.0/8, node 192.168.0.2."""
        from k8s_service_lab.backends.iptables.options import local_detector

        opts = ProxierOptions(masquerade_mark="0x4000", random_fully=False)
        detector = local_detector("ClusterCIDR", ipaddress.ip_network("10.0.0.0/8"), (), None)
        return cls(opts, detector, ipaddress.ip_address("192.168.0.2"))

    def chains(self, name: str, protocol: str) -> ServicePortChains:
        key = (name, protocol)
        found = self._chains.get(key)
        if found is None:
            found = self._chains[key] = service_port_chains(name, protocol)
        return found

    def endpoint(self, name: str, protocol: str, ep: EndpointInfo) -> EndpointPieces:
        key = (name, protocol, ep.ip, ep.port)
        found = self._endpoints.get(key)
        if found is None:
            found = self._endpoints[key] = EndpointPieces(name, protocol, ep.ip, ep.port)
        return found

    def trim(self, ports: int, endpoints: int) -> None:
        """Forget cached names and pieces once they far outnumber what the cluster uses.

        Called before a full pass with the live counts, so Services and endpoints that come
        and go do not grow the caches for ever; what is still live is rebuilt on demand.
        """
        if len(self._chains) > 2 * ports + 1024:
            self._chains.clear()
        if len(self._endpoints) > 2 * endpoints + 1024:
            self._endpoints.clear()
        if len(self._seps) > 2 * endpoints + 1024:
            self._seps.clear()

    def sep(self, name: str, protocol: str, endpoint: str) -> str:
        key = (name, protocol, endpoint)
        found = self._seps.get(key)
        if found is None:
            found = self._seps[key] = endpoint_chain_name(name, protocol, endpoint)
        return found


@dataclass(frozen=True, slots=True)
class ServicePortRules:
    """What one Service port contributes to a sync.

    ``filter`` and ``nat_top`` are rewritten on every sync; ``chains`` (declarations) and
    ``rules`` only when the Service changed. ``active`` names every chain of the port, so a
    skipped Service's chains are not deleted as stale.
    """

    filter: tuple[Rule, ...]
    nat_top: tuple[Rule, ...]
    chains: tuple[Chain, ...]
    rules: tuple[Rule, ...]
    no_local_internal: bool = False
    no_local_external: bool = False

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.chains)


def build_service_port(
    spn: ServicePortName,
    info: ServicePortInfo,
    categorized: CategorizedEndpoints,
    ctx: RenderContext,
) -> ServicePortRules:
    """Every rule of one Service port, mirroring the loop body of ``syncProxyRules``."""
    name = str(spn)
    proto = info.protocol.lower()
    names = ctx.chains(name, proto)
    cluster, local, reachable, has_endpoints = categorized
    uses_cluster_chain = bool(cluster) and info.uses_cluster_endpoints
    uses_local_chain = bool(local) and info.uses_local_endpoints

    internal_chain, has_internal = names.svc, has_endpoints
    if info.internal_policy_local:
        internal_chain, has_internal = names.svl, has_endpoints and bool(local)
    external_policy_chain, has_external = names.svc, has_endpoints
    if info.external_policy_local:
        external_policy_chain, has_external = names.svl, has_endpoints and bool(local)
    # Built even without external endpoints: the short-circuit rules for pods and the node
    # must stay (reference §7 item 4).
    uses_ext_chain = has_endpoints and info.externally_accessible
    uses_fw_chain = (
        has_endpoints and bool(info.load_balancer_vips) and bool(info.load_balancer_source_ranges)
    )
    lb_chain = names.fw if uses_fw_chain else names.ext

    internal_verdict: Target = _DROP
    external_verdict: Target = _DROP
    if not has_endpoints:
        internal_verdict = external_verdict = _REJECT
        verdict_comment = Comment(f"{name} has no endpoints")
    else:
        verdict_comment = Comment(f"{name} has no local endpoints")

    protocol = _PROTOCOLS.get(proto) or Protocol(proto, module=True)
    port = TcpUdp(proto, dport=info.port, module=False)
    cluster_ip = Addr("d", str(info.cluster_ip))
    filt: list[Rule] = []
    top: list[Rule] = []

    # 1. ClusterIP.
    cip_comment = Comment(f"{name} cluster IP")
    if has_internal:
        top.append(Rule(SERVICES, (cip_comment, protocol, cluster_ip, port), Jump(internal_chain)))
    else:
        filt.append(Rule(SERVICES, (verdict_comment, protocol, cluster_ip, port), internal_verdict))

    # 2. externalIPs.
    ext_comment = Comment(f"{name} external IP")
    for ip in info.external_ips:
        dst = Addr("d", str(ip))
        if has_endpoints:
            top.append(Rule(SERVICES, (ext_comment, protocol, dst, port), Jump(names.ext)))
        if not has_external:
            filt.append(
                Rule(EXTERNAL_SERVICES, (verdict_comment, protocol, dst, port), external_verdict)
            )

    # 3. LoadBalancer VIPs (ipMode Proxy ones never reach the model).
    lb_comment = Comment(f"{name} loadbalancer IP")
    for ip in info.load_balancer_vips:
        dst = Addr("d", str(ip))
        if has_endpoints:
            top.append(Rule(SERVICES, (lb_comment, protocol, dst, port), Jump(lb_chain)))
        if uses_fw_chain:
            fw_comment = Comment(f"{name} traffic not accepted by {names.fw}")
            filt.append(Rule(FIREWALL, (fw_comment, protocol, dst, port), _DROP))
    if not has_external:
        for ip in info.load_balancer_vips:
            dst = Addr("d", str(ip))
            filt.append(
                Rule(EXTERNAL_SERVICES, (verdict_comment, protocol, dst, port), external_verdict)
            )

    # 4. NodePort (never subject to loadBalancerSourceRanges).
    if info.node_port is not None:
        np_port = TcpUdp(proto, dport=info.node_port, module=False)
        if has_endpoints:
            np_comment = Comment(name)
            if ctx.opts.localhost_nodeports_v4 and ctx.opts.nfacct:
                top.append(
                    Rule(
                        NODE_PORTS,
                        (np_comment, protocol, _LOCALHOST, np_port, _NPS_COUNTER),
                        Jump(names.ext),
                    )
                )
            top.append(Rule(NODE_PORTS, (np_comment, protocol, np_port), Jump(names.ext)))
        if not has_external:
            filt.append(
                Rule(
                    EXTERNAL_SERVICES,
                    (verdict_comment, _LOCAL_DST, protocol, np_port),
                    external_verdict,
                )
            )

    # 5. healthCheckNodePort: accepted whatever the endpoints, always TCP.
    if info.health_check_node_port is not None:
        hc = TcpUdp("tcp", dport=info.health_check_node_port, module=False)
        hc_comment = Comment(f"{name} health check node port")
        filt.append(Rule(NODE_PORTS, (hc_comment, _PROTOCOLS["tcp"], hc), _ACCEPT))

    # --- from here on: the Service's own chains (skipped by partial syncs if unchanged) ---
    chains: list[Chain] = []
    rules: list[Rule] = []

    # 6. Masquerade ClusterIP traffic from outside the pod network (or all of it).
    if has_internal:
        base = (cip_comment, protocol, cluster_ip, port)
        if ctx.opts.masquerade_all:
            rules.append(Rule(internal_chain, base, _MASQ))
        elif ctx.detector.implemented:
            rules.append(Rule(internal_chain, (*base, *ctx.detector.if_not_local), _MASQ))

    # 7. KUBE-EXT: masquerade / short-circuit, then the external policy chain.
    if uses_ext_chain:
        chains.append(Chain(names.ext))
        if not info.external_policy_local:
            comment = Comment(f"masquerade traffic for {name} external destinations")
            rules.append(Rule(names.ext, (comment,), _MASQ))
        else:
            if ctx.detector.implemented:
                comment = Comment(f"pod traffic for {name} external destinations")
                rules.append(Rule(names.ext, (comment, *ctx.detector.if_local), Jump(names.svc)))
            comment = Comment(f"masquerade LOCAL traffic for {name} external destinations")
            rules.append(Rule(names.ext, (comment, _LOCAL_SRC), _MASQ))
            comment = Comment(f"route LOCAL traffic for {name} external destinations")
            rules.append(Rule(names.ext, (comment, _LOCAL_SRC), Jump(names.svc)))
        if has_external:
            rules.append(Rule(names.ext, (), Jump(external_policy_chain)))

    # 8. KUBE-FW: allowed sources go on to KUBE-EXT; the rest fall through to the DROP in
    # filter KUBE-PROXY-FIREWALL.
    if uses_fw_chain:
        chains.append(Chain(names.fw))
        allow_from_node = False
        to_ext = Jump(names.ext)
        for cidr in info.load_balancer_source_ranges:
            rules.append(Rule(names.fw, (lb_comment, Addr("s", str(cidr))), to_ext))
            if ctx.node_ip is not None and ctx.node_ip in cidr:
                allow_from_node = True
        if allow_from_node:
            # The node reaches a local VIP with the VIP as its source address.
            for ip in info.load_balancer_vips:
                rules.append(Rule(names.fw, (lb_comment, Addr("s", str(ip))), to_ext))
        other = Comment(f"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL")
        rules.append(Rule(names.fw, (other,), None))

    # 9. KUBE-SVC then KUBE-SVL: pick an endpoint.
    if uses_cluster_chain:
        chains.append(Chain(names.svc))
        _endpoint_rules(rules, name, proto, info, names.svc, cluster, ctx)
    if uses_local_chain:
        chains.append(Chain(names.svl))
        _endpoint_rules(rules, name, proto, info, names.svl, local, ctx)

    # 10. KUBE-SEP: hairpin masquerade, then DNAT.
    large = ctx.large_cluster
    sep_comment: tuple[Match, ...] = () if large else (Comment(name),)
    affinity = info.session_affinity == "ClientIP"
    # Without affinity every endpoint's DNAT rule has the same matches: share the tuple.
    dnat_matches = (*sep_comment, protocol)
    endpoint = ctx.endpoint
    for ep in reachable:
        e = endpoint(name, proto, ep)
        sep = e.sep
        chains.append(e.chain)
        rules.append(Rule(sep, e.source if large else (*sep_comment, *e.source), _MASQ))
        if affinity:
            rules.append(Rule(sep, (*sep_comment, e.recent_set, protocol), e.dnat))
        else:
            rules.append(Rule(sep, dnat_matches, e.dnat))

    return ServicePortRules(
        tuple(filt),
        tuple(top),
        tuple(chains),
        tuple(rules),
        no_local_internal=has_endpoints and not has_internal,
        no_local_external=has_endpoints and not has_external,
    )


def _endpoint_rules(
    rules: list[Rule],
    name: str,
    proto: str,
    info: ServicePortInfo,
    chain: str,
    endpoints: tuple[EndpointInfo, ...],
    ctx: RenderContext,
) -> None:
    """``writeServiceToEndpointRules``: affinity checks first, then the random choice.

    Endpoint ``i`` of ``n`` is taken with probability ``1/(n-i)`` of what is left, so each
    is equally likely overall; the last rule is unconditional.
    """
    endpoint = ctx.endpoint
    pieces = [endpoint(name, proto, ep) for ep in endpoints]
    large = ctx.large_cluster
    if info.session_affinity == "ClientIP":
        seconds = info.sticky_max_age_seconds
        for e in pieces:
            check = Recent("rcheck", name=e.sep, seconds=seconds, reap=True)
            rules.append(Rule(chain, (check,) if large else (*e.arrow, check), e.jump))
    n = len(pieces)
    if n == 0:
        return
    last = pieces[-1]
    if large:
        for i in range(n - 1):
            rules.append(Rule(chain, statistic_only(n - i), pieces[i].jump))
        rules.append(Rule(chain, (), last.jump))
    else:
        for i in range(n - 1):
            e = pieces[i]
            rules.append(Rule(chain, (*e.arrow, statistic(n - i)), e.jump))
        rules.append(Rule(chain, last.arrow, last.jump))
