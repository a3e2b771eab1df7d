"""DNS messages on the wire (RFC 1035, EDNS(0) RFC 6891): the codec the lab's DNS server speaks.

Records are the model's own values (:class:`~k8s_service_lab.controlplane.dnsrecords.
ResourceRecord`), so what :class:`~k8s_service_lab.controlplane.dns.ClusterDNS` answers is what
goes out; decoding keeps RDATA opaque (RFC 3597 text), since a query carries nothing the server
reads but its question and OPT record::

    >>> from k8s_service_lab.controlplane.dnsrecords import ResourceRecord
    >>> query = decode_message(encode_query("Web.default.svc.cluster.local", "A", id=7))
    >>> query.header.id, query.question[0].name, type_name(query.question[0].qtype)
    (7, 'Web.default.svc.cluster.local.', 'A')
    >>> a = ResourceRecord("Web.default.svc.cluster.local.", 30, "A", "10.96.12.34")
    >>> reply = Message(Header(7, qr=True, aa=True), query.question, answer=(a,))
    >>> decode_message(encode_message(reply, compress=True)).answer[0].data
    '\\\\# 4 0a600c22'

Decoding follows miekg/dns (the Go library CoreDNS is built on, ``msg.go``/``msg_helpers.go``)
where it is lenient or strict: a question may stop after its name (type and class read as 0),
a name is at most 255 octets and follows at most 126 compression pointers, label types
``0x40``/``0x80`` are errors, RDATA must lie inside the message, and of several OPT records the
last one counts. Anything else wrong raises :class:`WireError`, never another exception.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field, replace

from k8s_service_lab.controlplane.dnsrecords import ResourceRecord, SOAData, SRVData

__all__ = [
    "CLASS_IN", "OPCODE_NOTIFY", "OPCODE_QUERY", "RCODES", "TYPES", "Header", "Message", "Opt",
    "Question", "WireError", "decode_header", "decode_message", "encode_message", "encode_query",
    "rcode_name", "type_code", "type_name",
]  # fmt: skip

TYPES = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
    "SRV": 33, "OPT": 41, "DS": 43, "IXFR": 251, "AXFR": 252, "ANY": 255,
}  # fmt: skip
_TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {
    "NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5,
    "BADVERS": 16,
}  # fmt: skip
_RCODE_NAMES = {v: k for k, v in RCODES.items()}
_CLASSES = {"IN": 1, "CH": 3, "HS": 4, "NONE": 254, "ANY": 255}
_CLASS_NAMES = {v: k for k, v in _CLASSES.items()}
CLASS_IN = 1
OPCODE_QUERY = 0
OPCODE_NOTIFY = 4
HEADER_SIZE = 12
#: miekg/dns ``maxDomainNameWireOctets`` and ``maxCompressionPointers``.
MAX_NAME_OCTETS = 255
MAX_POINTERS = (MAX_NAME_OCTETS + 1) // 2 - 2
#: Compression pointers hold 14 bits.
MAX_POINTER_OFFSET = 0x3FFF
_COMPRESSIBLE = {"NS", "CNAME", "PTR", "SOA"}  # RFC 3597 §4: SRV targets are never compressed
_ESCAPED = frozenset(b'. ;()@$"\\')


class WireError(ValueError):
    """A message that cannot be decoded; ``questions`` holds those read before the fault."""

    def __init__(self, message: str, questions: tuple[Question, ...] = ()) -> None:
        super().__init__(message)
        self.questions = questions


def type_name(code: int) -> str:
    """``A`` for 1 …, ``TYPE<n>`` for types without a mnemonic here (RFC 3597)."""
    return _TYPE_NAMES.get(code, f"TYPE{code}")


def type_code(name: str) -> int:
    """The number of a type mnemonic or of ``TYPE<n>``; ``KeyError`` when neither."""
    upper = name.upper()
    if upper in TYPES:
        return TYPES[upper]
    if upper.startswith("TYPE") and upper[4:].isdigit() and int(upper[4:]) < 1 << 16:
        return int(upper[4:])
    raise KeyError(name)


def rcode_name(code: int) -> str:
    return _RCODE_NAMES.get(code, f"RCODE{code}")


def _class_name(code: int) -> str:
    return _CLASS_NAMES.get(code, f"CLASS{code}")


def _class_code(name: str) -> int:
    if name in _CLASSES:
        return _CLASSES[name]
    return int(name.removeprefix("CLASS"))


@dataclass(frozen=True, slots=True)
class Header:
    """The fixed 12-octet header without its counts; ``rcode`` includes EDNS's upper bits."""

    id: int
    qr: bool = False
    opcode: int = OPCODE_QUERY
    aa: bool = False
    tc: bool = False
    rd: bool = False
    ra: bool = False
    z: bool = False
    ad: bool = False
    cd: bool = False
    rcode: int = 0

    def bits(self) -> int:
        flags = (self.qr, self.aa, self.tc, self.rd, self.ra, self.z, self.ad, self.cd)
        masks = (0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010)
        return sum(m for f, m in zip(flags, masks, strict=True) if f) | (
            (self.opcode & 0xF) << 11 | (self.rcode & 0xF)
        )

    @classmethod
    def from_bits(cls, id: int, bits: int) -> Header:
        return cls(
            id, bool(bits & 0x8000), (bits >> 11) & 0xF, bool(bits & 0x0400),
            bool(bits & 0x0200), bool(bits & 0x0100), bool(bits & 0x0080),
            bool(bits & 0x0040), bool(bits & 0x0020), bool(bits & 0x0010), bits & 0xF,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Question:
    name: str
    qtype: int
    qclass: int = CLASS_IN


@dataclass(frozen=True, slots=True)
class Opt:
    """The EDNS(0) pseudo-record: buffer size, extended rcode bits, version, flags, options."""

    udp_size: int = 1232
    ext_rcode: int = 0
    version: int = 0
    flags: int = 0
    options: tuple[tuple[int, bytes], ...] = ()

    @property
    def do(self) -> bool:
        return bool(self.flags & 0x8000)

    def wire_length(self) -> int:
        return 11 + sum(4 + len(data) for _, data in self.options)


@dataclass(frozen=True, slots=True)
class Message:
    header: Header
    question: tuple[Question, ...] = ()
    answer: tuple[ResourceRecord, ...] = ()
    authority: tuple[ResourceRecord, ...] = ()
    additional: tuple[ResourceRecord, ...] = ()
    opt: Opt | None = None


# -- decoding ------------------------------------------------------------------------------------


def decode_header(data: bytes) -> tuple[Header, tuple[int, int, int, int]]:
    """The header and the four section counts, as the peer claims them."""
    if len(data) < HEADER_SIZE:
        raise WireError("message shorter than a header")
    id_, bits, *counts = struct.unpack_from("!6H", data)
    return Header.from_bits(id_, bits), (counts[0], counts[1], counts[2], counts[3])


def decode_message(data: bytes) -> Message:
    """Every section of ``data``; :class:`WireError` when it cannot be read."""
    header, (qd, an, ns, ar) = decode_header(data)
    off = HEADER_SIZE
    questions: list[Question] = []
    if off == len(data):  # just a header: miekg returns no sections and no error
        return Message(header)
    for _ in range(qd):
        try:
            question, off = _read_question(data, off)
        except WireError as err:
            raise WireError(str(err), tuple(questions)) from None
        questions.append(question)
    sections: list[list[ResourceRecord]] = [[], [], []]
    opt: Opt | None = None
    try:
        for section, count in zip(sections, (an, ns, ar), strict=True):
            for _ in range(count):
                record, off = _read_record(data, off)
                if isinstance(record, Opt):
                    opt = record
                else:
                    section.append(record)
    except WireError as err:
        raise WireError(str(err), tuple(questions)) from None
    if opt is not None:
        header = replace(header, rcode=header.rcode | opt.ext_rcode << 4)
    answer, authority, additional = (tuple(section) for section in sections)
    return Message(header, tuple(questions), answer, authority, additional, opt)


def _read_question(data: bytes, off: int) -> tuple[Question, int]:
    name, off = _read_name(data, off)
    # miekg's unpackQuestion: the message may end after the name or after the type, and a
    # class cut short reads as 0 (its overflow error is dropped once the end is reached).
    values = [0, 0]
    for i in range(2):
        if off == len(data):
            break
        if off + 2 > len(data):
            if i == 0:
                raise WireError("question type runs past the end")
            off = len(data)
            break
        values[i] = int.from_bytes(data[off : off + 2], "big")
        off += 2
    return Question(name, values[0], values[1]), off


def _read_name(data: bytes, off: int) -> tuple[str, int]:
    labels: list[bytes] = []
    octets = 1
    pointers = 0
    end: int | None = None
    while True:
        if off >= len(data):
            raise WireError("name runs past the end")
        length = data[off]
        kind = length & 0xC0
        if kind == 0xC0:
            if off + 1 >= len(data):
                raise WireError("compression pointer runs past the end")
            pointers += 1
            if pointers > MAX_POINTERS:
                raise WireError("too many compression pointers")
            if end is None:
                end = off + 2
            off = (length & 0x3F) << 8 | data[off + 1]
            continue
        if kind:
            raise WireError(f"reserved label type {kind:#04x}")
        if length == 0:
            off += 1
            break
        if off + 1 + length > len(data):
            raise WireError("label runs past the end")
        octets += length + 1
        if octets > MAX_NAME_OCTETS:
            raise WireError("name longer than 255 octets")
        labels.append(data[off + 1 : off + 1 + length])
        off += 1 + length
    return _name_text(labels), end if end is not None else off


def _name_text(labels: list[bytes]) -> str:
    """Presentation format as miekg prints it: specials escaped with ``\\``, others ``\\DDD``."""
    if not labels:
        return "."
    out = []
    for label in labels:
        text = []
        for b in label:
            if b in _ESCAPED:
                text.append("\\" + chr(b))
            elif b < 0x21 or b > 0x7E:
                text.append(f"\\{b:03d}")
            else:
                text.append(chr(b))
        out.append("".join(text))
    return ".".join(out) + "."


def _read_record(data: bytes, off: int) -> tuple[ResourceRecord | Opt, int]:
    name, off = _read_name(data, off)
    if off + 10 > len(data):
        raise WireError("record header runs past the end")
    rtype, rclass, ttl, length = struct.unpack_from("!HHIH", data, off)
    off += 10
    end = off + length
    if end > len(data):
        raise WireError("RDATA runs past the end")
    rdata = data[off:end]
    if rtype == TYPES["OPT"]:
        return _read_opt(rclass, ttl, rdata), end
    # RDATA stays opaque (RFC 3597 text): a query carries no records the server reads but
    # OPT, and clients decode answers with scapy's DNS layer, an independent reader.
    value = f"\\# {length} {rdata.hex()}" if length else "\\# 0"
    return ResourceRecord(name, ttl, type_name(rtype), value, _class_name(rclass)), end


def _read_opt(udp_size: int, ttl: int, rdata: bytes) -> Opt:
    options = []
    off = 0
    while off < len(rdata):
        if off + 4 > len(rdata):
            raise WireError("EDNS option header runs past the end")
        code, length = struct.unpack_from("!HH", rdata, off)
        if off + 4 + length > len(rdata):
            raise WireError("EDNS option runs past the end")
        options.append((code, rdata[off + 4 : off + 4 + length]))
        off += 4 + length
    return Opt(udp_size, ttl >> 24, (ttl >> 16) & 0xFF, ttl & 0xFFFF, tuple(options))


# -- encoding ------------------------------------------------------------------------------------


def _labels(name: str) -> tuple[bytes, ...]:
    """Wire labels of a presentation-format name (``\\.``, ``\\DDD`` escapes understood)."""
    if name in (".", ""):
        return ()
    labels: list[bytes] = []
    current = bytearray()
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\" and name[i + 1 : i + 4].isdigit() and len(name[i + 1 : i + 4]) == 3:
            current.append(int(name[i + 1 : i + 4]) & 0xFF)
            i += 4
            continue
        if ch == "\\" and i + 1 < len(name):
            current.extend(name[i + 1].encode())
            i += 2
            continue
        if ch == ".":
            labels.append(bytes(current))
            current = bytearray()
        else:
            current.extend(ch.encode())
        i += 1
    if current:
        labels.append(bytes(current))
    if any(not label or len(label) > 63 for label in labels):
        raise WireError(f"{name!r}: every label needs 1 to 63 octets")
    if sum(len(label) + 1 for label in labels) + 1 > MAX_NAME_OCTETS:
        raise WireError(f"{name!r} is longer than 255 octets")
    return tuple(labels)


@dataclass
class _Writer:
    """A growing message; with ``compress``, names reuse earlier suffixes (RFC 1035 §4.1.4)."""

    compress: bool
    buf: bytearray = field(default_factory=bytearray)
    seen: dict[tuple[bytes, ...], int] = field(default_factory=dict)

    def name(self, text: str, compressible: bool = True) -> None:
        labels = _labels(text)
        for i in range(len(labels)):
            suffix = labels[i:]
            if self.compress and compressible and suffix in self.seen:
                self.buf += struct.pack("!H", 0xC000 | self.seen[suffix])
                return
            if self.compress and len(self.buf) <= MAX_POINTER_OFFSET:
                self.seen.setdefault(suffix, len(self.buf))
            self.buf += bytes([len(labels[i])]) + labels[i]
        self.buf.append(0)

    def record(self, rr: ResourceRecord) -> None:
        self.name(rr.name)
        self.buf += struct.pack("!HHI", type_code(rr.type), _class_code(rr.rclass), rr.ttl)
        start = len(self.buf) + 2
        self.buf += b"\0\0"
        self._rdata(rr)
        struct.pack_into("!H", self.buf, start - 2, len(self.buf) - start)

    def _rdata(self, rr: ResourceRecord) -> None:
        data = rr.data
        if isinstance(data, str) and data.startswith("\\# "):  # RFC 3597: \# <length> <hex>
            self.buf += bytes.fromhex(data.split(" ", 2)[2] if data.count(" ") >= 2 else "")
        elif isinstance(data, SRVData):
            self.buf += struct.pack("!HHH", data.priority, data.weight, data.port)
            self.name(data.target, compressible=False)
        elif isinstance(data, SOAData):
            self.name(data.mname)
            self.name(data.rname)
            self.buf += struct.pack(
                "!5I", data.serial, data.refresh, data.retry, data.expire, data.minimum
            )
        elif rr.type in ("A", "AAAA"):
            self.buf += ipaddress.ip_address(data).packed
        elif rr.type in _COMPRESSIBLE:
            self.name(data)
        elif rr.type == "TXT":
            raw = data.encode()
            for i in range(0, max(len(raw), 1), 255):
                self.buf += bytes([len(raw[i : i + 255])]) + raw[i : i + 255]
        else:
            raise WireError(f"cannot encode RDATA of type {rr.type}: {data!r}")

    def opt(self, opt: Opt) -> None:
        ttl = (opt.ext_rcode & 0xFF) << 24 | (opt.version & 0xFF) << 16 | (opt.flags & 0xFFFF)
        body = b"".join(struct.pack("!HH", c, len(d)) + d for c, d in opt.options)
        self.buf += b"\0" + struct.pack("!HHIH", TYPES["OPT"], opt.udp_size, ttl, len(body))
        self.buf += body


def encode_message(msg: Message, *, compress: bool = False) -> bytes:
    """The message on the wire; the OPT record goes last, carrying the rcode's upper bits.

    With ``compress``, names reuse earlier suffixes (RFC 1035 §4.1.4) except SRV targets.
    """
    writer = _Writer(compress)
    writer.buf += bytes(HEADER_SIZE)
    for q in msg.question:
        writer.name(q.name)
        writer.buf += struct.pack("!HH", q.qtype, q.qclass)
    for rr in (*msg.answer, *msg.authority, *msg.additional):
        writer.record(rr)
    if msg.opt is not None:
        writer.opt(replace(msg.opt, ext_rcode=msg.opt.ext_rcode | msg.header.rcode >> 4))
    counts = (len(msg.answer), len(msg.authority), len(msg.additional) + (msg.opt is not None))
    struct.pack_into(
        "!6H", writer.buf, 0, msg.header.id, msg.header.bits(), len(msg.question), *counts
    )
    return bytes(writer.buf)


def encode_query(
    name: str,
    qtype: str = "A",
    *,
    id: int = 0,
    rd: bool = True,
    opt: Opt | None = None,
) -> bytes:
    """A client's query for ``name`` (made absolute), as ``dig`` would send it."""
    absolute = name if name.endswith(".") else name + "."
    question = (Question(absolute, type_code(qtype)),)
    return encode_message(Message(Header(id, rd=rd), question, opt=opt))
