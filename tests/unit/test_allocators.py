"""The banded bitmap, the ClusterIP allocator and the NodePort allocator (sheet §2.2–2.4, §3.1)."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.allocators import (
    AllocationFailure,
    AllocatorError,
    BandedBitmap,
    ClusterIPAllocator,
    NodePortAllocator,
    RangeFullError,
    band_offset,
    parse_ip,
)
from k8s_service_lab.config import PortRange
from k8s_service_lab.errors import AllocationError

ip = ipaddress.ip_address
net = ipaddress.ip_network


def clusterips(cidr: str, seed: int = 0) -> ClusterIPAllocator:
    return ClusterIPAllocator(net(cidr), random.Random(seed))


# --- bands (sheet §2.3 and §3.1) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "usable", "offset", "static", "dynamic"),
    [
        ("10.96.0.0/28", 14, 0, None, ("10.96.0.1", "10.96.0.14")),
        ("10.96.0.0/27", 30, 16, ("10.96.0.1", "10.96.0.16"), ("10.96.0.17", "10.96.0.30")),
        ("10.96.0.0/24", 254, 16, ("10.96.0.1", "10.96.0.16"), ("10.96.0.17", "10.96.0.254")),
        ("10.96.0.0/20", 4094, 256, ("10.96.0.1", "10.96.1.0"), ("10.96.1.1", "10.96.15.254")),
        ("10.96.0.0/16", 65534, 256, ("10.96.0.1", "10.96.1.0"), ("10.96.1.1", "10.96.255.254")),
        ("10.96.0.0/12", 1048574, 256, ("10.96.0.1", "10.96.1.0"), ("10.96.1.1", "10.111.255.254")),
        ("fd00:10:96::/124", 15, 0, None, ("fd00:10:96::1", "fd00:10:96::f")),
        (
            "fd00:10:96::/123",
            31,
            16,
            ("fd00:10:96::1", "fd00:10:96::10"),
            ("fd00:10:96::11", "fd00:10:96::1f"),
        ),
        (
            "fd00:10:96::/112",
            65535,
            256,
            ("fd00:10:96::1", "fd00:10:96::100"),
            ("fd00:10:96::101", "fd00:10:96::ffff"),
        ),
        # IPv6 is capped at 65536 bitmap entries (the network address is not one of them).
        (
            "fd00:10:96::/108",
            65535,
            256,
            ("fd00:10:96::1", "fd00:10:96::100"),
            ("fd00:10:96::101", "fd00:10:96::ffff"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_cluster_ip_bands(cidr, usable, offset, static, dynamic):
    alloc = clusterips(cidr)
    assert alloc.size == usable
    assert alloc.free == usable
    assert alloc.static_band_last == (ip(static[1]) if static else None)
    assert (alloc.first, alloc.last) == (
        ip(static[0] if static else dynamic[0]),
        ip(dynamic[1]),
    )
    assert band_offset(net(cidr).num_addresses, minimum=16, maximum=256, step=16) == offset
    if static:
        assert alloc.in_static_band(ip(static[1]))
        assert not alloc.in_static_band(ip(dynamic[0]))


@pytest.mark.parametrize(
    ("text", "offset", "static"),
    [
        ("30000-32767", 86, (30000, 30085)),  # kube-apiserver's default range
        ("30000-30015", 0, None),  # 16 ports: not split
        ("30000-30016", 16, (30000, 30015)),  # 17 ports: the minimum band
        ("30000-30999", 31, (30000, 30030)),  # 1000 // 32
        ("30000-38191", 128, (30000, 30127)),  # 8192 // 32 = 256, capped at 128
    ],
)
def test_node_port_bands(text, offset, static):
    ports = NodePortAllocator(PortRange.parse(text), random.Random(0))
    assert ports.static_band == static
    assert band_offset(ports.size, minimum=16, maximum=128, step=32) == offset


# --- dynamic picks: upper band first, then the lower band, then full ------------------------


def test_dynamic_cluster_ips_fill_the_upper_band_first_then_the_lower_then_fail():
    alloc = clusterips("10.96.0.0/24", seed=4)
    upper = [alloc.allocate_next() for _ in range(254 - 16)]
    assert all(ip("10.96.0.17") <= a <= ip("10.96.0.254") for a in upper)
    lower = [alloc.allocate_next() for _ in range(16)]
    assert sorted(lower) == [ip(f"10.96.0.{i}") for i in range(1, 17)]
    assert alloc.free == 0
    with pytest.raises(RangeFullError) as err:
        alloc.allocate_next()
    assert err.value.failure is AllocationFailure.FULL
    assert isinstance(err.value, AllocationError)  # the apiserver's 500
    assert (
        str(err.value) == "Internal error occurred: failed to allocate a serviceIP: range is full"
    )


def test_dynamic_picks_use_the_upper_band_while_it_has_room_even_when_static_ones_are_taken():
    alloc = clusterips("10.96.0.0/16", seed=9)
    alloc.allocate(ip("10.96.0.10"))  # a static request, in the lower band
    alloc.allocate(ip("10.96.200.1"))  # a static request, in the upper band
    picks = {alloc.allocate_next() for _ in range(5000)}
    assert len(picks) == 5000
    assert min(picks) > ip("10.96.1.0")
    assert ip("10.96.200.1") not in picks


def test_dynamic_node_ports_fill_the_upper_band_first_then_the_lower_then_fail():
    ports = NodePortAllocator(PortRange.parse("30000-30099"), random.Random(1))
    assert ports.static_band == (30000, 30015)
    upper = [ports.allocate_next() for _ in range(84)]
    assert sorted(upper) == list(range(30016, 30100))
    lower = [ports.allocate_next() for _ in range(16)]
    assert sorted(lower) == list(range(30000, 30016))
    with pytest.raises(AllocationError) as err:
        ports.allocate_next()
    assert str(err.value) == "Internal error occurred: failed to allocate a nodePort: range is full"


def test_a_full_dynamic_band_wraps_around_from_a_random_start():
    bits = BandedBitmap(size=200, offset=0, rng=random.Random(5))
    for index in range(199):
        bits.allocate(index)
    assert bits.allocate_next() == 199
    assert bits.allocate_next() is None


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_picks_are_reproducible_with_a_seed(seed):
    def run() -> list[object]:
        alloc = clusterips("fd00:10:96::/112", seed)
        ports = NodePortAllocator(PortRange(30000, 2768), random.Random(seed))
        return [alloc.allocate_next() for _ in range(50)] + [
            ports.allocate_next() for _ in range(50)
        ]

    assert run() == run()


def test_different_seeds_pick_differently():
    picks = {clusterips("10.96.0.0/16", seed).allocate_next() for seed in range(20)}
    assert len(picks) > 1


# --- static requests, errors, release -------------------------------------------------------


@pytest.mark.parametrize(
    "requested", ["10.96.0.1", "10.96.0.10", "10.96.1.0", "10.96.1.1", "10.96.255.254"]
)
def test_static_requests_may_take_either_band(requested):
    alloc = clusterips("10.96.0.0/16")
    alloc.allocate(ip(requested))
    assert alloc.has(ip(requested))
    assert list(alloc) == [ip(requested)]


@pytest.mark.parametrize(
    ("cidr", "requested", "failure", "text"),
    [
        (
            "10.96.0.0/16",
            "1.1.1.1",
            AllocationFailure.MISMATCHED_NETWORK,
            "the provided network does not match the current range",
        ),
        # v1.34's allocator refuses the network and broadcast addresses the same way.
        (
            "10.96.0.0/16",
            "10.96.0.0",
            AllocationFailure.MISMATCHED_NETWORK,
            "the provided network does not match the current range",
        ),
        (
            "10.96.0.0/16",
            "10.96.255.255",
            AllocationFailure.MISMATCHED_NETWORK,
            "the provided network does not match the current range",
        ),
        (
            "10.96.0.0/16",
            "fd00:10:96::1",
            AllocationFailure.MISMATCHED_NETWORK,
            "the provided network does not match the current range",
        ),
        (
            "fd00:10:96::/112",
            "fd00:10:96::",
            AllocationFailure.MISMATCHED_NETWORK,
            "the provided network does not match the current range",
        ),
        (
            "fd00:10:96::/112",
            "fd00:10:97::1",
            AllocationFailure.MISMATCHED_NETWORK,
            "the provided network does not match the current range",
        ),
        # Inside a /108 but past the 65,536-entry IPv6 cap.
        (
            "fd00:10:96::/108",
            "fd00:10:96::1:0",
            AllocationFailure.NOT_IN_RANGE,
            "the provided IP (fd00:10:96::1:0) is not in the valid range. The range of valid IPs is fd00:10:96::/108",
        ),
    ],
)
def test_static_requests_out_of_range(cidr, requested, failure, text):
    alloc = clusterips(cidr)
    with pytest.raises(AllocatorError) as err:
        alloc.allocate(ip(requested))
    assert err.value.failure is failure
    assert str(err.value) == text
    assert len(alloc) == 0


def test_the_ipv6_all_ones_address_is_usable():
    alloc = clusterips("fd00:10:96::/112")
    alloc.allocate(ip("fd00:10:96::ffff"))
    assert alloc.last == ip("fd00:10:96::ffff")


def test_taken_ip_and_release():
    alloc = clusterips("10.96.0.0/16")
    alloc.allocate(ip("10.96.0.10"))
    with pytest.raises(AllocatorError) as err:
        alloc.allocate(ip("10.96.0.10"))
    assert err.value.failure is AllocationFailure.ALREADY_ALLOCATED
    assert str(err.value) == "provided IP is already allocated"
    assert (len(alloc), alloc.free, alloc.used()) == (1, 65533, {ip("10.96.0.10")})
    alloc.release(ip("10.96.0.10"))
    alloc.release(ip("10.96.0.10"))  # releasing a free IP does nothing
    alloc.release(ip("1.1.1.1"))  # nor does releasing a foreign one
    assert (len(alloc), alloc.free, list(alloc)) == (0, 65534, [])
    alloc.allocate(ip("10.96.0.10"))
    assert ip("10.96.0.10") in alloc


@pytest.mark.parametrize(
    ("port", "failure", "text"),
    [
        (
            80,
            AllocationFailure.NOT_IN_RANGE,
            "provided port is not in the valid range. The range of valid ports is 30000-32767",
        ),
        (
            29999,
            AllocationFailure.NOT_IN_RANGE,
            "provided port is not in the valid range. The range of valid ports is 30000-32767",
        ),
        (
            32768,
            AllocationFailure.NOT_IN_RANGE,
            "provided port is not in the valid range. The range of valid ports is 30000-32767",
        ),
        (30080, AllocationFailure.ALREADY_ALLOCATED, "provided port is already allocated"),
    ],
)
def test_node_port_errors(port, failure, text):
    ports = NodePortAllocator(PortRange(30000, 2768), random.Random(0))
    ports.allocate(30080)
    with pytest.raises(AllocatorError) as err:
        ports.allocate(port)
    assert err.value.failure is failure
    assert str(err.value) == text
    assert list(ports) == [30080]


def test_node_port_release_and_both_ends_of_the_range():
    ports = NodePortAllocator(PortRange(30000, 2768), random.Random(0))
    ports.allocate(30000)
    ports.allocate(32767)
    assert list(ports) == [30000, 32767]
    ports.release(30000)
    ports.release(80)
    assert (list(ports), ports.used(), len(ports), ports.free) == ([32767], {32767}, 1, 2767)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.96.0.10", "10.96.0.10"),
        ("010.096.000.010", "10.96.0.10"),  # Go's ParseIPSloppy reads leading zeros as decimal
        ("fd00:10:96::A", "fd00:10:96::a"),
        ("::ffff:10.96.0.1", "10.96.0.1"),  # IPv4-mapped IPv6 counts as IPv4
        ("10.96.0.300", None),
        ("10.96.0", None),
        ("", None),
        ("None", None),
        ("fe80::1%eth0", None),
        ("10.96.0.0/16", None),
    ],
)
def test_parse_ip(text, expected):
    parsed = parse_ip(text)
    assert (str(parsed) if parsed is not None else None) == expected


# --- properties ---------------------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("allocate"), st.integers(-3, 70)),
        st.tuples(st.just("release"), st.integers(-3, 70)),
        st.tuples(st.just("next"), st.just(0)),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    size=st.integers(0, 67), offset_seed=st.integers(0, 16), ops=operations, seed=st.integers(0, 9)
)
def test_bitmap_never_double_allocates_and_counts_stay_true(size, offset_seed, ops, seed):
    offset = band_offset(size, minimum=16, maximum=256, step=16) if offset_seed else 0
    bits = BandedBitmap(size, offset, random.Random(seed))
    model: set[int] = set()
    for op, index in ops:
        if op == "allocate":
            if 0 <= index < size:
                assert bits.allocate(index) == (index not in model)
                model.add(index)
            else:
                with pytest.raises(IndexError):
                    bits.allocate(index)
        elif op == "release":
            bits.release(index)
            model.discard(index)
        else:
            picked = bits.allocate_next()
            if len(model) == size:
                assert picked is None
            else:
                assert picked is not None
                assert picked not in model
                assert 0 <= picked < size
                # The static band is used only once the dynamic band is full.
                if picked < offset:
                    assert set(range(offset, size)) <= model
                model.add(picked)
        assert list(bits) == sorted(model)
        assert (bits.used, bits.free) == (len(model), size - len(model))


@settings(max_examples=100, deadline=None, database=None)
@given(
    ops=st.lists(st.tuples(st.sampled_from(["allocate", "release", "next"]), st.integers(0, 40)))
)
def test_cluster_ips_are_never_double_allocated(ops):
    ips = clusterips("10.96.0.0/27")  # 30 usable addresses, a static band of 16
    held: set[object] = set()
    for op, n in ops:
        address = ip("10.96.0.0") + n
        if op == "allocate" and 1 <= n <= 30 and address not in held:
            ips.allocate(address)
            held.add(address)
        elif op == "allocate":
            with pytest.raises(AllocatorError):
                ips.allocate(address)
        elif op == "release":
            ips.release(address)
            held.discard(address)
        elif len(held) == 30:
            with pytest.raises(AllocationError):
                ips.allocate_next()
        else:
            picked = ips.allocate_next()
            assert picked not in held
            held.add(picked)
        assert set(ips) == held
        assert ips.free == 30 - len(held)


@settings(max_examples=100, deadline=None, database=None)
@given(
    ops=st.lists(st.tuples(st.sampled_from(["allocate", "release", "next"]), st.integers(0, 45)))
)
def test_node_ports_are_never_double_allocated(ops):
    ports = NodePortAllocator(PortRange(30000, 40), random.Random(0))
    held: set[int] = set()
    for op, n in ops:
        port = 30000 + n
        if op == "allocate" and n < 40 and port not in held:
            ports.allocate(port)
            held.add(port)
        elif op == "allocate":
            with pytest.raises(AllocatorError):
                ports.allocate(port)
        elif op == "release":
            ports.release(port)
            held.discard(port)
        elif len(held) == 40:
            with pytest.raises(AllocationError):
                ports.allocate_next()
        else:
            picked = ports.allocate_next()
            assert picked not in held
            held.add(picked)
        assert set(ports) == held
        assert ports.free == 40 - len(held)
