"""The sysctls a lab namespace gets, each with where its value comes from.

A kind node is a docker container whose kube-proxy has started; the lab's node namespaces get
what such a node has, and every other namespace is written explicitly as a host that does not
forward, because a new namespace copies the IPv4 settings of the namespace that made it::

    >>> from k8s_service_lab.config import ClusterConfig
    >>> [f"{s.key}={s.value}" for s in node_sysctls(ClusterConfig.default())][:2]
    ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.route_localnet=1']
    >>> Sysctl("net.ipv4.ip_forward", "0", "a host").path
    '/proc/sys/net/ipv4/ip_forward'
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s_service_lab.config import ClusterConfig

__all__ = [
    "HOST_SYSCTLS",
    "NODE_SYSCTLS",
    "ROUTE_LOCALNET",
    "Sysctl",
    "host_sysctls",
    "node_sysctls",
]


@dataclass(frozen=True, slots=True)
class Sysctl:
    """One sysctl written in one namespace, with where the value comes from."""

    key: str
    value: str
    source: str

    @property
    def path(self) -> str:
        """The file under ``/proc/sys`` (``net.ipv4.ip_forward`` → ``net/ipv4/ip_forward``)."""
        return "/proc/sys/" + self.key.replace(".", "/")


_DOCKER = "kind node containers forward IPv4 (docker enables it; kindnet routes pods through it)"
_PROVISION = "kind's docker provider for IPv6 clusters (providers/docker/provision.go)"
_CONNTRACK = "kube-proxy setupConntrack (cmd/kube-proxy/app/server_linux.go)"
#: What a kind node has set, in order. kind's kube-proxy config sets ``conntrack.maxPerCore: 0``
#: so ``nf_conntrack_max`` (a global, not per-namespace) is left alone; the two TCP timeouts are
#: kube-proxy's defaults (``conntrack.tcpEstablishedTimeout`` 24h, ``tcpCloseWaitTimeout`` 1h).
NODE_SYSCTLS = (
    Sysctl("net.ipv4.ip_forward", "1", _DOCKER),
    Sysctl("net.netfilter.nf_conntrack_tcp_timeout_established", "86400", _CONNTRACK),
    Sysctl("net.netfilter.nf_conntrack_tcp_timeout_close_wait", "3600", _CONNTRACK),
)
#: The iptables proxier with ``localhostNodePorts`` (the default) for IPv4: NodePorts on
#: 127.0.0.1 need it (``NewDualStackProxier``, ``pkg/proxy/iptables/proxier.go``).
ROUTE_LOCALNET = Sysctl(
    "net.ipv4.conf.all.route_localnet", "1", "kube-proxy iptables localhostNodePorts"
)
NODE_SYSCTLS_V6 = (
    Sysctl("net.ipv6.conf.all.disable_ipv6", "0", _PROVISION),
    Sysctl("net.ipv6.conf.all.forwarding", "1", _PROVISION),
)
#: Hosts, not routers. Written explicitly because a new namespace copies the IPv4 settings of
#: the host's namespace (``net.core.devconf_inherit_init_net=0``), which may forward.
HOST_SYSCTLS = (Sysctl("net.ipv4.ip_forward", "0", "a host, not a router"),)
HOST_SYSCTLS_V6 = (Sysctl("net.ipv6.conf.all.forwarding", "0", "a host, not a router"),)


def node_sysctls(config: ClusterConfig) -> tuple[Sysctl, ...]:
    """The sysctls of a node namespace for this cluster's families and proxy mode."""
    families = {c.version for c in config.pod_cidrs}
    out: list[Sysctl] = []
    mode = config.networking.kube_proxy_mode
    if 4 in families:
        out.append(NODE_SYSCTLS[0])
        if mode == "iptables":
            out.append(ROUTE_LOCALNET)
    if 6 in families:
        out.extend(NODE_SYSCTLS_V6)
    if mode != "none":
        out.extend(NODE_SYSCTLS[1:])
    return tuple(out)


def host_sysctls(config: ClusterConfig) -> tuple[Sysctl, ...]:
    families = {c.version for c in config.pod_cidrs}
    return (HOST_SYSCTLS if 4 in families else ()) + (HOST_SYSCTLS_V6 if 6 in families else ())
