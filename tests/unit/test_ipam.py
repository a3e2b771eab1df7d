"""host-local style pod IPAM: order, gateway, wrap-around, reuse, dual-stack, exhaustion."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.config import ClusterConfig, Networking
from k8s_service_lab.controlplane.ipam import ClusterIPAM, NodeIPAM, PodIPExhaustedError


def small() -> NodeIPAM:
    # /29: .0 network, .1 gateway, .2-.6 usable, .7 broadcast
    return NodeIPAM("n", (ip_network("10.244.1.0/29"),))


def test_sequential_from_two_gateway_skipped() -> None:
    ipam = small()
    got = [ipam.allocate(f"p{i}")[0] for i in range(5)]
    assert got == [f"10.244.1.{i}" for i in range(2, 7)]


def test_exhaustion_message() -> None:
    ipam = small()
    for i in range(5):
        ipam.allocate(f"p{i}")
    with pytest.raises(PodIPExhaustedError) as err:
        ipam.allocate("late")
    assert str(err.value) == (
        "failed to allocate for range 0: no IP addresses available in range set: "
        "10.244.1.1-10.244.1.6"
    )


def test_freed_ip_reused_only_after_wrapping() -> None:
    ipam = small()
    for i in range(3):
        ipam.allocate(f"p{i}")  # .2 .3 .4
    ipam.release("p0")  # .2 free
    assert ipam.allocate("a") == ("10.244.1.5",)
    assert ipam.allocate("b") == ("10.244.1.6",)
    assert ipam.allocate("c") == ("10.244.1.2",)  # wrapped, gateway skipped


def test_allocate_is_idempotent_per_owner() -> None:
    ipam = small()
    assert ipam.allocate("p") == ipam.allocate("p") == ("10.244.1.2",)


def test_dual_stack_one_per_family_primary_first() -> None:
    config = ClusterConfig(networking=Networking(ip_family="dual"))
    node = config.cluster_nodes[0]
    ipam = ClusterIPAM([node])
    ips = ipam.allocate(node.name, "p")
    assert len(ips) == 2
    assert ":" not in ips[0]
    assert ":" in ips[1]
    assert ips[0].endswith(".2")
    assert ips[1].endswith("::2")


def test_cluster_ipam_per_node_ranges() -> None:
    config = ClusterConfig.default()
    ipam = ClusterIPAM(config.cluster_nodes)
    assert ipam.allocate("kind-worker", "a") == ("10.244.1.2",)
    assert ipam.allocate("kind-worker2", "b") == ("10.244.2.2",)
    assert ipam.allocate("kind-worker", "c") == ("10.244.1.3",)
    ipam.release("a")
    assert ipam.allocate("kind-worker", "d") == ("10.244.1.4",)
    with pytest.raises(PodIPExhaustedError):
        ipam.allocate("nowhere", "e")


@settings(database=None, max_examples=60)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 9)), max_size=40))
def test_never_duplicates_never_gateway(ops: list[tuple[bool, int]]) -> None:
    ipam = small()
    held: dict[str, str] = {}
    for allocate, who in ops:
        owner = f"p{who}"
        if allocate:
            try:
                (ip,) = ipam.allocate(owner)
            except PodIPExhaustedError:
                assert len(held) == 5
                continue
            held[owner] = ip
        else:
            ipam.release(owner)
            held.pop(owner, None)
    assert len(set(held.values())) == len(held)
    assert "10.244.1.1" not in held.values()
