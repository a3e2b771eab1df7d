"""The knobs of one nftables proxier: kube-proxy's flags, as the rules need them.

``--masquerade-all``, ``--detect-local-mode`` (its nft forms: ``ip saddr 10.244.0.0/16`` or
``iifname cni0`` / ``iifname veth*``) and ``--nodeport-addresses``. In nftables mode an unset
``--nodeport-addresses`` means ``primary`` — the node's own IP of the family (KEP-3866;
``cmd/kube-proxy/app/server.go``), so NodePorts are *not* open on every local address as in
iptables mode — and loopback is never a NodePort address::

    >>> import ipaddress
    >>> ips = (ipaddress.ip_address("172.18.0.3"),)
    >>> node_port_ips(None, 4, ips)
    ('172.18.0.3',)
    >>> node_port_ips(["0.0.0.0/0"], 4, ips) is None   # match all: the set is deleted
    True
    >>> local_detector_nft("ClusterCIDR", ipaddress.ip_network("10.244.0.0/16"), (), None)
    ... # doctest: +NORMALIZE_WHITESPACE
    NftLocalDetector(if_local=(AddrMatch(field='saddr', value='10.244.0.0/16', negate=False),),
                     if_not_local=(AddrMatch(field='saddr', value='10.244.0.0/16', negate=True),))
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from k8s_service_lab.backends.iptables.options import DETECT_LOCAL_MODES, zero_cidr
from k8s_service_lab.config import IP, Network
from k8s_service_lab.netfilter.nftables import AddrMatch, Expr, Family, IfName

__all__ = ["NftLocalDetector", "NftOptions", "local_detector_nft", "node_port_ips"]


@dataclass(frozen=True, slots=True)
class NftOptions:
    """Everything besides the Services that shapes the rules (defaults: a kind node)."""

    family: int = 4
    #: Go ``%#08x`` of ``1 << masqueradeBit`` (upstream's tests use ``0x4000``).
    masquerade_mark: str = "0x00004000"
    masquerade_all: bool = False

    @property
    def nft_family(self) -> Family:
        return "ip" if self.family == 4 else "ip6"

    @property
    def addr_type(self) -> str:
        return "ipv4_addr" if self.family == 4 else "ipv6_addr"

    @property
    def localhost(self) -> str:
        """The loopback destination NodePorts never answer on (``noLocalhost``)."""
        return "127.0.0.0/8" if self.family == 4 else "::1"


@dataclass(frozen=True, slots=True)
class NftLocalDetector:
    """``LocalTrafficDetector``'s ``IfLocalNFT`` / ``IfNotLocalNFT`` as expressions."""

    if_local: tuple[Expr, ...] = ()
    if_not_local: tuple[Expr, ...] = ()

    @property
    def implemented(self) -> bool:
        return bool(self.if_local)


def local_detector_nft(
    mode: str | None,
    cluster_cidr: Network | None,
    node_pod_cidrs: Sequence[Network],
    interface: str | None,
) -> NftLocalDetector:
    """Upstream ``getLocalDetector`` for nftables: a prefix or interface match, or none."""
    if mode is None:
        return NftLocalDetector()
    if mode not in DETECT_LOCAL_MODES:
        raise ValueError(f"unknown detect-local-mode {mode!r} (one of {DETECT_LOCAL_MODES})")
    if mode in ("ClusterCIDR", "NodeCIDR"):
        cidr = cluster_cidr if mode == "ClusterCIDR" else next(iter(node_pod_cidrs), None)
        if cidr is None:
            return NftLocalDetector()
        return NftLocalDetector(
            (AddrMatch("saddr", str(cidr)),), (AddrMatch("saddr", str(cidr), negate=True),)
        )
    if not interface:
        return NftLocalDetector()
    name = interface if mode == "BridgeInterface" else f"{interface}*"
    return NftLocalDetector((IfName(name),), (IfName(name, negate=True),))


def node_port_ips(
    given: Sequence[str] | None, family: int, node_ips: Sequence[IP]
) -> tuple[str, ...] | None:
    """The addresses NodePorts answer on, or ``None`` for "every local address".

    ``NewNodePortAddresses`` + ``GetNodeIPs``: ``primary`` is the node's first IP of the
    family; other entries are CIDRs of the family (no CIDR of the family, or a zero CIDR,
    means match-all); loopback addresses are skipped (nftables mode has no localhost
    NodePorts).
    """
    entries = ["primary"] if given is None else list(given)
    cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in entries:
        if entry == "primary":
            if node_ips:
                cidrs.append(ipaddress.ip_network(node_ips[0]))
            continue
        try:
            net = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            continue
        if net.version != family:
            continue
        if zero_cidr(entry):
            return None
        cidrs.append(net)
    if not cidrs:
        return None
    found = [ip for ip in node_ips if not ip.is_loopback and any(ip in c for c in cidrs)]
    return tuple(dict.fromkeys(str(ip) for ip in found))
