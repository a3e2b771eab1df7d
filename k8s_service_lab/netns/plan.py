"""The kernel lab's topology as a plan: which namespaces, links, addresses, routes and sysctls.

:func:`plan_lab` lays a modelled :class:`~k8s_service_lab.cluster.Cluster` out the way kind
and its CNI (kindnet) lay out a real one, without touching the kernel (``kernel.build`` does
that). One namespace per node and per running pod, a ``kind`` network namespace holding the
bridge that joins the nodes (and the docker-network gateway address, which forwards nowhere),
and an ``external`` host on that network, like the laptop that runs kind::

    >>> from k8s_service_lab import Cluster
    >>> plan = plan_lab(Cluster(), prefix="ksl")
    >>> [ns.name for ns in plan.namespaces][:4]
    ['ksl-net-kind', 'ksl-ext-external', 'ksl-node-kind-control-plane', 'ksl-node-kind-worker']
    >>> pod = plan.pods[0]
    >>> pod.pod, str(pod.ips[0]), pod.node
    ('kube-system/coredns-6f8d4f6479-cddp9', '10.244.0.2', 'kind-control-plane')
    >>> [r.text() for r in plan.namespace(pod.namespace).routes]
    ['10.244.0.1 dev eth0 scope link', 'default via 10.244.0.1 dev eth0']

Pods are wired as kindnet wires them (DESIGN §8, kernel facts): the pod's ``eth0`` holds its IP
as a /32 (/128) with an on-link route to the gateway ``10.244.N.1`` and a default route via it;
the node's end of the veth holds that gateway address as a /32; the node has a /32 route per
pod and a route to every other node's pod CIDR via that node's IP, and a default route to the
kind network's gateway. The node sysctls are the ones a kind node ends up with (see
:mod:`.sysctls`), so a node namespace can later take kube-proxy's ``iptables-restore``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from k8s_service_lab.api import Pod
from k8s_service_lab.config import KIND_NETWORKS, ClusterConfig
from k8s_service_lab.netns.names import (
    LabPlanError,
    Role,
    check_prefix,
    link_name,
    namespace_name,
    pod_veth_name,
)
from k8s_service_lab.netns.sysctls import Sysctl, host_sysctls, node_sysctls

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster

__all__ = [
    "EXTERNAL_HOST_INDEX",
    "Address",
    "LabPlan",
    "NetNamespace",
    "PodPlan",
    "Route",
    "ServedPort",
    "Sysctl",
    "Veth",
    "plan_lab",
]

IP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Interface: TypeAlias = ipaddress.IPv4Interface | ipaddress.IPv6Interface

#: The external host's index on the kind network (172.18.0.100), clear of the nodes (.2, .3 …).
EXTERNAL_HOST_INDEX = 100
#: agnhost ``netexec``'s own ports (``--http-port 8080``, ``--udp-port 8081``), served by a pod
#: that declares no containerPort (``test/images/agnhost/netexec/netexec.go``).
AGNHOST_DEFAULT_PORTS = ((8080, "TCP"), (8081, "UDP"))
ETH0 = "eth0"


@dataclass(frozen=True, slots=True)
class Address:
    interface: str
    address: Interface

    def text(self) -> str:
        return f"{self.address} dev {self.interface}"


@dataclass(frozen=True, slots=True)
class Route:
    """A route: via ``gateway``, or on-link (``scope link``) when ``gateway`` is ``None``."""

    destination: Network
    device: str
    gateway: IP | None = None

    @property
    def is_default(self) -> bool:
        return self.destination.prefixlen == 0

    def text(self) -> str:
        """As ``ip route`` prints it."""
        if self.is_default:
            dst = "default"
        elif self.destination.prefixlen == self.destination.max_prefixlen:
            dst = str(self.destination.network_address)
        else:
            dst = str(self.destination)
        if self.gateway is None:
            return f"{dst} dev {self.device} scope link"
        return f"{dst} via {self.gateway} dev {self.device}"


@dataclass(frozen=True, slots=True)
class Veth:
    """A veth pair: ``name`` in ``namespace`` (on ``bridge`` if set), ``peer`` in the other."""

    name: str
    namespace: str
    peer: str
    peer_namespace: str
    bridge: str | None = None


@dataclass(frozen=True, slots=True)
class ServedPort:
    port: int
    protocol: str


@dataclass(frozen=True, slots=True)
class PodPlan:
    """A pod's namespace and what its agnhost-like server answers there."""

    namespace: str
    pod: str
    hostname: str
    node: str
    ips: tuple[IP, ...]
    ports: tuple[ServedPort, ...]


