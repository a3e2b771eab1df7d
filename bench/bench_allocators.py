"""Allocator budgets (DESIGN §9): every ClusterIP of a /16, picked dynamically, in < 0.5 s.

Run with ``nox -s bench`` or::

    pytest bench/bench_allocators.py --benchmark-only -p no:cacheprovider

Each round builds a fresh allocator and empties it by dynamic picks only, the hardest case for
the random-start scan: the last picks must find the few free entries left in a nearly full
bitmap.
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from k8s_service_lab.allocators import ClusterIPAllocator, NodePortAllocator, ServiceAllocations
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
from k8s_service_lab.config import ClusterConfig, PortRange

BUDGET_SLASH_16 = 0.5  # seconds, DESIGN §9


def _fill(cidr: str) -> ClusterIPAllocator:
    allocator = ClusterIPAllocator(ipaddress.ip_network(cidr), random.Random(0))
    for _ in range(allocator.size):
        allocator.allocate_next()
    return allocator


@pytest.mark.parametrize("cidr", ["10.96.0.0/16", "fd00:10:96::/112"])
def test_allocate_every_cluster_ip_dynamically(benchmark, cidr):
    allocator = benchmark.pedantic(_fill, args=(cidr,), rounds=5, iterations=1, warmup_rounds=1)
    assert allocator.free == 0
    if benchmark.stats is not None:  # None when benchmarks are disabled
        assert benchmark.stats.stats.max < BUDGET_SLASH_16


def test_allocate_every_node_port_dynamically(benchmark):
    def fill() -> NodePortAllocator:
        ports = NodePortAllocator(PortRange(30000, 2768), random.Random(0))
        for _ in range(ports.size):
            ports.allocate_next()
        return ports

    assert benchmark.pedantic(fill, rounds=10, iterations=1).free == 0


def test_create_10000_node_port_services(benchmark):
    """The whole allocation step (families, ClusterIP, NodePort) for 10,000 creates."""
    services = [
        Service(
            ObjectMeta(name=f"s{i}", namespace="default"),
            ServiceSpec(
                type="NodePort",
                selector={"app": f"s{i}"},
                ports=(ServicePort(80, protocol="TCP", target_port=80),),
                external_traffic_policy="Cluster",
            ),
        )
        for i in range(10_000)
    ]
    config = ClusterConfig.default(node_port_range=PortRange(30000, 12000))

    def create_all() -> ServiceAllocations:
        allocations = ServiceAllocations(config, random.Random(0))
        for svc in services:
            _, txn = allocations.allocate_for_create(svc)
            txn.commit()
        return allocations

    allocations = benchmark.pedantic(create_all, rounds=3, iterations=1)
    assert len(allocations.node_ports) == 10_000
