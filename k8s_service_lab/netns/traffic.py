"""Real traffic from inside a lab namespace: many connections at once, answers as values.

:func:`probe` starts one helper process (``python -m k8s_service_lab.netns.traffic``) that
moves into the source namespace — a pod, a node or the external host — and opens every
connection asked for from there, concurrently, with the namespace's own addresses and routes,
so each one is a new flow through the kernel's conntrack and kube-proxy's rules. On each
connection it asks the pod server what agnhost ``netexec`` answers: ``/hostname`` (which pod
took the connection) and ``/clientip`` (the source address the pod saw), over one HTTP/1.1
keep-alive connection for TCP, or as two datagrams from one socket for UDP. What went wrong is
a word, as a learner would describe it::

    >>> describe_error(ConnectionRefusedError())
    'refused'
    >>> describe_error(TimeoutError())
    'timeout'
    >>> Answer(None, "10.244.2.3:45012", "web-1", "10.244.1.2:45012").source
    '10.244.1.2'

``refused`` is what a REJECT (ICMP port unreachable, or a TCP reset) looks like, ``timeout``
what a DROP looks like. ``probe(namespace, [Request("10.96.0.20", 80, count=300)])`` needs
root; the helper prints one JSON list and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netns.enter import move_to, namespace_path

__all__ = ["Answer", "Request", "TrafficError", "describe_error", "probe"]

#: How long one connection may take, both questions included, before it counts as a timeout.
DEFAULT_TIMEOUT = 2.0
#: Connections open at the same time (one helper; well under the default 1024 descriptors).
DEFAULT_CONCURRENCY = 200
MAX_ANSWER = 65536


class TrafficError(ServiceLabError):
    """The traffic helper itself failed (not a connection: those are answers)."""


@dataclass(frozen=True, slots=True)
class Request:
    """``count`` new connections to ``dst:port`` over ``proto`` (``"tcp"`` or ``"udp"``).

    ``sport`` pins the client's source port (one flow, as a long-lived UDP client keeps);
    ``None`` lets the kernel pick a fresh one per connection, so each is a new flow.
    """

    dst: str
    port: int
    proto: str = "tcp"
    count: int = 1
    sport: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """One connection: ``error`` (``None`` when both questions were answered), the client's
    own ``ip:port``, and the pod's ``/hostname`` and ``/clientip`` answers."""

    error: str | None
    local: str | None
    hostname: str | None
    clientip: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def source(self) -> str | None:
        """The address the pod saw as the client (``/clientip`` without the port)."""
        if self.clientip is None:
            return None
        host = self.clientip.rsplit(":", 1)[0]
        return host.strip("[]")


def describe_error(err: BaseException) -> str:
    """A connection failure as one word: refused, timeout, unreachable, reset, or the error."""
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(err, ConnectionResetError):
        return "reset"
    if isinstance(err, OSError) and err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable"
    return f"{type(err).__name__}: {err}"


# -- the helper (child side) ---------------------------------------------------------------------


def _host_port(sockname: tuple[Any, ...]) -> str:
    host = str(sockname[0])
    return f"[{host}]:{sockname[1]}" if ":" in host else f"{host}:{sockname[1]}"


async def _http_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str, last: bool
) -> str:
    close = "Connection: close\r\n" if last else ""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{close}\r\n".encode())
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status = head.split(" ", 2)[1] if head.count(" ") >= 2 else "?"
    length = next(
        (int(v) for k, _, v in (h.partition(":") for h in head.split("\r\n")[1:])
         if k.strip().lower() == "content-length"),
        0,
    )  # fmt: skip
    body = (await reader.readexactly(min(length, MAX_ANSWER))).decode()
    if status != "200":
        raise ConnectionError(f"HTTP {status}: {body[:80]}")
    return body


def _local(dst: str, sport: int | None) -> tuple[str, int] | None:
    if sport is None:
        return None
    return ("::" if ":" in dst else "0.0.0.0", sport)


