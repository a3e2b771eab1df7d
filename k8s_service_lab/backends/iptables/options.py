"""The knobs of one iptables proxier: kube-proxy's flags and what it probed on the host.

Upstream reads these from ``KubeProxyConfiguration`` (``masqueradeAll``, ``detectLocalMode``,
``nodePortAddresses``, ``iptables.localhostNodePorts``, ``iptables.masqueradeBit``) and from
the host (``--random-fully`` support, ``nf_conntrack_tcp_be_liberal``, nfacct)::

    >>> opts = ProxierOptions()
    >>> opts.masquerade_mark, opts.localhost_nodeports_v4
    ('0x00004000', True)
    >>> detector = local_detector("ClusterCIDR", ipaddress.ip_network("10.244.0.0/16"), (), None)
    >>> detector.if_not_local
    (Addr(direction='s', cidr='10.244.0.0/16', invert=True),)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from k8s_service_lab.config import Network
from k8s_service_lab.netfilter import Addr, Iface, Match

__all__ = ["DETECT_LOCAL_MODES", "LocalDetector", "ProxierOptions", "local_detector", "mark_text"]

DETECT_LOCAL_MODES = ("ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix")


def mark_text(bit: int) -> str:
    """The masquerade mark as kube-proxy formats it: Go ``%#08x`` of ``1 << bit``."""
    return f"0x{1 << bit:08x}"


@dataclass(frozen=True, slots=True)
class ProxierOptions:
    """Everything besides the Services that shapes the rules (defaults: a kind node)."""

    family: int = 4
    masquerade_mark: str = mark_text(14)
    masquerade_all: bool = False
    #: ``--nodeport-addresses`` as given (``None``: every local address).
    node_port_addresses: tuple[str, ...] | None = None
    localhost_nodeports: bool = True
    #: nfacct counters could be created (``localhost_nps_accepted_pkts`` and friends).
    nfacct: bool = True
    #: the iptables binary understands ``MASQUERADE --random-fully``.
    random_fully: bool = True
    #: ``net/netfilter/nf_conntrack_tcp_be_liberal`` is non-zero: no INVALID drop rule.
    conntrack_tcp_liberal: bool = False
    #: seconds between stale-chain cleanups in large-cluster mode (``syncPeriod``).
    sync_period: float = 30.0

    @property
    def localhost_nodeports_v4(self) -> bool:
        """Localhost NodePorts exist only for IPv4 (they need ``route_localnet``)."""
        return self.family == 4 and self.localhost_nodeports


@dataclass(frozen=True, slots=True)
class LocalDetector:
    """``LocalTrafficDetector``: the match pieces for "from a local pod" and its negation."""

    if_local: tuple[Match, ...] = ()
    if_not_local: tuple[Match, ...] = ()

    @property
    def implemented(self) -> bool:
        return bool(self.if_local)


def local_detector(
    mode: str | None,
    cluster_cidr: Network | None,
    node_pod_cidrs: Sequence[Network],
    interface: str | None,
) -> LocalDetector:
    """Upstream ``getLocalDetector``: a CIDR or interface match, or a no-op detector."""
    if mode is None:
        return LocalDetector()
    if mode not in DETECT_LOCAL_MODES:
        raise ValueError(f"unknown detect-local-mode {mode!r} (one of {DETECT_LOCAL_MODES})")
    if mode in ("ClusterCIDR", "NodeCIDR"):
        cidr = cluster_cidr if mode == "ClusterCIDR" else next(iter(node_pod_cidrs), None)
        if cidr is None:
            return LocalDetector()
        text = str(cidr)
        return LocalDetector((Addr("s", text),), (Addr("s", text, invert=True),))
    if not interface:
        return LocalDetector()
    name = interface if mode == "BridgeInterface" else f"{interface}+"
    return LocalDetector((Iface("i", name),), (Iface("i", name, invert=True),))


def zero_cidr(text: str) -> bool:
    return text.strip() in ("0.0.0.0/0", "::/0")


def family_cidrs(
    cidrs: Sequence[str], family: int
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for text in cidrs:
        try:
            net = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            continue
        if net.version == family:
            out.append(net)
    return out