@dataclass(frozen=True, slots=True)
class NetNamespace:
    name: str
    role: Role
    subject: str
    addresses: tuple[Address, ...] = ()
    routes: tuple[Route, ...] = ()
    sysctls: tuple[Sysctl, ...] = ()
    bridges: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabPlan:
    """Everything ``kernel.build`` creates, in build order, and nothing it does not."""

    prefix: str
    gateways: tuple[IP, ...]
    external_ips: tuple[IP, ...]
    namespaces: tuple[NetNamespace, ...]
    veths: tuple[Veth, ...]
    pods: tuple[PodPlan, ...]
    _by_name: dict[str, NetNamespace] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {ns.name: ns for ns in self.namespaces})

    def namespace(self, name: str) -> NetNamespace:
        """The namespace called ``name`` (``KeyError`` if the plan has none)."""
        return self._by_name[name]

    def of(self, role: Role, subject: str) -> NetNamespace:
        """The namespace of a node (``"kind-worker"``), a pod (``"default/web-0"``) …"""
        return self.namespace(namespace_name(self.prefix, role, subject))

    @property
    def network(self) -> NetNamespace:
        return next(ns for ns in self.namespaces if ns.role is Role.NETWORK)

    @property
    def external(self) -> NetNamespace:
        return next(ns for ns in self.namespaces if ns.role is Role.EXTERNAL)

    def describe(self) -> str:
        """The plan as text: a namespace a paragraph, in ``ip`` words."""
        lines = [f"lab {self.prefix}: {len(self.namespaces)} namespaces, {len(self.veths)} veths"]
        peers = {(v.namespace, v.name): v for v in self.veths}
        peers.update({(v.peer_namespace, v.peer): v for v in self.veths})
        for ns in self.namespaces:
            lines.append(f"{ns.name}  ({ns.role.name.lower()} {ns.subject})")
            lines.extend(f"  bridge {b}" for b in ns.bridges)
            for (where, name), veth in sorted(peers.items()):
                if where == ns.name:
                    other = veth.peer_namespace if name == veth.name else veth.namespace
                    master = f" master {veth.bridge}" if veth.bridge and name == veth.name else ""
                    lines.append(f"  link {name} (veth to {other}){master}")
            lines.extend(f"  addr {a.text()}" for a in ns.addresses)
            lines.extend(f"  route {r.text()}" for r in ns.routes)
            lines.extend(f"  sysctl {s.key}={s.value}  # {s.source}" for s in ns.sysctls)
        return "\n".join(lines)


# -- the plan ------------------------------------------------------------------------------------


def plan_lab(cluster: Cluster, prefix: str = "ksl") -> LabPlan:
    """Lay ``cluster`` out as network namespaces (pure: reads the model, touches nothing)."""
    check_prefix(prefix)
    config = cluster.config
    pods = [p for p in cluster.list(Pod, namespace=None) if _runs_in_own_namespace(p)]
    return _Planner(prefix, config).plan(pods)


def _runs_in_own_namespace(pod: Pod) -> bool:
    return (
        pod.status.phase == "Running"
        and not pod.spec.host_network
        and pod.spec.node_name is not None
        and bool(pod.status.pod_ips or pod.status.pod_ip)
    )


def served_ports(pod: Pod) -> tuple[ServedPort, ...]:
    """Each containerPort (TCP or UDP), or agnhost netexec's defaults when none is declared."""
    declared = {
        (p.container_port, (p.protocol or "TCP").upper())
        for c in pod.spec.containers
        for p in c.ports
    }
    wanted = declared or set(AGNHOST_DEFAULT_PORTS)
    return tuple(ServedPort(port, proto) for port, proto in sorted(wanted) if proto != "SCTP")


