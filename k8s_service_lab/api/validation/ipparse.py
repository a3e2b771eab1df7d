"""IP addresses the way the apiserver parses them: Go's old, forgiving ``net.ParseIP``.

Kubernetes validates most IP fields with ``k8s.io/utils/net.ParseIPSloppy`` and
``ParseCIDRSloppy``: a frozen copy of Go 1.16's parser, kept because Go 1.17 started to
reject IPv4 octets with leading zeros and existing objects hold such values. Python's
:mod:`ipaddress` is strict, so the apiserver and :mod:`ipaddress` disagree on inputs like
``010.1.2.3`` (sloppy: ``10.1.2.3``) and ``00001::`` (sloppy: ``1::``). This module
re-implements the sloppy grammar so validation accepts exactly what v1.34 accepts::

    >>> from k8s_service_lab.api.validation.ipparse import parse_ip_sloppy
    >>> str(parse_ip_sloppy("010.001.002.003"))
    '10.1.2.3'
    >>> parse_ip_sloppy("10.96.0.300") is None
    True
    >>> parse_ip_sloppy("::ffff:1.2.3.4").is_ipv4      # IPv4-mapped counts as IPv4 in Go
    True

A parsed address is a :class:`GoIP`: 16 bytes like Go's ``net.IP``, with the predicates
validation needs (``IsLoopback``, ``IsLinkLocalUnicast`` ...) under their Go meaning.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

__all__ = ["GoIP", "GoIPNet", "parse_cidr_sloppy", "parse_ip_sloppy"]

_IPV4_LEN: Final = 4
_IPV6_LEN: Final = 16
# Go's dtoi/xtoi give up once a number reaches this (it only guards against overflow).
_BIG: Final = 0xFFFFFF
_V4_IN_V6_PREFIX: Final = bytes(10) + b"\xff\xff"


@dataclass(frozen=True, slots=True)
class GoIP:
    """A parsed address as Go holds it: always 16 bytes, IPv4 as ``::ffff:a.b.c.d``."""

    raw: bytes

    @property
    def is_ipv4(self) -> bool:
        """Go's ``ip.To4() != nil``: true for IPv4 *and* IPv4-mapped IPv6 addresses."""
        return self.raw[:12] == _V4_IN_V6_PREFIX

    @property
    def is_ipv6(self) -> bool:
        """``utilnet.IsIPv6``: anything that is not IPv4 by :attr:`is_ipv4`."""
        return not self.is_ipv4

    @property
    def v4(self) -> bytes:
        return self.raw[12:]

    @property
    def is_unspecified(self) -> bool:
        return self.raw == bytes(_IPV6_LEN) or (self.is_ipv4 and self.v4 == bytes(4))

    @property
    def is_loopback(self) -> bool:
        if self.is_ipv4:
            return self.v4[0] == 127
        return self.raw == bytes(15) + b"\x01"

    @property
    def is_link_local_unicast(self) -> bool:
        if self.is_ipv4:
            return self.v4[0] == 169 and self.v4[1] == 254
        return self.raw[0] == 0xFE and self.raw[1] & 0xC0 == 0x80

    @property
    def is_link_local_multicast(self) -> bool:
        if self.is_ipv4:
            return self.v4[0] == 224 and self.v4[1] == 0 and self.v4[2] == 0
        return self.raw[0] == 0xFF and self.raw[1] & 0x0F == 0x02

    def to_ipaddress(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The same address as :mod:`ipaddress` holds it (IPv4-mapped becomes IPv4, as in Go)."""
        if self.is_ipv4:
            return ipaddress.IPv4Address(self.v4)
        return ipaddress.IPv6Address(self.raw)

    def __str__(self) -> str:
        """Go's ``IP.String()``: dotted quad for IPv4 (mapped too), RFC 5952 for IPv6."""
        if self.is_ipv4:
            return str(ipaddress.IPv4Address(self.v4))
        return ipaddress.IPv6Address(self.raw).compressed


@dataclass(frozen=True, slots=True)
class GoIPNet:
    """What ``ParseCIDR`` returns: the address as written, and the prefix length."""

    ip: GoIP
    prefix_length: int
    #: 4 or 16: which family the *text* was parsed as (``::ffff:1.2.3.4/120`` is 16).
    address_length: int


def _dtoi(text: str) -> tuple[int, int] | None:
    """Leading decimal digits of ``text``: ``(value, digits used)``, None if there are none."""
    value = 0
    used = 0
    while used < len(text) and "0" <= text[used] <= "9":
        value = value * 10 + ord(text[used]) - ord("0")
        used += 1
        if value >= _BIG:
            return None
    return (value, used) if used else None


def _xtoi(text: str) -> tuple[int, int] | None:
    """Leading hex digits of ``text``: ``(value, digits used)``, None if there are none."""
    value = 0
    used = 0
    while used < len(text):
        digit = text[used]
        if "0" <= digit <= "9" or "a" <= digit <= "f" or "A" <= digit <= "F":
            value = value * 16 + int(digit, 16)
        else:
            break
        used += 1
        if value >= _BIG:
            return None
    return (value, used) if used else None


def _parse_ipv4(text: str) -> bytes | None:
    # Any number of leading zeros is fine here: that is what makes the parser "sloppy".
    octets = bytearray()
    rest = text
    for i in range(_IPV4_LEN):
        if not rest:
            return None
        if i > 0:
            if rest[0] != ".":
                return None
            rest = rest[1:]
        parsed = _dtoi(rest)
        if parsed is None or parsed[0] > 0xFF:
            return None
        octets.append(parsed[0])
        rest = rest[parsed[1] :]
    if rest:
        return None
    return _V4_IN_V6_PREFIX + bytes(octets)


def _parse_ipv6(text: str) -> bytes | None:
    out = bytearray(_IPV6_LEN)
    ellipsis = -1
    rest = text
    if len(rest) >= 2 and rest[0] == ":" and rest[1] == ":":
        ellipsis = 0
        rest = rest[2:]
        if not rest:
            return bytes(out)
    i = 0
    while i < _IPV6_LEN:
        parsed = _xtoi(rest)
        if parsed is None or parsed[0] > 0xFFFF:
            return None
        value, used = parsed
        if used < len(rest) and rest[used] == ".":
            # A trailing dotted quad fills the last four bytes.
            if ellipsis < 0 and i != _IPV6_LEN - _IPV4_LEN:
                return None
            if i + _IPV4_LEN > _IPV6_LEN:
                return None
            v4 = _parse_ipv4(rest)
            if v4 is None:
                return None
            out[i : i + 4] = v4[12:]
            rest = ""
            i += _IPV4_LEN
            break
        out[i] = value >> 8
        out[i + 1] = value & 0xFF
        i += 2
        rest = rest[used:]
        if not rest:
            break
        if rest[0] != ":" or len(rest) == 1:
            return None
        rest = rest[1:]
        if rest[0] == ":":
            if ellipsis >= 0:
                return None
            ellipsis = i
            rest = rest[1:]
            if not rest:
                break
    if rest:
        return None
    if i < _IPV6_LEN:
        if ellipsis < 0:
            return None
        shift = _IPV6_LEN - i
        out[ellipsis + shift : _IPV6_LEN] = out[ellipsis:i]
        out[ellipsis : ellipsis + shift] = bytes(shift)
    elif ellipsis >= 0:
        # "::" must stand for at least one zero group.
        return None
    return bytes(out)


def parse_ip_sloppy(text: str) -> GoIP | None:
    """``netutils.ParseIPSloppy``: the first ``.`` or ``:`` decides the family; no zones."""
    for char in text:
        if char == ".":
            raw = _parse_ipv4(text)
            return None if raw is None else GoIP(raw)
        if char == ":":
            raw = _parse_ipv6(text)
            return None if raw is None else GoIP(raw)
    return None


def parse_cidr_sloppy(text: str) -> GoIPNet | None:
    """``netutils.ParseCIDRSloppy``: ``address/bits``, leading zeros allowed on both sides."""
    slash = text.find("/")
    if slash < 0:
        return None
    address, mask = text[:slash], text[slash + 1 :]
    length = _IPV4_LEN
    raw = _parse_ipv4(address)
    if raw is None:
        length = _IPV6_LEN
        raw = _parse_ipv6(address)
    parsed = _dtoi(mask)
    if raw is None or parsed is None or parsed[1] != len(mask) or parsed[0] > 8 * length:
        return None
    return GoIPNet(GoIP(raw), parsed[0], length)
