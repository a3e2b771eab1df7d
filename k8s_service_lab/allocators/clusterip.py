"""The ClusterIP allocator for one service CIDR, as kube-apiserver v1.34 hands out Service IPs.

    >>> import ipaddress, random
    >>> from k8s_service_lab.allocators.clusterip import ClusterIPAllocator
    >>> ips = ClusterIPAllocator(ipaddress.ip_network("10.96.0.0/16"), random.Random(7))
    >>> ips.first, ips.last, ips.static_band_last        # usable range and the static band
    (IPv4Address('10.96.0.1'), IPv4Address('10.96.255.254'), IPv4Address('10.96.1.0'))
    >>> ips.allocate_next() > ips.static_band_last       # dynamic picks avoid the static band
    True
    >>> ips.allocate(ipaddress.ip_address("10.96.0.10"))  # kube-dns asks for index 10
    >>> ips.allocate(ipaddress.ip_address("10.96.0.10"))
    Traceback (most recent call last):
    ...
    k8s_service_lab.allocators.bitmap.AllocatorError: provided IP is already allocated

**Usable addresses.** The network address is never handed out, nor the IPv4 broadcast
address: a /24 serves .1–.254. IPv6 keeps its all-ones address. The bitmap is capped at 65,536
entries for IPv6, as the legacy bitmap allocator was (entry 0 is the network address + 1, so a
/112 serves ``::1``–``::ffff``); for prefixes shorter than /112 that cap is where this model
stops following v1.34, whose IPAddress allocator would serve the whole prefix.

**Bands** (KEP-3070): the static band is the first ``min(max(16, 2**hostbits // 16), 256)``
usable addresses (none for /28 and smaller), e.g. ``10.96.0.1``–``10.96.1.0`` for a /16.

**Error texts, settled from upstream for v1.34.** Since 1.33 the default allocator is the
ServiceCIDR/IPAddress one (KEP-1880, ``pkg/registry/core/service/ipallocator/cidrallocator.go``),
and from 1.34 it no longer dual-writes the old bitmap (gate ``DisableAllocatorDualWrite`` GA,
on). Its ``MetaAllocator`` first looks for a ServiceCIDR that *contains* the requested IP, where
"contains" excludes the network address and the IPv4 broadcast address
(``pkg/api/servicecidr``'s ``PrefixContainsIP``). So a requested IP outside the range, *or equal
to its network or broadcast address*, fails with

    the provided network does not match the current range        (MISMATCHED_NETWORK)

and never reaches the per-range "not in the valid range" check, whose 1.34 text
(``ipallocator/interfaces.go``) is

    the provided IP (IP) is not in the valid range. The range of valid IPs is CIDR

This model raises that NOT_IN_RANGE text only for IPv6 addresses inside the prefix but past the
65,536-entry cap above. A taken IP gives ``provided IP is already allocated``; a full range
gives the apiserver's 500 ``Internal error occurred: failed to allocate a serviceIP: range is
full`` (:class:`~k8s_service_lab.allocators.bitmap.RangeFullError`).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from typing import TypeAlias

from k8s_service_lab.allocators.bitmap import (
    AllocationFailure,
    AllocatorError,
    BandedBitmap,
    RangeFullError,
    band_offset,
)
from k8s_service_lab.api.service import IPFamily
from k8s_service_lab.api.validation.ipparse import parse_ip_sloppy

__all__ = ["IP", "IPV6_MAX_ENTRIES", "ClusterIPAllocator", "Network", "family_of", "parse_ip"]

IP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The legacy bitmap's IPv6 cap (entries, before dropping the network address).
IPV6_MAX_ENTRIES = 65536


def parse_ip(text: str) -> IP | None:
    """Parse an IP the way the apiserver does in v1.34 (``netutils.ParseIPSloppy``), or ``None``.

    Unlike Python's :mod:`ipaddress`, IPv4 parts may carry leading zeros, read as *decimal*
    (``010.096.0.010`` is ``10.96.0.10``), as Go's parser did before 1.17. IPv6 zones
    (``fe80::1%eth0``) are refused, and IPv4-mapped IPv6 (``::ffff:10.96.0.1``) counts as IPv4,
    as Go's ``net.IP.To4`` sees it.

    >>> parse_ip("010.096.000.010"), parse_ip("10.96.0.300"), parse_ip("fd00:10:96::A")
    (IPv4Address('10.96.0.10'), None, IPv6Address('fd00:10:96::a'))
    """
    parsed = parse_ip_sloppy(text)
    return None if parsed is None else parsed.to_ipaddress()


def family_of(ip: IP) -> IPFamily:
    """``IPv4`` or ``IPv6``: the ``ipFamilies`` word for an address."""
    return IPFamily.IPV4 if ip.version == 4 else IPFamily.IPV6


class ClusterIPAllocator:
    """Hands out ClusterIPs from one service CIDR (one IP family).

    ``allocate(ip)`` takes a requested IP or raises :class:`AllocatorError`;
    ``allocate_next()`` picks one (upper band first) or raises :class:`RangeFullError`.
    Iterating gives the taken IPs, ascending.
    """

    __slots__ = ("_address", "_bits", "_cidr", "_family", "_first")

    def __init__(self, cidr: Network, rng: random.Random):
        self._cidr = cidr
        self._family = family_of(cidr.network_address)
        total = cidr.num_addresses
        # IPv4 loses the network and broadcast addresses, IPv6 only the network address.
        entries = total - 2 if cidr.version == 4 else min(total, IPV6_MAX_ENTRIES) - 1
        self._first = int(cidr.network_address) + 1
        self._address: type[IP] = type(cidr.network_address)
        # The band split is computed on the CIDR's full size, not on the usable count.
        offset = band_offset(total, minimum=16, maximum=256, step=16)
        self._bits = BandedBitmap(max(entries, 0), offset if entries > 0 else 0, rng)

    @property
    def cidr(self) -> Network:
        return self._cidr

    @property
    def family(self) -> IPFamily:
        return self._family

    @property
    def size(self) -> int:
        """How many IPs this allocator can hand out."""
        return self._bits.size

    def used(self) -> frozenset[IP]:
        """The taken IPs, as a snapshot (``len(allocator)`` counts them)."""
        return frozenset(self)

    @property
    def free(self) -> int:
        return self._bits.free

    @property
    def first(self) -> IP:
        """The first usable address (network + 1)."""
        return self._ip(0)

    @property
    def last(self) -> IP:
        """The last usable address."""
        return self._ip(self._bits.size - 1)

    @property
    def static_band_last(self) -> IP | None:
        """The last address of the static band, or ``None`` when the range is not split."""
        offset = self._bits.offset
        return self._ip(offset - 1) if offset else None

    def in_static_band(self, ip: IP) -> bool:
        index = self._index(ip)
        return index is not None and index < self._bits.offset

    def allocate(self, ip: IP) -> None:
        """Take ``ip``, or raise :class:`AllocatorError` saying why, in upstream's words."""
        if ip.version != self._cidr.version or not self._usable(ip):
            raise AllocatorError(
                AllocationFailure.MISMATCHED_NETWORK,
                "the provided network does not match the current range",
            )
        index = self._index(ip)
        if index is None:
            raise AllocatorError(
                AllocationFailure.NOT_IN_RANGE,
                f"the provided IP ({ip}) is not in the valid range. "
                f"The range of valid IPs is {self._cidr}",
            )
        if not self._bits.allocate(index):
            raise AllocatorError(
                AllocationFailure.ALREADY_ALLOCATED, "provided IP is already allocated"
            )

    def allocate_next(self) -> IP:
        """Pick a free IP: a random start in the dynamic band, then the static band."""
        index = self._bits.allocate_next()
        if index is None:
            raise RangeFullError("a serviceIP")
        return self._ip(index)

    def release(self, ip: IP) -> None:
        """Give ``ip`` back; releasing a free or foreign IP does nothing (as upstream)."""
        index = self._index(ip)
        if index is not None:
            self._bits.release(index)

    def has(self, ip: IP) -> bool:
        index = self._index(ip)
        return index is not None and self._bits.has(index)

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address) and self.has(ip)

    def __iter__(self) -> Iterator[IP]:
        return (self._ip(index) for index in self._bits)

    def __len__(self) -> int:
        return self._bits.used

    def __repr__(self) -> str:
        return f"ClusterIPAllocator({self._cidr}, used={len(self)}/{self.size})"

    def _usable(self, ip: IP) -> bool:
        # What v1.34's MetaAllocator accepts: inside the prefix, not the network address,
        # and for IPv4 not the broadcast address.
        if ip not in self._cidr or ip == self._cidr.network_address:
            return False
        return ip.version == 6 or ip != self._cidr.broadcast_address

    def _index(self, ip: IP) -> int | None:
        if ip.version != self._cidr.version:
            return None
        index = int(ip) - self._first
        return index if 0 <= index < self._bits.size else None

    def _ip(self, index: int) -> IP:
        return self._address(self._first + index)
