"""What one Service write took from the allocators, and what it will give back once it commits.

The apiserver has no transactional store, so the Service storage keeps its own books
(``pkg/registry/core/service/storage/transaction.go`` and the port allocator's
``PortAllocationOperation``): values taken *now* are given back if the write fails
(:meth:`Transaction.revert`); values the write no longer needs are released only when it
succeeds (:meth:`Transaction.commit`) — so a rejected update never loses an IP or a port::

    >>> import random
    >>> from k8s_service_lab.allocators.nodeport import NodePortAllocator
    >>> from k8s_service_lab.allocators.transaction import Transaction
    >>> from k8s_service_lab.config import PortRange
    >>> ports = NodePortAllocator(PortRange(30000, 2768), random.Random(0))
    >>> ports.allocate(30080)                 # held by the Service before the update
    >>> txn = Transaction(ports)
    >>> ports.allocate(30081); txn.took_port(30081)
    >>> txn.release_port_on_commit(30080)
    >>> sorted(ports.used())                  # both held while the update is in flight
    [30080, 30081]
    >>> txn.commit()
    >>> sorted(ports.used())
    [30081]
"""

from __future__ import annotations

from k8s_service_lab.allocators.clusterip import IP, ClusterIPAllocator
from k8s_service_lab.allocators.nodeport import NodePortAllocator

__all__ = ["Transaction"]


class Transaction:
    """Taken values (given back on :meth:`revert`) and deferred releases (done on :meth:`commit`).

    Reverting releases in reverse order; a committed transaction can no longer be reverted,
    and a reverted one can no longer be committed.
    """

    __slots__ = ("_ips", "_node_ports", "_ports", "_release_ips", "_release_ports", "_state")

    def __init__(self, node_ports: NodePortAllocator):
        self._node_ports = node_ports
        self._ips: list[tuple[ClusterIPAllocator, IP]] = []
        self._ports: list[int] = []
        self._release_ips: list[tuple[ClusterIPAllocator, IP]] = []
        self._release_ports: list[int] = []
        self._state = "open"

    @property
    def cluster_ips(self) -> tuple[IP, ...]:
        """The ClusterIPs this write took."""
        return tuple(ip for _, ip in self._ips)

    @property
    def node_ports(self) -> tuple[int, ...]:
        """The NodePorts (health-check port included) this write took."""
        return tuple(self._ports)

    @property
    def released_ips(self) -> tuple[IP, ...]:
        """The ClusterIPs this write gives back when it commits."""
        return tuple(ip for _, ip in self._release_ips)

    @property
    def released_ports(self) -> tuple[int, ...]:
        """The NodePorts this write gives back when it commits."""
        return tuple(self._release_ports)

    @property
    def state(self) -> str:
        """``open``, ``committed`` or ``reverted``."""
        return self._state

    def commit(self) -> None:
        """Keep what was taken and give back what is no longer needed (the write was stored)."""
        if self._state == "reverted":
            raise RuntimeError("cannot commit a reverted allocation transaction")
        if self._state == "open":
            for port in self._release_ports:
                self._node_ports.release(port)
            for allocator, ip in self._release_ips:
                allocator.release(ip)
        self._state = "committed"

    def revert(self) -> None:
        """Give back what was taken; keep what was to be released. Idempotent."""
        if self._state == "committed":
            raise RuntimeError("cannot revert a committed allocation transaction")
        if self._state == "open":
            for port in reversed(self._ports):
                self._node_ports.release(port)
            for allocator, ip in reversed(self._ips):
                allocator.release(ip)
        self._state = "reverted"

    def took_ip(self, allocator: ClusterIPAllocator, ip: IP) -> None:
        """Record an IP taken from ``allocator`` (given back on revert)."""
        self._ips.append((allocator, ip))

    def took_port(self, port: int) -> None:
        """Record a NodePort taken (given back on revert)."""
        self._ports.append(port)

    def release_ip_on_commit(self, allocator: ClusterIPAllocator, ip: IP) -> None:
        """Give ``ip`` back to ``allocator`` once the write commits (upstream ``releaseIPs``)."""
        self._release_ips.append((allocator, ip))

    def release_port_on_commit(self, port: int) -> None:
        """Give ``port`` back once the write commits (upstream ``ReleaseDeferred``)."""
        self._release_ports.append(port)
