"""The kernel settings kube-proxy's iptables proxier touches.

``NewProxier`` (``proxier.go``) writes one sysctl itself: ``net/ipv4/conf/all/route_localnet
= 1``, so that DNAT to a pod works for packets addressed to 127.0.0.1 — needed only for
localhost NodePorts, which exist only for IPv4 and only if ``--nodeport-addresses`` lets
loopback in. It *reads* ``net/netfilter/nf_conntrack_tcp_be_liberal`` (non-zero: no INVALID
drop rule) and, in ``server_linux.go``, warns when ``net/bridge/bridge-nf-call-iptables`` is
off. Conntrack table sizes and timeouts are set by the kube-proxy server, not the proxier, and
nothing under ``net/ipv4/vs/`` (that is IPVS mode)::

    >>> from k8s_service_lab.backends.iptables.options import ProxierOptions
    >>> [(s.name, s.value) for s in proxier_sysctls(ProxierOptions()) if s.writes]
    [('net/ipv4/conf/all/route_localnet', 1)]
    >>> [s.name for s in proxier_sysctls(ProxierOptions(family=6)) if s.writes]
    []
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from k8s_service_lab.backends.iptables.options import ProxierOptions, family_cidrs, zero_cidr

__all__ = ["Sysctl", "proxier_sysctls"]


@dataclass(frozen=True, slots=True)
class Sysctl:
    """One sysctl (``/proc/sys`` path form); ``value`` is ``None`` when only read."""

    name: str
    value: int | None
    why: str

    @property
    def writes(self) -> bool:
        return self.value is not None


def _loopback_allowed(opts: ProxierOptions) -> bool:
    # nodePortAddresses.ContainsIPv4Loopback(): unset or a zero CIDR counts as "all".
    given = opts.node_port_addresses
    if not given:
        return True
    cidrs = family_cidrs([c for c in given if c != "primary"], 4)
    if not cidrs and "primary" not in given:
        return True
    loopback = ipaddress.ip_address("127.0.0.1")
    return any(zero_cidr(str(c)) or loopback in c for c in cidrs)


def proxier_sysctls(opts: ProxierOptions) -> tuple[Sysctl, ...]:
    """What an iptables proxier with these options sets and reads on its node."""
    out: list[Sysctl] = []
    if opts.localhost_nodeports_v4 and _loopback_allowed(opts):
        out.append(
            Sysctl(
                "net/ipv4/conf/all/route_localnet",
                1,
                "let NodePorts on 127.0.0.1 be DNATed to pods (localhost NodePorts)",
            )
        )
    out.append(
        Sysctl(
            "net/netfilter/nf_conntrack_tcp_be_liberal",
            None,
            "if non-zero, KUBE-FORWARD has no ctstate INVALID drop rule",
        )
    )
    out.append(
        Sysctl(
            "net/bridge/bridge-nf-call-iptables",
            None,
            "read only: bridged pod traffic must traverse iptables or ClusterIPs break",
        )
    )
    return tuple(out)
