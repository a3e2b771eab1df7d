"""The lab's CoreDNS: a real DNS server answering from the control plane's DNS model.

The pod-server supervisor runs in its own process, so it cannot call the lab's
:class:`~k8s_service_lab.controlplane.dns.ClusterDNS`. It gets a :class:`ZoneSnapshot` instead:
the objects CoreDNS's ``kubernetes`` plugin watches (Namespaces, Services, EndpointSlices and
Pods), as the JSON ``kubectl get -o json`` prints, plus the plugin's options. The supervisor
decodes them and runs the *same* ``ClusterDNS`` over them, so every answer on the wire is
exactly the model's, records, TTLs and order included. (A table of precomputed answers could
not be complete: ``<a-b-c-d>.<ns>.pod`` names, reverse names and case variants are unbounded.)
A new snapshot replaces the old one while the server runs::

    >>> from k8s_service_lab import Cluster
    >>> from k8s_service_lab.netns.dnswire import encode_query
    >>> cluster = Cluster()
    >>> responder = Responder(ZoneSnapshot.of(cluster.dns))
    >>> reply = responder.respond(encode_query("kube-dns.kube-system.svc.cluster.local", id=1))
    >>> reply[-4:] == bytes([10, 96, 0, 10])   # the last RDATA: kube-dns's clusterIP
    True

:meth:`Responder.respond` does what CoreDNS (``core/dnsserver/server.go``) on miekg/dns
(``server.go``, ``acceptfunc.go``) does with one message: nothing for fewer than 12 octets or a
response (``"Let client hang, they are sending crap"``); NOTIMP for an opcode other than QUERY
or NOTIFY; FORMERR for a header that does not hold exactly one question, at most one answer and
authority record and two additional ones, or for a message that does not decode; SERVFAIL for a
bare header; BADVERS for EDNS versions above 0; otherwise the model's answer, its OPT record
echoed (``request.SizeAndDo``), cut to the client's buffer (``request.Scrub``: 512 octets over
UDP without EDNS, the advertised size with it, 65535 over TCP; TC set when records had to go).

Names outside ``cluster.local`` and the reverse zones go, in kubeadm's Corefile, to
``forward . /etc/resolv.conf``. The lab has no upstream, and the forward plugin answers SERVFAIL
when none is reachable (``plugin/forward/forward.go`` returns ``dns.RcodeServerFailure`` once
every upstream failed), so that is what the lab answers — the same as ``ClusterDNS`` without an
upstream. REFUSED is only what a CoreDNS with no zone for the name would say.

Each pod namespace also gets the ``resolv.conf`` kubelet writes: see :mod:`.resolvconf`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from k8s_service_lab.api import EndpointSlice, Namespace, Pod, Resource, Service
from k8s_service_lab.api.decode import decode_dict
from k8s_service_lab.api.encode import to_dict
from k8s_service_lab.controlplane.dns import ClusterDNS, PodMode
from k8s_service_lab.controlplane.store import Clock
from k8s_service_lab.netns.dnswire import (
    OPCODE_NOTIFY,
    OPCODE_QUERY,
    RCODES,
    Header,
    Message,
    Opt,
    Question,
    WireError,
    decode_header,
    decode_message,
    encode_message,
    type_name,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "Responder",
    "ZoneSnapshot",
    "fit",
    "serve_tcp",
    "udp_protocol",
]

#: The kinds the ``kubernetes`` plugin reads, so the kinds a snapshot holds.
WATCHED = (Namespace, Service, EndpointSlice, Pod)
#: EDNS options CoreDNS copies from a query into its reply (``request/edns0.go``).
SUPPORTED_OPTIONS = frozenset({3, 9, 10, 11, 12})  # NSID, EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING
TCP_IDLE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class ZoneSnapshot:
    """What one CoreDNS replica knows at an instant: the watched objects and plugin options.

    ``serial`` is the SOA serial, frozen at the snapshot (CoreDNS uses the time of the last
    change it saw; the model, answering live, uses the clock at query time).
    """

    domain: str
    ttl: int
    pods: PodMode
    reverse_zones: tuple[str, ...]
    fallthrough: bool
    endpoint_pod_names: bool
    serial: int
    objects: tuple[Resource, ...]

    @classmethod
    def of(cls, dns: ClusterDNS) -> ZoneSnapshot:
        objects = tuple(o for kind in WATCHED for o in dns.reader.list(kind))
        return cls(
            dns.domain.rstrip("."),
            dns.ttl,
            dns.view.pods,
            tuple(z.rstrip(".") for z in dns.zones[1:]),
            dns.fallthrough,
            dns.view.endpoint_pod_names,
            dns.serial(),
            objects,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "ttl": self.ttl,
            "pods": self.pods.value,
            "reverseZones": list(self.reverse_zones),
            "fallthrough": self.fallthrough,
            "endpointPodNames": self.endpoint_pod_names,
            "serial": self.serial,
            "objects": [to_dict(o) for o in self.objects],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ZoneSnapshot:
        return cls(
            data["domain"],
            int(data["ttl"]),
            PodMode(data["pods"]),
            tuple(data["reverseZones"]),
            bool(data["fallthrough"]),
            bool(data["endpointPodNames"]),
            int(data["serial"]),
            tuple(decode_dict(o, "<dns snapshot>") for o in data["objects"]),
        )

    def cluster_dns(self) -> ClusterDNS:
        """The model's DNS over this snapshot: what the lab's servers answer."""
        return ClusterDNS(
            _SnapshotReader(self.objects, self.serial),
            domain=self.domain,
            ttl=self.ttl,
            pods=self.pods,
            reverse_zones=self.reverse_zones,
            fallthrough=self.fallthrough,
            endpoint_pod_names=self.endpoint_pod_names,
            serial=self.serial,
        )


class _SnapshotReader:
    """The model's ``Reader`` over snapshot objects, listed in the store's order."""

    def __init__(self, objects: Iterable[Resource], serial: int) -> None:
        self.clock = Clock(datetime.fromtimestamp(serial, UTC))
        self._by_kind: dict[type[Any], list[Any]] = {}
        for obj in objects:
            self._by_kind.setdefault(type(obj), []).append(obj)

    def list(self, kind: type[Any], namespace: str | None = None) -> list[Any]:
        items = self._by_kind.get(kind, [])
        return [o for o in items if namespace is None or o.metadata.namespace == namespace]


# -- the server's handling of one message --------------------------------------------------------


def fit(msg: Message, size: int) -> tuple[bytes, Message]:
    """``msg`` in at most ``size`` octets (512 at least), as miekg's ``Msg.Truncate`` cuts it.

    Uncompressed if that fits; else compressed, keeping the longest run of records (answer,
    then authority, then additional) that fits beside the OPT record, with TC set when any
    record had to go. The compressed length only grows with each record kept, so the longest
    run is found by bisection. Returns the octets and the message they hold.
    """
    size = max(size, 512)
    whole = encode_message(msg)
    if len(whole) <= size:
        return whole, msg
    budget = size - (msg.opt.wire_length() if msg.opt is not None else 0)
    records = (*msg.answer, *msg.authority, *msg.additional)
    cuts = (len(msg.answer), len(msg.answer) + len(msg.authority))

    def keep(n: int) -> Message:
        head = replace(msg.header, tc=msg.header.tc or n < len(records))
        an, ns = (min(n, c) for c in cuts)
        return Message(head, msg.question, records[:an], records[an : max(an, ns)],
                       records[max(an, ns) : n])  # fmt: skip

    low, high = 0, len(records)
    while low < high:
        mid = (low + high + 1) // 2
        if len(encode_message(keep(mid), compress=True)) <= budget:
            low = mid
        else:
            high = mid - 1
    cut = replace(keep(low), opt=msg.opt)
    return encode_message(cut, compress=True), cut


def _reply_header(request: Header, rcode: int, aa: bool = False) -> Header:
    # miekg's SetReply: id, QR and opcode; RD and CD are copied for QUERY only.
    query = request.opcode == OPCODE_QUERY
    return Header(request.id, qr=True, opcode=request.opcode, aa=aa, rd=request.rd and query,
                  cd=request.cd and query, rcode=rcode)  # fmt: skip


def _echo_opt(opt: Opt | None) -> Opt | None:
    # request.SizeAndDo: the query's OPT, version 0, "Ttl &= 0xff00" (DO survives), and only
    # the options CoreDNS knows.
    if opt is None:
        return None
    kept = tuple((c, d) for c, d in opt.options if c in SUPPORTED_OPTIONS)
    return Opt(opt.udp_size, 0, 0, opt.flags & 0xFF00, kept)


class Responder:
    """Turns query octets into reply octets from the current snapshot; :meth:`update` swaps it.

    ``recovered`` counts queries the model failed on (CoreDNS recovers a panicking plugin with
    SERVFAIL); tests keep it at zero.
    """

    def __init__(self, zone: ZoneSnapshot) -> None:
        self.zone = zone
        self.dns = zone.cluster_dns()
        self.recovered = 0

    def update(self, zone: ZoneSnapshot) -> None:
        self.dns = zone.cluster_dns()
        self.zone = zone

    def respond(self, data: bytes, *, tcp: bool = False, ipv4: bool = True) -> bytes | None:
        """The reply to one message, or ``None`` where CoreDNS stays silent."""
        try:
            header, (qd, an, ns, ar) = decode_header(data)
        except WireError:
            return None
        if header.qr:
            return None  # never answer an answer: no ping-pong
        if header.opcode not in (OPCODE_QUERY, OPCODE_NOTIFY):
            rejected = Header(header.id, qr=True, opcode=header.opcode, tc=header.tc,
                              rd=header.rd, ra=header.ra, ad=header.ad, cd=header.cd,
                              rcode=RCODES["NOTIMP"])  # fmt: skip
            return encode_message(Message(rejected))
        if qd != 1 or an > 1 or ns > 1 or ar > 2:
            return encode_message(Message(_formerr(header)))
        try:
            request = decode_message(data)
        except WireError as err:
            return encode_message(Message(_formerr(header), err.questions[:1]))
        if not request.question:  # a bare header: CoreDNS's "no question section"
            return encode_message(Message(_reply_header(header, RCODES["SERVFAIL"])))
        question = request.question[0]
        if request.opt is not None and request.opt.version != 0:
            badvers = Opt(0, version=0)  # edns.Version: a fresh OPT, UDP size left at 0
            return encode_message(
                Message(_reply_header(header, RCODES["BADVERS"]), (question,), opt=badvers)
            )
        return self._answer(request, question, tcp=tcp, ipv4=ipv4)

    def _answer(self, request: Message, question: Question, *, tcp: bool, ipv4: bool) -> bytes:
        opt = _echo_opt(request.opt)
        try:
            answer = self.dns.query(question.name, type_name(question.qtype))
            reply = Message(
                _reply_header(request.header, RCODES[answer.rcode.value], answer.authoritative),
                (question,), answer.answer, answer.authority, answer.additional, opt,
            )  # fmt: skip
            encode_message(reply)  # every name must fit the wire before any is sent
        except Exception:
            self.recovered += 1
            reply = Message(_reply_header(request.header, RCODES["SERVFAIL"]), (question,), opt=opt)
        # edns.Size: 65535 over TCP; over UDP the advertised size, never below 512.
        size = 65535 if tcp else max(512, request.opt.udp_size if request.opt else 0)
        whole = encode_message(reply)
        if len(whole) > size:
            return fit(reply, size)[0]
        # request.Scrub: compress a large UDP reply anyway, to stay below one IP fragment.
        if not tcp and len(whole) > (1480 if ipv4 else 1220):
            return encode_message(reply, compress=True)
        return whole


def _formerr(request: Header) -> Header:
    # miekg's SetRcodeFormatError on the request itself: QR, opcode QUERY, AA and Z cleared,
    # the other flags as the client sent them.
    return Header(request.id, qr=True, tc=request.tc, rd=request.rd, ra=request.ra,
                  ad=request.ad, cd=request.cd, rcode=RCODES["FORMERR"])  # fmt: skip


# -- sockets (inside the supervisor's event loop) ------------------------------------------------


def _is_ipv4(peer: tuple[Any, ...]) -> bool:
    # request.Family: an IPv4-mapped peer counts as IPv4 (Go's To4).
    ip = ipaddress.ip_address(str(peer[0]).split("%")[0])
    return ip.version == 4 or (isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None)


class _DNSDatagrams(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        reply = self.responder.respond(data, tcp=False, ipv4=_is_ipv4(addr))
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def udp_protocol(responder: Responder) -> Callable[[], asyncio.DatagramProtocol]:
    """A factory for ``create_datagram_endpoint``: one reply per query datagram."""
    return lambda: _DNSDatagrams(responder)


def serve_tcp(
    responder: Responder,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A ``start_server`` handler: length-prefixed messages (RFC 1035 §4.2.2), many a connection,
    closed after 10 s idle or on a message shorter than a header (miekg's ``readTCP``)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ipv4 = _is_ipv4(writer.get_extra_info("peername"))
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS)
                length = int.from_bytes(head, "big")
                if length < 12:
                    break
                data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_SECONDS)
                reply = responder.respond(data, tcp=True, ipv4=ipv4)
                if reply is not None:
                    writer.write(len(reply).to_bytes(2, "big") + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return handle
