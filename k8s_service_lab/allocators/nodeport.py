"""The NodePort allocator: one cluster-wide pool of port numbers, with KEP-3668 bands.

    >>> import random
    >>> from k8s_service_lab.allocators.nodeport import NodePortAllocator
    >>> from k8s_service_lab.config import PortRange
    >>> ports = NodePortAllocator(PortRange(30000, 2768), random.Random(3))
    >>> ports.static_band                      # requested ports should come from here
    (30000, 30085)
    >>> ports.allocate_next() >= 30086         # random picks avoid it while they can
    True
    >>> ports.allocate(30080)
    >>> ports.allocate(30080)
    Traceback (most recent call last):
    ...
    k8s_service_lab.allocators.bitmap.AllocatorError: provided port is already allocated

One bitmap serves every protocol: a port taken for TCP is taken for UDP and SCTP too, which is
why two Services can never share a NodePort number (``--service-node-port-range``,
``pkg/registry/core/service/portallocator/allocator.go``).

The static band is the first ``min(max(16, size // 32), 128)`` ports (none for ranges of 16
ports or fewer): 30000–30085 for the default range of 2768 ports. A dynamic pick starts at a
random port of the upper band and scans forward, wrapping; once that band is full it does the
same in the static band. Error texts are upstream's:

- ``provided port is not in the valid range. The range of valid ports is 30000-32767``
- ``provided port is already allocated``
- a full range: ``Internal error occurred: failed to allocate a nodePort: range is full``
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from k8s_service_lab.allocators.bitmap import (
    AllocationFailure,
    AllocatorError,
    BandedBitmap,
    RangeFullError,
    band_offset,
)
from k8s_service_lab.config import PortRange

__all__ = ["NodePortAllocator"]


class NodePortAllocator:
    """Hands out NodePorts from a :class:`~k8s_service_lab.config.PortRange`.

    Iterating gives the taken ports, ascending.
    """

    __slots__ = ("_bits", "_range")

    def __init__(self, port_range: PortRange, rng: random.Random):
        self._range = port_range
        offset = band_offset(port_range.size, minimum=16, maximum=128, step=32)
        self._bits = BandedBitmap(port_range.size, offset, rng)

    @property
    def port_range(self) -> PortRange:
        return self._range

    @property
    def static_band(self) -> tuple[int, int] | None:
        """First and last port of the static band, or ``None`` when the range is not split."""
        offset = self._bits.offset
        return (self._range.base, self._range.base + offset - 1) if offset else None

    @property
    def size(self) -> int:
        return self._bits.size

    def used(self) -> frozenset[int]:
        """The taken ports, as a snapshot (``len(allocator)`` counts them)."""
        return frozenset(self)

    @property
    def free(self) -> int:
        return self._bits.free

    def allocate(self, port: int) -> None:
        """Take ``port``, or raise :class:`AllocatorError` saying why, in upstream's words."""
        if port not in self._range:
            raise AllocatorError(
                AllocationFailure.NOT_IN_RANGE,
                "provided port is not in the valid range. "
                f"The range of valid ports is {self._range}",
            )
        if not self._bits.allocate(port - self._range.base):
            raise AllocatorError(
                AllocationFailure.ALREADY_ALLOCATED, "provided port is already allocated"
            )

    def allocate_next(self) -> int:
        """Pick a free port: a random start in the dynamic band, then the static band."""
        index = self._bits.allocate_next()
        if index is None:
            raise RangeFullError("a nodePort")
        return self._range.base + index

    def release(self, port: int) -> None:
        """Give ``port`` back; releasing a free or out-of-range port does nothing."""
        if port in self._range:
            self._bits.release(port - self._range.base)

    def has(self, port: int) -> bool:
        return port in self._range and self._bits.has(port - self._range.base)

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.has(port)

    def __iter__(self) -> Iterator[int]:
        base = self._range.base
        return (base + index for index in self._bits)

    def __len__(self) -> int:
        return self._bits.used

    def __repr__(self) -> str:
        return f"NodePortAllocator({self._range}, used={len(self)}/{self.size})"
