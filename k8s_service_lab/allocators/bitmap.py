"""The bitmap at the heart of the ClusterIP and NodePort allocators, with static/dynamic bands.

Both allocators hand out numbered *entries* (entry 0 = the first usable IP, or the first port
of the range). Since KEP-3070 (ClusterIPs, GA 1.26) and KEP-3668 (NodePorts, GA 1.29) the
entries are split in two bands at an *offset*: entries below it form the **static** band, the
rest the **dynamic** band. A dynamic pick (no value requested) starts at a random entry of the
dynamic band and scans forward, wrapping inside that band; only when the whole dynamic band is
taken does it try the static band the same way. A static request may take any entry. So people
who choose their own ClusterIPs or NodePorts from the low band rarely collide with random picks.

    >>> import random
    >>> from k8s_service_lab.allocators.bitmap import BandedBitmap
    >>> bits = BandedBitmap(size=20, offset=16, rng=random.Random(1))
    >>> sorted(bits.allocate_next() for _ in range(4))   # the dynamic band is 16..19
    [16, 17, 18, 19]
    >>> bits.allocate_next() < 16                        # then the static band
    True
    >>> bits.allocate(3), bits.allocate(3)               # a static request, then the same again
    (True, False)

The random number generator is injected (a :class:`random.Random`), so a seed makes every pick
reproducible. Picks will not match a real apiserver's, which uses Go's ``math/rand``; tests
should assert bands and uniqueness, never exact values.

This module also holds what the allocators share: :class:`AllocationFailure` (why an allocator
refused), :class:`AllocatorError` (a refused request, carrying it) and :class:`RangeFullError`
(a dynamic pick from a full range, the apiserver's 500).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterator

from k8s_service_lab.errors import AllocationError, ServiceLabError

__all__ = ["AllocationFailure", "AllocatorError", "BandedBitmap", "RangeFullError", "band_offset"]

# Entries are grouped in blocks of 64 with a per-block "full" flag, so finding a free entry
# skips whole full blocks at C speed (bytes.find) instead of testing entries one by one.
_BLOCK_SHIFT = 6
_BLOCK = 1 << _BLOCK_SHIFT
_FREE = 0
_TAKEN = 1


class AllocationFailure(enum.Enum):
    """Why an allocator refused a request (the Go allocators' sentinel errors)."""

    ALREADY_ALLOCATED = "already allocated"
    NOT_IN_RANGE = "not in range"
    MISMATCHED_NETWORK = "mismatched network"
    FULL = "full"


class AllocatorError(ServiceLabError):
    """An allocator's own refusal: ``failure`` says why, ``str()`` is upstream's exact text.

    The apiserver wraps this text into a field error (``spec.clusterIPs: Invalid value: ...:
    failed to allocate IP 10.96.0.10: provided IP is already allocated``); that wrapping is
    :mod:`k8s_service_lab.allocators.service`'s job.
    """

    def __init__(self, failure: AllocationFailure, message: str):
        self.failure = failure
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


class RangeFullError(AllocationError):
    """A dynamic pick from a full range: the apiserver's 500 (``failure`` is always FULL).

    ``RangeFullError("a nodePort")`` reads ``Internal error occurred: failed to allocate a
    nodePort: range is full``.
    """

    failure = AllocationFailure.FULL

    def __init__(self, what: str):
        super().__init__(what, "range is full")


def band_offset(size: int, *, minimum: int, maximum: int, step: int) -> int:
    """Size of the static band: ``min(max(minimum, size // step), maximum)``, 0 when tiny.

    ClusterIPs use ``minimum=16, maximum=256, step=16`` on the CIDR's address count; NodePorts
    use ``minimum=16, maximum=128, step=32`` on the port count. A range of at most ``minimum``
    entries is not split at all.

    >>> band_offset(65536, minimum=16, maximum=256, step=16)   # a /16
    256
    >>> band_offset(2768, minimum=16, maximum=128, step=32)    # 30000-32767
    86
    >>> band_offset(16, minimum=16, maximum=256, step=16)      # a /28
    0
    """
    if size <= minimum:
        return 0
    return min(max(minimum, size // step), maximum)


class BandedBitmap:
    """``size`` entries, the first ``offset`` of them the static band.

    Mutable by nature (it *is* the allocation state), so not a dataclass. ``used`` and
    ``free`` are kept as counters, so asking costs nothing.
    """

    __slots__ = ("_bits", "_counts", "_full", "_offset", "_rng", "_size", "_used")

    def __init__(self, size: int, offset: int, rng: random.Random):
        if size < 0 or not 0 <= offset <= size or (offset == size and size > 0):
            raise ValueError(f"bad bitmap shape: size={size}, offset={offset}")
        self._size = size
        self._offset = offset
        self._rng = rng
        self._used = 0
        blocks = (size + _BLOCK - 1) >> _BLOCK_SHIFT
        padding = blocks * _BLOCK - size
        # The tail of the last block is padded with taken entries, so that block can become
        # "full" like any other; searches never look past ``size``.
        self._bits = bytearray(size) + bytes([_TAKEN]) * padding
        self._counts = bytearray(blocks)
        self._full = bytearray(blocks)
        if padding:
            self._counts[-1] = padding

    @property
    def size(self) -> int:
        """Number of entries (usable IPs or ports)."""
        return self._size

    @property
    def offset(self) -> int:
        """Number of entries in the static band (0: no split)."""
        return self._offset

    @property
    def used(self) -> int:
        return self._used

    @property
    def free(self) -> int:
        return self._size - self._used

    def has(self, index: int) -> bool:
        """Whether entry ``index`` is taken (out-of-range entries never are)."""
        return 0 <= index < self._size and self._bits[index] == _TAKEN

    def allocate(self, index: int) -> bool:
        """Take entry ``index``; ``False`` if it was already taken. Raises ``IndexError``."""
        if not 0 <= index < self._size:
            raise IndexError(f"entry {index} outside 0..{self._size - 1}")
        if self._bits[index] == _TAKEN:
            return False
        self._take(index)
        return True

    def allocate_next(self) -> int | None:
        """Take a free entry by the random-with-offset strategy; ``None`` when all are taken."""
        if self._used >= self._size:
            return None
        offset, size = self._offset, self._size
        start = offset + self._rng.randrange(size - offset)
        index = self._first_free(start, size)
        if index < 0:
            index = self._first_free(offset, start)
        if index < 0 and offset > 0:
            start = self._rng.randrange(offset)
            index = self._first_free(start, offset)
            if index < 0:
                index = self._first_free(0, start)
        if index < 0:  # pragma: no cover - the used counter says there is a free entry
            raise RuntimeError("bitmap counters disagree with the bits")
        self._take(index)
        return index

    def release(self, index: int) -> None:
        """Give entry ``index`` back; releasing a free or out-of-range entry does nothing."""
        if not 0 <= index < self._size or self._bits[index] == _FREE:
            return
        self._bits[index] = _FREE
        block = index >> _BLOCK_SHIFT
        self._counts[block] -= 1
        self._full[block] = 0
        self._used -= 1

    def __iter__(self) -> Iterator[int]:
        """The taken entries, ascending."""
        bits, size = self._bits, self._size
        index = bits.find(_TAKEN, 0, size)
        while index >= 0:
            yield index
            index = bits.find(_TAKEN, index + 1, size)

    def __len__(self) -> int:
        return self._used

    def _take(self, index: int) -> None:
        self._bits[index] = _TAKEN
        block = index >> _BLOCK_SHIFT
        self._counts[block] += 1
        if self._counts[block] == _BLOCK:
            self._full[block] = 1
        self._used += 1

    def _first_free(self, lo: int, hi: int) -> int:
        """The first free entry in ``[lo, hi)``, or -1: at most one partial block + one scan."""
        if lo >= hi:
            return -1
        bits = self._bits
        block_end = min(hi, (lo | (_BLOCK - 1)) + 1)
        index = bits.find(_FREE, lo, block_end)
        if index >= 0 or block_end >= hi:
            return index
        block = block_end >> _BLOCK_SHIFT
        last_block = (hi - 1) >> _BLOCK_SHIFT
        while block <= last_block:
            block = self._full.find(0, block, last_block + 1)
            if block < 0:
                return -1
            start = block << _BLOCK_SHIFT
            index = bits.find(_FREE, start, min(hi, start + _BLOCK))
            if index >= 0:
                return index
            block += 1  # the free entries of the last block lie beyond ``hi``
        return -1
