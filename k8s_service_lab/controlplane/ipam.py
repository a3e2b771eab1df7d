"""Pod IP addresses, handed out per node the way the CNI's ``host-local`` IPAM plugin does.

kind's CNI (kindnet) gives each node's pods addresses from that node's ``podCIDR`` with
host-local semantics: the range runs from ``.1`` to the last address before broadcast, ``.1``
is the gateway and never handed out, allocation is sequential *after the last address handed
out* (host-local stores ``last_reserved_ip``), wraps at the end, and so a freed address is only
reused after the allocator has gone all the way round::

    >>> from ipaddress import ip_network
    >>> from k8s_service_lab.controlplane.ipam import NodeIPAM
    >>> ipam = NodeIPAM("kind-worker", (ip_network("10.244.1.0/24"),))
    >>> ipam.allocate("default/a"), ipam.allocate("default/b")
    (('10.244.1.2',), ('10.244.1.3',))
    >>> ipam.release("default/a")
    >>> ipam.allocate("default/c")   # .2 is free again, but host-local moves on
    ('10.244.1.4',)

A dual-stack node has one range per family and gives a pod one address of each, primary
family first (``ClusterNode.pod_cidrs`` is already in that order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from k8s_service_lab.config import ClusterNode
from k8s_service_lab.errors import ServiceLabError

__all__ = ["ClusterIPAM", "NodeIPAM", "PodIPExhaustedError", "RangeAllocator"]

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


class PodIPExhaustedError(ServiceLabError):
    """host-local found no free address: the pod's sandbox cannot be created."""

    reason = "FailedCreatePodSandBox"


@dataclass(slots=True)
class RangeAllocator:
    """One host-local range: ``subnet`` from network+1 to broadcast-1, gateway network+1.

    Mirrors ``plugins/ipam/host-local/backend/allocator``: ``GetIter`` starts right after
    ``last_reserved`` (or at the range start when nothing was ever reserved) and walks the
    range once, wrapping, skipping the gateway and addresses already in use.
    """

    subnet: Network
    in_use: dict[int, str] = field(default_factory=dict)
    last_reserved: int | None = None

    @property
    def first(self) -> int:
        return int(self.subnet.network_address) + 1

    @property
    def last(self) -> int:
        # IPv4 leaves out broadcast; host-local treats the last IPv6 address the same way.
        return int(self.subnet.broadcast_address) - 1

    @property
    def gateway(self) -> int:
        return int(self.subnet.network_address) + 1

    def allocate(self, owner: str) -> Address:
        size = self.last - self.first + 1
        start = self.first if self.last_reserved is None else self.last_reserved + 1
        for step in range(size):
            candidate = start + step
            if candidate > self.last:
                candidate -= size
            if candidate == self.gateway or candidate in self.in_use:
                continue
            self.in_use[candidate] = owner
            self.last_reserved = candidate
            return self.address(candidate)
        raise PodIPExhaustedError(
            f"failed to allocate for range 0: no IP addresses available in range set: "
            f"{self.address(self.first)}-{self.address(self.last)}"
        )

    def release(self, owner: str) -> list[Address]:
        freed = [ip for ip, who in self.in_use.items() if who == owner]
        for ip in freed:
            del self.in_use[ip]
        return [self.address(ip) for ip in freed]

    def address(self, value: int) -> Address:
        return IPv4Address(value) if self.subnet.version == 4 else IPv6Address(value)


class NodeIPAM:
    """host-local on one node: one :class:`RangeAllocator` per pod CIDR, primary first."""

    def __init__(self, node: str, pod_cidrs: Iterable[Network]) -> None:
        self.node = node
        self.ranges = [RangeAllocator(cidr) for cidr in pod_cidrs]

    def allocate(self, owner: str) -> tuple[str, ...]:
        """Addresses for ``owner`` (a pod key ``namespace/name``), one per family."""
        if owner in self.owners():
            return self.addresses_of(owner)
        taken: list[str] = []
        try:
            for rng in self.ranges:
                taken.append(str(rng.allocate(owner)))
        except PodIPExhaustedError:
            self.release(owner)  # all families or none, as host-local's ADD does
            raise
        return tuple(taken)

    def release(self, owner: str) -> None:
        for rng in self.ranges:
            rng.release(owner)

    def owners(self) -> set[str]:
        return {who for rng in self.ranges for who in rng.in_use.values()}

    def addresses_of(self, owner: str) -> tuple[str, ...]:
        return tuple(
            str(rng.address(ip))
            for rng in self.ranges
            for ip, who in rng.in_use.items()
            if who == owner
        )


class ClusterIPAM:
    """Every node's host-local state, keyed by node name (what kindnet runs on each node)."""

    def __init__(self, nodes: Iterable[ClusterNode] = ()) -> None:
        self._nodes: dict[str, NodeIPAM] = {}
        for node in nodes:
            self.add_node(node.name, node.pod_cidrs)

    def add_node(self, name: str, pod_cidrs: Iterable[Network]) -> NodeIPAM:
        """Start tracking a node (again: a node that exists keeps its state)."""
        if name not in self._nodes:
            self._nodes[name] = NodeIPAM(name, pod_cidrs)
        return self._nodes[name]

    def node(self, name: str) -> NodeIPAM | None:
        return self._nodes.get(name)

    def allocate(self, node: str, owner: str) -> tuple[str, ...]:
        ipam = self._nodes.get(node)
        if ipam is None:
            raise PodIPExhaustedError(f'node "{node}" has no pod CIDR')
        return ipam.allocate(owner)

    def release(self, owner: str) -> None:
        for ipam in self._nodes.values():
            ipam.release(owner)
