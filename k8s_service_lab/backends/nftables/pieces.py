"""The pieces of a Service port that never change: hashed names and per-endpoint rules.

Chain names cost a sha256 each, and an endpoint's chain, hairpin rule and DNAT rule depend
only on the Service port and the endpoint's address. A proxier keeps them in its
:class:`NftRenderContext` and every sync that rewrites the Service reuses them, so a
10,000-Service cluster hashes each name once (upstream keeps the same names on its
``servicePortInfo`` / ``endpointInfo`` wrappers: ``newServiceInfo``, ``newEndpointInfo``)::

    >>> from k8s_service_lab.proxy import EndpointInfo, ServicePortName
    >>> ctx = NftRenderContext.for_tests()
    >>> port = ctx.port(ServicePortName("ns1", "svc1", "p80", "TCP"), "tcp")
    >>> port.key, port.names.cluster
    ('ns1/svc1/tcp/p80', 'service-ULMVA6XW-ns1/svc1/tcp/p80')
    >>> ep = port.endpoint(EndpointInfo("10.180.0.1", 80))
    >>> ep.chain
    'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80'
    >>> ep.affinity_set
    'affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80'
    >>> port.endpoint(EndpointInfo("10.180.0.1", 80)) is ep   # built once
    True
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from k8s_service_lab.backends.nftables.names import (
    EndpointNames,
    ServicePortNames,
    endpoint_key,
    hash_and_truncate,
    service_port_key,
)
from k8s_service_lab.backends.nftables.options import (
    NftLocalDetector,
    NftOptions,
    local_detector_nft,
)
from k8s_service_lab.backends.nftables.static import MARK_MASQ
from k8s_service_lab.config import IP
from k8s_service_lab.netfilter.nftables import (
    AddrMatch,
    Dnat,
    L4Proto,
    NftChain,
    NftRule,
    add,
    flush,
    goto,
    jump,
)
from k8s_service_lab.proxy import EndpointInfo, ServicePortName
from k8s_service_lab.proxy.model import join_host_port

__all__ = ["MASQ", "EndpointPieces", "NftRenderContext", "PortPieces"]

#: ``jump mark-for-masquerade``: one object shared by every rule that masquerades.
MASQ = jump(MARK_MASQ)
_PROTOCOLS = {p: L4Proto(p) for p in ("tcp", "udp", "sctp")}


class EndpointPieces:
    """An endpoint's chain, rules and verdict, built once and shared by every sync.

    Everything here depends only on the Service port and the endpoint's address, so a
    rewritten Service reuses the objects its endpoints had (and ``to_nft`` meets the same
    rule objects again).
    """

    __slots__ = ("base", "body", "chain", "dnat", "goto", "hairpin", "head")

    def __init__(self, port: PortPieces, ip: str, port_number: int) -> None:
        base = hash_and_truncate(endpoint_key(port.key, ip, port_number))
        self.base = base
        self.chain = chain_name = "endpoint-" + base
        self.goto = goto(chain_name)
        chain = NftChain(chain_name)
        #: ``ensureChain``: create the chain, and empty it of what a previous sync wrote.
        self.head = (add(chain), flush(chain))
        # Traffic that loops back to its own pod must be masqueraded (hairpin).
        self.hairpin = NftRule(chain_name, (AddrMatch("saddr", ip), MASQ))
        self.dnat = NftRule(chain_name, (port.protocol, Dnat(join_host_port(ip, port_number))))
        #: The endpoint chain's rules without ClientIP affinity.
        self.body = (add(self.hairpin), add(self.dnat))

    @property
    def affinity_set(self) -> str:
        """The endpoint's ClientIP-affinity set (same base name as its chain)."""
        return "affinity-" + self.base

    @property
    def names(self) -> EndpointNames:
        return EndpointNames(self.chain, self.affinity_set)


class PortPieces:
    """A Service port's names and its endpoints' pieces: hashed once per proxier.

    ``key`` is the unhashed ``ns/svc/proto/port`` every endpoint name starts from, so an
    endpoint costs one hash and no re-formatting of the Service part.
    """

    __slots__ = ("endpoints", "key", "names", "protocol")

    def __init__(self, spn: ServicePortName, proto: str) -> None:
        self.key = service_port_key(spn.namespace, spn.name, spn.port_name, proto)
        base = hash_and_truncate(self.key)
        self.names = ServicePortNames(
            f"service-{base}", f"local-{base}", f"external-{base}", f"firewall-{base}"
        )
        self.protocol = _PROTOCOLS.get(proto) or L4Proto(proto)
        self.endpoints: dict[tuple[str, int], EndpointPieces] = {}

    def endpoint(self, ep: EndpointInfo) -> EndpointPieces:
        key = (ep.ip, ep.port)
        found = self.endpoints.get(key)
        if found is None:
            found = self.endpoints[key] = EndpointPieces(self, ep.ip, ep.port)
        return found


@dataclass(slots=True)
class NftRenderContext:
    """Per-proxier inputs shared by every Service port, plus caches of name pieces."""

    opts: NftOptions
    detector: NftLocalDetector
    #: ``proxier.nodeIP``: a source range containing it lets LB VIPs in (hairpin via VIP).
    node_ip: IP | None
    _ports: dict[tuple[ServicePortName, str], PortPieces] = field(default_factory=dict)

    @classmethod
    def for_tests(cls) -> NftRenderContext:
        """Upstream's fake proxier: mark 0x4000, pods in 10.0.0.0/8, node 192.168.0.2."""
        opts = NftOptions(masquerade_mark="0x4000")
        detector = local_detector_nft("ClusterCIDR", ipaddress.ip_network("10.0.0.0/8"), (), None)
        return cls(opts, detector, ipaddress.ip_address("192.168.0.2"))

    def port(self, spn: ServicePortName, proto: str) -> PortPieces:
        found = self._ports.get((spn, proto))
        if found is None:
            found = self._ports[(spn, proto)] = PortPieces(spn, proto)
        return found

    def names(self, spn: ServicePortName, proto: str) -> ServicePortNames:
        return self.port(spn, proto).names

    def trim(self, ports: int, endpoints: int) -> None:
        """Forget cached pieces once they far outnumber what the cluster uses."""
        cached = self._ports.values()
        if len(cached) > 2 * ports + 1024 or (
            sum(len(p.endpoints) for p in cached) > 2 * endpoints + 1024
        ):
            self._ports.clear()