class _Planner:
    def __init__(self, prefix: str, config: ClusterConfig) -> None:
        self.prefix = prefix
        self.config = config
        self.nodes = config.cluster_nodes
        families = [a.version for a in self.nodes[0].addresses] if self.nodes else [4]
        self.networks = [n for v in families for n in KIND_NETWORKS if n.version == v]
        self.gateways: tuple[IP, ...] = tuple(n.network_address + 1 for n in self.networks)

    def ns(self, role: Role, subject: str) -> str:
        return namespace_name(self.prefix, role, subject)

    def plan(self, pods: Sequence[Pod]) -> LabPlan:
        external_ips = self._external_ips()
        veths: list[Veth] = []
        network = self.ns(Role.NETWORK, self.config.name)
        bridge = link_name(self.prefix, "br")
        namespaces = [
            NetNamespace(
                network,
                Role.NETWORK,
                self.config.name,
                addresses=tuple(
                    Address(bridge, ipaddress.ip_interface(f"{gw}/{net.prefixlen}"))
                    for gw, net in zip(self.gateways, self.networks, strict=True)
                ),
                sysctls=host_sysctls(self.config),
                bridges=(bridge,),
            )
        ]
        external = self.ns(Role.EXTERNAL, "external")
        veths.append(Veth(link_name(self.prefix, "ext"), network, ETH0, external, bridge))
        namespaces.append(self._host(external, Role.EXTERNAL, "external", external_ips))
        by_node: dict[str, list[Pod]] = {n.name: [] for n in self.nodes}
        for pod in pods:
            by_node.setdefault(pod.spec.node_name or "", []).append(pod)
        pod_namespaces: list[NetNamespace] = []
        pod_plans: list[PodPlan] = []
        for i, node in enumerate(self.nodes):
            name = self.ns(Role.NODE, node.name)
            veths.append(Veth(link_name(self.prefix, f"n{i}"), network, ETH0, name, bridge))
            node_ns, pod_veths, ns_list, plans = self._node(name, node.name, by_node[node.name])
            namespaces.append(node_ns)
            veths.extend(pod_veths)
            pod_namespaces.extend(ns_list)
            pod_plans.extend(plans)
        return LabPlan(
            self.prefix,
            self.gateways,
            external_ips,
            (*namespaces, *pod_namespaces),
            tuple(veths),
            tuple(pod_plans),
        )

    def _external_ips(self) -> tuple[IP, ...]:
        taken = {a for n in self.nodes for a in n.addresses}
        ips = tuple(net.network_address + EXTERNAL_HOST_INDEX for net in self.networks)
        for ip in ips:
            if ip in taken:
                raise LabPlanError(f"the external host's address {ip} is a node's address")
        return ips

    def _host(self, name: str, role: Role, subject: str, ips: Sequence[IP]) -> NetNamespace:
        """A plain host on the kind network (the external client)."""
        return NetNamespace(
            name,
            role,
            subject,
            addresses=tuple(self._on_network(ip) for ip in ips),
            routes=tuple(self._default_routes()),
            sysctls=host_sysctls(self.config),
        )

    def _on_network(self, ip: IP) -> Address:
        net = next(n for n in self.networks if n.version == ip.version)
        return Address(ETH0, ipaddress.ip_interface(f"{ip}/{net.prefixlen}"))

    def _default_routes(self) -> Iterator[Route]:
        # Towards the docker network's gateway, as in a kind node; in the lab it forwards
        # nowhere, but without it a node's own connection to a ClusterIP fails with "network
        # unreachable" before nat OUTPUT can DNAT it (DESIGN §8, kernel facts).
        for gw in self.gateways:
            yield Route(ipaddress.ip_network("::/0" if gw.version == 6 else "0.0.0.0/0"), ETH0, gw)

    def _node(
        self, name: str, node_name: str, pods: Sequence[Pod]
    ) -> tuple[NetNamespace, list[Veth], list[NetNamespace], list[PodPlan]]:
        node = self.config.node(node_name)
        addresses = [self._on_network(ip) for ip in node.addresses]
        routes: list[Route] = []
        veths: list[Veth] = []
        pod_namespaces: list[NetNamespace] = []
        plans: list[PodPlan] = []
        gateways = {c.version: c.network_address + 1 for c in node.pod_cidrs}
        used: set[str] = set()
        for pod in sorted(pods, key=_key):
            key = _key(pod)
            salt = 0
            while (veth := pod_veth_name(self.prefix, key, salt)) in used:
                salt += 1
            used.add(veth)
            pod_ns = self.ns(Role.POD, key)
            veths.append(Veth(veth, name, ETH0, pod_ns))
            ips = tuple(ipaddress.ip_address(a) for a in _pod_ips(pod))
            pod_routes: list[Route] = []
            for ip in ips:
                gw = gateways[ip.version]
                # kindnet's ptp plugin: the same gateway address on every host-side veth.
                addresses.append(Address(veth, ipaddress.ip_interface(f"{gw}/{gw.max_prefixlen}")))
                routes.append(Route(ipaddress.ip_network(ip), veth))
                pod_routes.append(Route(ipaddress.ip_network(gw), ETH0))
                default = "::/0" if ip.version == 6 else "0.0.0.0/0"
                pod_routes.append(Route(ipaddress.ip_network(default), ETH0, gw))
            pod_namespaces.append(
                NetNamespace(
                    pod_ns,
                    Role.POD,
                    key,
                    addresses=tuple(
                        Address(ETH0, ipaddress.ip_interface(f"{ip}/{ip.max_prefixlen}"))
                        for ip in ips
                    ),
                    routes=tuple(pod_routes),
                    sysctls=host_sysctls(self.config),
                )
            )
            hostname = _hostname(pod)
            plans.append(PodPlan(pod_ns, key, hostname, node_name, ips, served_ports(pod)))
        for other in self.config.cluster_nodes:
            if other.name == node_name:
                continue
            for cidr in other.pod_cidrs:
                via = next(a for a in other.addresses if a.version == cidr.version)
                routes.append(Route(cidr, ETH0, via))
        routes.extend(self._default_routes())
        node_ns = NetNamespace(
            name,
            Role.NODE,
            node_name,
            addresses=tuple(addresses),
            routes=tuple(routes),
            sysctls=node_sysctls(self.config),
        )
        return node_ns, veths, pod_namespaces, plans


def _hostname(pod: Pod) -> str:
    """What the pod's ``os.Hostname()`` returns: ``spec.hostname`` or its name, at most 63
    characters without a trailing ``-`` or ``.`` (kubelet's ``truncatePodHostnameIfNeeded``)."""
    name = pod.spec.hostname or pod.metadata.name or ""
    return name if len(name) <= 63 else name[:63].rstrip("-.")


def _pod_ips(pod: Pod) -> tuple[str, ...]:
    if pod.status.pod_ips:
        return pod.status.pod_ips
    return (pod.status.pod_ip,) if pod.status.pod_ip else ()


def _key(pod: Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"
