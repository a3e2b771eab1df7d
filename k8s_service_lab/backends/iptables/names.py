"""kube-proxy's iptables chain names: a prefix plus 16 characters of a hash.

Every Service port gets four possible chains that share one hash — ``KUBE-SVC-`` (Cluster
policy), ``KUBE-SVL-`` (Local policy), ``KUBE-EXT-`` (external entry) and ``KUBE-FW-``
(loadBalancerSourceRanges) — and every endpoint a ``KUBE-SEP-`` chain. The hash is standard
base32 of ``sha256(servicePortName + protocol [+ endpoint])``, as upstream's
``servicePortChainName`` / ``servicePortEndpointChainName`` compute it (``proxier.go``)::

    >>> service_port_chains("ns1/svc1:p80", "TCP").svc
    'KUBE-SVC-XPGD46QRK7WJZT7O'
    >>> endpoint_chain_name("ns1/svc1:p80", "TCP", "10.180.0.1:80")
    'KUBE-SEP-SXIVWICOYRO3J4NJ'

The name string has no trailing colon for an unnamed port (``default/web``), the protocol is
lower-cased and appended with no separator, and an IPv6 endpoint is bracketed
(``[fd00::1]:80``). ``KUBE-SVC-`` + 16 characters stays under iptables' 28-character limit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = [
    "CANARY",
    "EXTERNAL_SERVICES",
    "FIREWALL",
    "FORWARD",
    "KUBELET_FIREWALL",
    "MARK_MASQ",
    "NODE_PORTS",
    "POSTROUTING",
    "SERVICES",
    "SERVICE_CHAIN_PREFIXES",
    "ServicePortChains",
    "endpoint_chain_name",
    "is_service_chain_name",
    "port_proto_hash",
    "service_port_chains",
]

SERVICES = "KUBE-SERVICES"
EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
NODE_PORTS = "KUBE-NODEPORTS"
POSTROUTING = "KUBE-POSTROUTING"
MARK_MASQ = "KUBE-MARK-MASQ"
FORWARD = "KUBE-FORWARD"
FIREWALL = "KUBE-PROXY-FIREWALL"
#: kubelet's anti-martian chain, which kube-proxy also writes (``kubeletFirewallChain``).
KUBELET_FIREWALL = "KUBE-FIREWALL"
#: Created in mangle, nat and filter; if it vanishes, someone flushed the tables.
CANARY = "KUBE-PROXY-CANARY"

#: Prefixes of the per-Service chains a sync may delete when stale (``isServiceChainName``).
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")


# Standard base32 (RFC 4648) by ten bits at a time: 16 characters are the first 80 bits of
# the digest, so eight lookups replace base64.b32encode of all 32 bytes (which is pure Python
# and dominated a full render).
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_PAIRS = tuple(_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024))


def _b32_16(digest: bytes) -> str:
    n = int.from_bytes(digest[:10], "big")
    p = _PAIRS
    return (
        p[n >> 70] + p[(n >> 60) & 1023] + p[(n >> 50) & 1023] + p[(n >> 40) & 1023]
        + p[(n >> 30) & 1023] + p[(n >> 20) & 1023] + p[(n >> 10) & 1023] + p[n & 1023]
    )  # fmt: skip


def port_proto_hash(name: str, protocol: str) -> str:
    """``portProtoHash``: 16 characters of base32(sha256(name + lower(protocol)))."""
    return _b32_16(hashlib.sha256((name + protocol.lower()).encode()).digest())


@dataclass(frozen=True, slots=True)
class ServicePortChains:
    """The four chain names of one Service port (they share one hash)."""

    svc: str
    svl: str
    ext: str
    fw: str


def service_port_chains(name: str, protocol: str) -> ServicePortChains:
    """The SVC/SVL/EXT/FW chain names of the Service port ``name`` (``ns/svc[:port]``)."""
    h = port_proto_hash(name, protocol)
    return ServicePortChains(f"KUBE-SVC-{h}", f"KUBE-SVL-{h}", f"KUBE-EXT-{h}", f"KUBE-FW-{h}")


def endpoint_chain_name(name: str, protocol: str, endpoint: str) -> str:
    """``servicePortEndpointChainName``: ``KUBE-SEP-`` + hash of name, protocol, ``ip:port``."""
    digest = hashlib.sha256((name + protocol.lower() + endpoint).encode()).digest()
    return "KUBE-SEP-" + _b32_16(digest)


def is_service_chain_name(chain: str) -> bool:
    """Whether a sync owns this chain (and so may ``-X`` it once nothing uses it)."""
    return chain.startswith(SERVICE_CHAIN_PREFIXES)
