"""agnhost ``netexec`` as the lab's pods speak it: HTTP and UDP answers, and their servers.

What a pod answers is what agnhost ``netexec`` answers (``test/images/agnhost/netexec/
netexec.go``), so lab checks read like upstream e2e tests::

    >>> answer("/hostname", "web-0", ("10.244.1.5", 40000))
    (200, 'web-0')
    >>> answer("/clientip", "web-0", ("::ffff:10.244.1.5", 40000, 0, 0))
    (200, '10.244.1.5:40000')
    >>> answer("/echo?msg=hello&code=418", "web-0", ("10.244.1.5", 40000))
    (418, 'hello')
    >>> udp_answer(b"  ECHO Hi There\\n", "web-0", ("10.244.2.7", 5353))
    b'hi there'

HTTP: ``/hostname`` (and the older ``/hostName``), ``/clientip`` (the peer's ``ip:port`` as the
pod sees it, Go's ``RemoteAddr``), ``/echo?msg=&code=``, ``/healthz``, and ``NOW: <time>`` for
any other path (Go's ``ServeMux`` sends everything else to ``/``). UDP: ``hostname``,
``echo <msg>`` and ``clientip``, matched after lower-casing and trimming as agnhost does;
anything else gets no reply. :func:`http_handler` and :func:`udp_factory` serve them on
asyncio (the pod-server supervisor, :mod:`.podserver`, binds the sockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import json
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

__all__ = ["answer", "go_host_port", "http_handler", "udp_answer", "udp_factory"]

MAX_HEADER = 16384


def go_host_port(peer: tuple[Any, ...]) -> str:
    """``ip:port`` as Go prints a ``RemoteAddr``: IPv4-mapped shown as IPv4, IPv6 bracketed."""
    ip = ipaddress.ip_address(peer[0].split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"{host}:{peer[1]}"


def answer(target: str, hostname: str, peer: tuple[Any, ...]) -> tuple[int, str]:
    """Status and body netexec's HTTP server gives for a GET of ``target``."""
    url = urlsplit(target)
    query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    if url.path in ("/hostname", "/hostName"):
        return 200, hostname
    if url.path == "/clientip":
        return 200, go_host_port(peer)
    if url.path == "/healthz":
        return 200, ""
    if url.path == "/echo":
        code = query.get("code", "")
        if code and not code.lstrip("-").isdigit():
            return 200, f"argument 'code' must be an integer or empty, got {json.dumps(code)}\n"
        return (int(code) if code else 200), query.get("msg", "")
    return 200, f"NOW: {time.strftime('%Y-%m-%d %H:%M:%S %z %Z')}"


def udp_answer(data: bytes, hostname: str, peer: tuple[Any, ...]) -> bytes | None:
    """netexec's UDP reply to one datagram, or ``None`` (it ignores unknown commands)."""
    text = data.decode("utf-8", "replace").strip().lower()
    if text == "hostname":
        return hostname.encode()
    if text.startswith("echo "):
        return text.split(" ", 1)[1].encode()
    if text == "clientip":
        return go_host_port(peer).encode()
    return None


def _response(status: int, body: str, keep_alive: bool) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = f"status code {status}"
    payload = body.encode()
    head = [
        f"HTTP/1.1 {status} {phrase}",
        f"Date: {formatdate(usegmt=True)}",
        f"Content-Length: {len(payload)}",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if not keep_alive:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def http_handler(
    hostname: str,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request, *header_lines = head.split("\r\n")
                method, target, version = [*request.split(" "), "", ""][:3]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (h.partition(":") for h in header_lines if h)
                }
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                status, body = answer(target, hostname, peer)
                writer.write(_response(status, body if method != "HEAD" else "", keep))
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return handle


class _UDPEcho(asyncio.DatagramProtocol):
    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector transport does not subclass DatagramTransport; it behaves as one.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        reply = udp_answer(data, self.hostname, addr)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def udp_factory(hostname: str) -> Callable[[], _UDPEcho]:
    return lambda: _UDPEcho(hostname)
