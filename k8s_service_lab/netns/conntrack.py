"""kube-proxy's UDP conntrack cleanup, worked out from the proxy model and a ``conntrack -L``.

UDP has no connection to close, so when a UDP endpoint goes away the kernel's conntrack entry
keeps sending the client's datagrams to the dead pod until the entry times out. After a sync
that changed the endpoints of a Service with a UDP port, kube-proxy lists the conntrack table
and deletes every UDP entry aimed at a Service frontend whose reply comes from an address that
is no longer a *serving* endpoint of that Service (``CleanStaleEntries``,
``pkg/proxy/conntrack/cleanup.go``). Two kinds of frontend, two kinds of filter:

- ``ClusterIP:port``, ``loadBalancerIP:port`` and ``externalIP:port`` — match the original
  destination address and port and the reply source (``filterForIPPortNAT``);
- ``*:nodePort`` — match only the original destination port and the reply source
  (``filterForPortNAT``), because a NodePort answers on every node address.

A Service with no serving endpoint at all is left alone (its entries are not "stale", there
is simply nowhere better to send them). Traffic policies, topology and terminating state do
not narrow the set: a change of policy must not break flows that exist, as for TCP::

    >>> from k8s_service_lab.proxy import EndpointInfo, ServicePortInfo, ServicePortName
    >>> import ipaddress
    >>> dns = ServicePortName("kube-system", "kube-dns", "dns", "UDP")
    >>> info = ServicePortInfo(dns, ipaddress.ip_address("10.96.0.10"), 53, "UDP")
    >>> fronts = udp_frontends({dns: info}, {dns: (EndpointInfo("10.244.0.3", 53),)})
    >>> flows = parse_entries(
    ...     "udp      17 25 src=10.244.1.2 dst=10.96.0.10 sport=41000 dport=53 "
    ...     "src=10.244.0.2 dst=10.244.1.2 sport=53 dport=41000 mark=0 use=1\\n")
    >>> print(*stale_filters(flows, fronts)[0].argv())
    -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.0.2

:func:`cleanup_required` is upstream's ``ConntrackCleanupRequired``: some Service with a UDP
port had its endpoints changed since the previous sync (every one counts on the first).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from k8s_service_lab.proxy import EndpointsMap, NodeProxyState, ServiceName, ServicePortMap

__all__ = [
    "ConntrackFlow",
    "StaleFilter",
    "UdpFrontends",
    "cleanup_required",
    "parse_entries",
    "stale_filters",
    "udp_frontends",
]


def _ip(text: str) -> str:
    """One spelling per address (conntrack and the model may write IPv6 differently)."""
    return str(ipaddress.ip_address(text))


@dataclass(frozen=True, slots=True)
class ConntrackFlow:
    """One conntrack entry: its original tuple and the source of its reply tuple."""

    proto: str
    orig_src: str
    orig_dst: str
    orig_sport: int
    orig_dport: int
    reply_src: str


@dataclass(frozen=True, slots=True)
class StaleFilter:
    """One ``conntrack -D`` filter; ``orig_dst`` is ``None`` for a NodePort (any address)."""

    orig_dst: str | None
    orig_dport: int
    reply_src: str

    def argv(self) -> tuple[str, ...]:
        """The filter as ``conntrack -D`` arguments (UDP only, as kube-proxy's)."""
        dst = ("--orig-dst", self.orig_dst) if self.orig_dst is not None else ()
        return (
            "-p",
            "udp",
            *dst,
            "--orig-port-dst",
            str(self.orig_dport),
            "--reply-src",
            self.reply_src,
        )


@dataclass(frozen=True, slots=True)
class UdpFrontends:
    """UDP frontends mapped to their serving endpoint IPs (``serviceIPEndpointIPs`` and
    ``serviceNodePortEndpointIPs`` in cleanup.go)."""

    by_address: Mapping[tuple[str, int], frozenset[str]]
    by_node_port: Mapping[int, frozenset[str]]


def udp_frontends(services: ServicePortMap, endpoints: EndpointsMap) -> UdpFrontends:
    """Every UDP Service frontend with at least one serving endpoint, and those endpoints."""
    by_address: dict[tuple[str, int], frozenset[str]] = {}
    by_node_port: dict[int, frozenset[str]] = {}
    for name, info in services.items():
        if info.protocol != "UDP":
            continue
        serving = frozenset(_ip(ep.ip) for ep in endpoints.get(name, ()) if ep.serving)
        if not serving:
            continue  # nothing better to send the flows to: leave them
        for address in (info.cluster_ip, *info.load_balancer_vips, *info.external_ips):
            by_address[(str(address), info.port)] = serving
        if info.node_port is not None:
            by_node_port[info.node_port] = serving
    return UdpFrontends(by_address, by_node_port)


def stale_filters(
    flows: Iterable[ConntrackFlow], frontends: UdpFrontends
) -> tuple[StaleFilter, ...]:
    """The filters kube-proxy would hand to ``ClearEntries`` for these flows, without repeats."""
    found: dict[StaleFilter, None] = {}
    for flow in flows:
        if flow.proto != "udp":
            continue
        serving = frontends.by_address.get((flow.orig_dst, flow.orig_dport))
        if serving is not None and flow.reply_src not in serving:
            found[StaleFilter(flow.orig_dst, flow.orig_dport, flow.reply_src)] = None
        serving = frontends.by_node_port.get(flow.orig_dport)
        if serving is not None and flow.reply_src not in serving:
            found[StaleFilter(None, flow.orig_dport, flow.reply_src)] = None
    return tuple(found)


def parse_entries(text: str) -> tuple[ConntrackFlow, ...]:
    """``conntrack -L`` output (its default format) as flows; other lines are skipped.

    A line names the protocol, then ``src= dst= sport= dport=`` of the original direction,
    flags, and the same keys again for the reply direction.
    """
    flows = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or words[0] not in ("udp", "tcp", "sctp"):
            continue
        seen: dict[str, list[str]] = {}
        for word in words:
            key, sep, value = word.partition("=")
            if sep and key in ("src", "dst", "sport", "dport"):
                seen.setdefault(key, []).append(value)
        if len(seen.get("src", ())) < 2 or len(seen.get("dport", ())) < 1:
            continue
        flows.append(
            ConntrackFlow(
                words[0],
                _ip(seen["src"][0]),
                _ip(seen["dst"][0]),
                int(seen["sport"][0]),
                int(seen["dport"][0]),
                _ip(seen["src"][1]),
            )
        )
    return tuple(flows)


def cleanup_required(previous: NodeProxyState | None, current: NodeProxyState) -> bool:
    """Upstream's ``ConntrackCleanupRequired``: a Service with a UDP port (before or after)
    has different endpoints now than at the previous sync; always on the first sync."""
    if previous is None:
        return any(name.protocol == "UDP" for name in current.endpoints)
    udp: set[ServiceName] = {
        name.service for name in (*previous.endpoints, *current.endpoints) if name.protocol == "UDP"
    }
    for service in udp:
        before = {k: v for k, v in previous.endpoints.items() if k.service == service}
        after = {k: v for k, v in current.endpoints.items() if k.service == service}
        if before != after:
            return True
    return False
