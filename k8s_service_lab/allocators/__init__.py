"""Allocators: where ClusterIPs and NodePorts come from, as kube-apiserver v1.34 hands them out.

    >>> import random
    >>> from k8s_service_lab.allocators import ServiceAllocations
    >>> from k8s_service_lab.config import ClusterConfig
    >>> allocations = ServiceAllocations(ClusterConfig.default(), random.Random(0))
    >>> allocations.ip_allocators["IPv4"].static_band_last, allocations.node_ports.static_band
    (IPv4Address('10.96.1.0'), (30000, 30085))

- :mod:`~k8s_service_lab.allocators.bitmap` — the banded bitmap both allocators share (static
  band for requested values, random picks from the dynamic band first), and the typed error.
- :mod:`~k8s_service_lab.allocators.clusterip` — one service CIDR's ClusterIPs.
- :mod:`~k8s_service_lab.allocators.nodeport` — the cluster-wide NodePort range.
- :mod:`~k8s_service_lab.allocators.service` — the apiserver's allocation step for a Service
  create: IP families, ClusterIPs, NodePorts, health-check NodePort, all-or-nothing.
"""

from __future__ import annotations

from k8s_service_lab.allocators.bitmap import (
    AllocationFailure,
    AllocatorError,
    BandedBitmap,
    RangeFullError,
    band_offset,
)
from k8s_service_lab.allocators.clusterip import ClusterIPAllocator, family_of, parse_ip
from k8s_service_lab.allocators.nodeport import NodePortAllocator
from k8s_service_lab.allocators.service import (
    ServiceAllocations,
    Transaction,
)

__all__ = [
    "AllocationFailure",
    "AllocatorError",
    "BandedBitmap",
    "ClusterIPAllocator",
    "NodePortAllocator",
    "RangeFullError",
    "ServiceAllocations",
    "Transaction",
    "band_offset",
    "family_of",
    "parse_ip",
]
