"""DNS answers as values: resource records, a response's sections, and dig-style printing.

    >>> from k8s_service_lab.controlplane.dnsrecords import (
    ...     DNSAnswer, Rcode, ResourceRecord, format_answer)
    >>> a = ResourceRecord("web.default.svc.cluster.local.", 30, "A", "10.96.12.34")
    >>> format_answer(DNSAnswer("web.default.svc.cluster.local.", "A", Rcode.NOERROR, (a,)))
    'web.default.svc.cluster.local.\\t30\\tIN\\tA\\t10.96.12.34'

A record's ``data`` holds its RDATA typed where it has fields (:class:`SRVData`,
:class:`SOAData`) and as text otherwise (an address, a target name, a TXT string), so tests
compare values while :func:`format_answer` renders exactly what ``dig`` prints. The module
knows nothing of Kubernetes; :mod:`.dns` builds these values the way CoreDNS does.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DNSAnswer",
    "RData",
    "Rcode",
    "ResourceRecord",
    "SOAData",
    "SRVData",
    "address_from_reverse",
    "answer_to_dict",
    "format_answer",
    "format_record",
    "reverse_name",
]


class Rcode(enum.StrEnum):
    """Response codes ``dig`` shows in its ``status:`` line."""

    NOERROR = "NOERROR"
    NXDOMAIN = "NXDOMAIN"
    SERVFAIL = "SERVFAIL"
    REFUSED = "REFUSED"


@dataclass(frozen=True, slots=True)
class SRVData:
    """RDATA of an SRV record (RFC 2782): ``priority weight port target``."""

    priority: int
    weight: int
    port: int
    target: str

    def __str__(self) -> str:
        return f"{self.priority} {self.weight} {self.port} {self.target}"


@dataclass(frozen=True, slots=True)
class SOAData:
    """RDATA of an SOA record; ``minimum`` is the negative-caching TTL (RFC 2308)."""

    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int

    def __str__(self) -> str:
        return (
            f"{self.mname} {self.rname} {self.serial} "
            f"{self.refresh} {self.retry} {self.expire} {self.minimum}"
        )


#: An address (A/AAAA), a domain name (CNAME/PTR/NS), a TXT string, or a typed RDATA.
RData = str | SRVData | SOAData


@dataclass(frozen=True, slots=True)
class ResourceRecord:
    """One RR: owner name (absolute, trailing dot), TTL, type, RDATA; class is always ``IN``."""

    name: str
    ttl: int
    type: str
    data: RData
    rclass: str = "IN"

    @property
    def rdata_text(self) -> str:
        """The RDATA as ``dig`` prints it (TXT strings in double quotes)."""
        if self.type == "TXT":
            return f'"{self.data}"'
        return str(self.data)


@dataclass(frozen=True, slots=True)
class DNSAnswer:
    """A response to one question: rcode and the answer, authority and additional sections.

    ``forwarded`` marks a response the ``kubernetes`` plugin did not give itself: the name is
    outside its zones, or a reverse lookup fell through, so the Corefile's
    ``forward . /etc/resolv.conf`` answered (``SERVFAIL`` when the lab has no upstream).
    """

    name: str
    type: str
    rcode: Rcode
    answer: tuple[ResourceRecord, ...] = ()
    authority: tuple[ResourceRecord, ...] = ()
    additional: tuple[ResourceRecord, ...] = ()
    authoritative: bool = True
    forwarded: bool = False

    @property
    def nodata(self) -> bool:
        """NOERROR with an empty answer: the name exists but has no records of this type."""
        return self.rcode is Rcode.NOERROR and not self.answer


def format_record(rr: ResourceRecord) -> str:
    """``name<TAB>ttl<TAB>IN<TAB>type<TAB>rdata``: one line of a ``dig`` section."""
    return "\t".join((rr.name, str(rr.ttl), rr.rclass, rr.type, rr.rdata_text))


def format_answer(answer: DNSAnswer, *, section: str = "answer") -> str:
    """The lines of one section (``answer``, ``authority`` or ``additional``) as dig prints them."""
    records: tuple[ResourceRecord, ...] = getattr(answer, section)
    return "\n".join(format_record(rr) for rr in records)


def _record_to_dict(rr: ResourceRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": rr.name,
        "ttl": rr.ttl,
        "class": rr.rclass,
        "type": rr.type,
        "data": rr.rdata_text,
    }
    if isinstance(rr.data, SRVData | SOAData):
        out["rdata"] = {k: getattr(rr.data, k) for k in type(rr.data).__slots__}
    return out


def answer_to_dict(answer: DNSAnswer) -> dict[str, Any]:
    """A JSON-ready form: question, status, flags and the three sections."""
    return {
        "question": {"name": answer.name, "class": "IN", "type": answer.type},
        "status": answer.rcode.value,
        "authoritative": answer.authoritative,
        "forwarded": answer.forwarded,
        "answer": [_record_to_dict(rr) for rr in answer.answer],
        "authority": [_record_to_dict(rr) for rr in answer.authority],
        "additional": [_record_to_dict(rr) for rr in answer.additional],
    }


def reverse_name(ip: str) -> str:
    """The PTR owner name of an address: ``4.3.2.1.in-addr.arpa.`` or the ip6.arpa nibbles.

    >>> reverse_name("10.96.0.10")
    '10.0.96.10.in-addr.arpa.'
    >>> reverse_name("fd00:10:96::a")[:18]
    'a.0.0.0.0.0.0.0.0.'
    """
    return ipaddress.ip_address(ip).reverse_pointer + "."


def address_from_reverse(name: str) -> str | None:
    """The address a full reverse name stands for, canonical, else ``None``.

    Mirrors CoreDNS ``dnsutil.ExtractAddressFromReverse``: all four octets (or all 32
    nibbles) must be present; a partial name such as ``96.10.in-addr.arpa.`` is no address.

    >>> address_from_reverse("10.0.96.10.in-addr.arpa.")
    '10.96.0.10'
    >>> address_from_reverse("96.10.in-addr.arpa.") is None
    True
    """
    lname = name.lower()
    if not lname.endswith("."):
        lname += "."
    if lname.endswith(".in-addr.arpa."):
        labels = lname[: -len(".in-addr.arpa.")].split(".")
        if len(labels) != 4:
            return None
        text = ".".join(reversed(labels))
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            return None
    if lname.endswith(".ip6.arpa."):
        nibbles = lname[: -len(".ip6.arpa.")].split(".")
        if len(nibbles) != 32 or any(len(n) != 1 for n in nibbles):
            return None
        digits = "".join(reversed(nibbles))
        groups = ":".join(digits[i : i + 4] for i in range(0, 32, 4))
        try:
            return str(ipaddress.IPv6Address(groups))
        except ValueError:
            return None
    return None