async def _tcp(dst: str, port: int, sport: int | None) -> tuple[str, str, str]:
    reader, writer = await asyncio.open_connection(dst, port, local_addr=_local(dst, sport))
    try:
        local = _host_port(writer.get_extra_info("sockname"))
        host = f"[{dst}]:{port}" if ":" in dst else f"{dst}:{port}"
        hostname = await _http_get(reader, writer, host, "/hostname", last=False)
        clientip = await _http_get(reader, writer, host, "/clientip", last=True)
        return local, hostname, clientip
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on a connected socket: the kernel reports ECONNREFUSED.
        self.queue.put_nowait(exc)


async def _udp(dst: str, port: int, sport: int | None) -> tuple[str, str, str]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _Datagrams, remote_addr=(dst, port), local_addr=_local(dst, sport)
    )
    try:
        local = _host_port(transport.get_extra_info("sockname"))
        replies = []
        for question in (b"hostname", b"clientip"):
            transport.sendto(question)
            got = await protocol.queue.get()
            if isinstance(got, BaseException):
                raise got
            replies.append(got.decode())
        return local, replies[0], replies[1]
    finally:
        transport.close()


async def _one(request: dict[str, Any], timeout: float, gate: asyncio.Semaphore) -> dict[str, Any]:
    async with gate:
        talk = _udp if request["proto"] == "udp" else _tcp
        try:
            local, hostname, clientip = await asyncio.wait_for(
                talk(request["dst"], request["port"], request["sport"]), timeout
            )
        except (
            TimeoutError,
            OSError,
            ValueError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ) as err:
            return {"error": describe_error(err), "local": None, "hostname": None, "clientip": None}
        return {"error": None, "local": local, "hostname": hostname, "clientip": clientip}


async def _run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(spec["concurrency"])
    jobs = [
        _one(request, spec["timeout"], gate)
        for request in spec["requests"]
        for _ in range(request["count"])
    ]
    return list(await asyncio.gather(*jobs))


def main() -> int:
    """The helper: read the spec, move into the namespace, connect, print the answers."""
    spec = json.loads(sys.stdin.buffer.readline())
    move_to(spec["netns"])
    json.dump(asyncio.run(_run(spec)), sys.stdout)
    sys.stdout.flush()
    return 0


# -- the parent side -----------------------------------------------------------------------------


def probe(
    namespace: str,
    requests: Sequence[Request],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> tuple[Answer, ...]:
    """Open every requested connection from inside lab namespace ``namespace``, concurrently.

    Answers come back in request order (a request of ``count`` N gives N answers in a row).
    The helper refuses to run anywhere but the named namespace: if it does not exist, the
    move fails and nothing is sent.
    """
    path = namespace_path(namespace)
    if not path.exists():
        raise TrafficError(f'network namespace "{namespace}" does not exist (is the lab up?)')
    for request in requests:
        if request.proto not in ("tcp", "udp"):
            raise TrafficError(f'protocol "{request.proto}": the helper speaks tcp and udp')
    spec = {
        "netns": str(path),
        "timeout": timeout,
        "concurrency": concurrency,
        "requests": [asdict(r) for r in requests],
    }
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
    }
    total = sum(r.count for r in requests)
    waves = -(-total // max(concurrency, 1))
    proc = subprocess.run(
        [sys.executable, "-m", "k8s_service_lab.netns.traffic"],
        input=json.dumps(spec).encode() + b"\n",
        capture_output=True,
        env=env,
        timeout=30 + waves * timeout * 2,
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise TrafficError(f"traffic helper in {namespace} exited {proc.returncode}: {tail}")
    raw = cast(list[dict[str, Any]], json.loads(proc.stdout))
    return tuple(Answer(a["error"], a["local"], a["hostname"], a["clientip"]) for a in raw)


if __name__ == "__main__":
    raise SystemExit(main())
