"""Pods that do real work: one supervisor process serving agnhost ``netexec`` in every pod.

A socket belongs to the network namespace its creator was in when it was opened, not to the
process. So one supervisor (``python -m k8s_service_lab.netns.podserver``, a JSON spec on
stdin) enters each pod's namespace in turn, binds that pod's ports, comes back, and then serves
every socket from a single asyncio loop. What it answers is agnhost ``netexec``'s protocol
(:mod:`.netexec`), so lab checks read like upstream e2e tests.

Started with a :class:`~.resolvconf.LabDNS`, the CoreDNS pods answer DNS on 53/UDP and 53/TCP
instead (:mod:`.dnsserver`), from a zone the supervisor got in its spec; a JSON line
``{"seq": N, "dns": <zone>}`` on its stdin swaps the zone, acknowledged with ``updated N``.

The supervisor lives in the lab's network namespace (so a crash-safe teardown finds it by
namespace), prints ``ready N`` once all N sockets are bound, and exits when its stdin reaches
end-of-file — that is, when the lab that started it stops it or dies.

A lab that outlives the command that built it (``ksl cluster up``) starts the supervisor
*detached* instead: once every socket is bound (and listening, so nothing is lost), it forks;
the child starts its own session, leaves stdin and stdout, and serves until SIGTERM, while the
parent prints ``ready N PID`` and exits. Later commands find the server by that PID, checked
with ``reconcile.is_supervisor``, and end it with :func:`stop_detached`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netns.dnsserver import (
    Responder,
    ZoneSnapshot,
    serve_tcp,
    udp_protocol,
)
from k8s_service_lab.netns.enter import entered, move_to, namespace_path
from k8s_service_lab.netns.netexec import (
    answer,
    go_host_port,
    http_handler,
    udp_answer,
    udp_factory,
)
from k8s_service_lab.netns.plan import LabPlan, PodPlan, ServedPort
from k8s_service_lab.netns.resolvconf import LabDNS

__all__ = [
    "PodServers",
    "answer",
    "go_host_port",
    "stop_detached",
    "supervisor_spec",
    "udp_answer",
]

#: Time the supervisor gets to bind everything and say ``ready``.
START_TIMEOUT = 15.0
#: Time it gets to take a new DNS zone.
UPDATE_TIMEOUT = 15.0
DNS_PORT = 53
NETEXEC = "netexec"
DNS = "dns"
#: What the supervisor's command line says, so a PID read back from a file can be checked.
MODULE = "k8s_service_lab.netns.podserver"


# -- the supervisor (child side) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bound:
    hostname: str
    protocol: str
    sock: socket.socket
    service: str = NETEXEC


def _bind(port: int, protocol: str, ipv6: bool) -> socket.socket:
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    kind = socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ipv6:
        # Like Go's ":8080": one socket for both families on a dual-stack pod.
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::" if ipv6 else "0.0.0.0", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(socket.SOMAXCONN)
    sock.setblocking(False)
    return sock


async def _serve(bound: list[_Bound], responder: Responder | None, attached: bool = True) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    servers = []
    transports = []
    for item in bound:
        dns = responder if item.service == DNS else None
        if item.protocol == "TCP":
            handler = http_handler(item.hostname) if dns is None else serve_tcp(dns)
            servers.append(await asyncio.start_server(handler, sock=item.sock))
        else:
            factory = udp_factory(item.hostname) if dns is None else udp_protocol(dns)
            transport, _ = await loop.create_datagram_endpoint(factory, sock=item.sock)
            transports.append(transport)
    pending = bytearray()

    def on_stdin() -> None:
        chunk = os.read(sys.stdin.fileno(), 1 << 16)
        if not chunk:
            stop.set()
            return
        pending.extend(chunk)
        while (end := pending.find(b"\n")) >= 0:
            line = bytes(pending[:end])
            del pending[: end + 1]
            print(_control(line, responder), flush=True)

    if attached:
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if attached:
        print(f"ready {len(bound)}", flush=True)
    await stop.wait()
    for transport in transports:
        transport.close()
    for server in servers:
        server.close()
        await server.wait_closed()


def _control(line: bytes, responder: Responder | None) -> str:
    """One message from the lab on stdin: ``{"seq": N, "dns": <zone>}`` swaps the DNS zone."""
    try:
        message = json.loads(line)
        seq = int(message["seq"])
    except (ValueError, KeyError, TypeError) as err:
        return f"error - unreadable control message: {err}"
    if responder is None:
        return f"error {seq} this supervisor serves no DNS"
    try:
        responder.update(ZoneSnapshot.from_json(message["dns"]))
    except Exception as err:  # the old zone keeps answering; the lab hears why
        return f"error {seq} {type(err).__name__}: {err}".replace("\n", " ")
    return f"updated {seq}"


def main() -> int:
    """The supervisor: read the spec, bind in every pod namespace, serve until stdin closes."""
    spec = json.loads(sys.stdin.buffer.readline())
    responder = Responder(ZoneSnapshot.from_json(spec["dns"])) if spec.get("dns") else None
    move_to(spec["home"])
    bound: list[_Bound] = []
    for pod in spec["pods"]:
        with entered(pod["path"]):
            for port, protocol in pod["ports"]:
                sock = _bind(port, protocol, pod["ipv6"])
                bound.append(_Bound(pod["hostname"], protocol, sock))
            if pod.get("dns") and responder is not None:
                # CoreDNS's ".:53" server block: UDP and TCP on every address of the pod.
                for protocol in ("UDP", "TCP"):
                    sock = _bind(DNS_PORT, protocol, pod["ipv6"])
                    bound.append(_Bound(pod["hostname"], protocol, sock, DNS))
    if spec.get("detached"):
        return _detach(bound, responder)
    asyncio.run(_serve(bound, responder))
    return 0


def _detach(bound: list[_Bound], responder: Responder | None) -> int:
    """Fork off the server: the parent reports ``ready N PID`` and returns; the child serves.

    The sockets are bound and listening before the fork, so a connection made as soon as the
    lab hears ``ready`` waits in the backlog instead of being refused.
    """
    child = os.fork()
    if child:
        print(f"ready {len(bound)} {child}", flush=True)
        return 0
    os.setsid()  # no controlling terminal: a Ctrl-C or hang-up of the CLI does not reach it
    quiet = os.open(os.devnull, os.O_RDWR)
    os.dup2(quiet, 0)
    os.dup2(quiet, 1)
    os.close(quiet)
    asyncio.run(_serve(bound, responder, attached=False))
    os._exit(0)  # never return into the parent's code path


# -- the handle (parent side) --------------------------------------------------------------------


def supervisor_spec(
    plan: LabPlan, dns: LabDNS | None = None, *, detached: bool = False
) -> dict[str, Any]:
    """What the supervisor reads on stdin: its home namespace, every pod's ports and, with
    ``dns``, the zone its CoreDNS pods serve (on 53/UDP and 53/TCP, instead of netexec)."""
    servers = set(dns.servers) if dns is not None else set()
    return {
        "home": str(namespace_path(plan.network.name)),
        "detached": detached,
        "dns": dns.zone.to_json() if dns is not None else None,
        "pods": [
            {
                "path": str(namespace_path(pod.namespace)),
                "pod": pod.pod,
                "hostname": pod.hostname,
                "ipv6": any(ip.version == 6 for ip in pod.ips),
                "ports": [[p.port, p.protocol] for p in _netexec_ports(pod, pod.pod in servers)],
                "dns": pod.pod in servers,
            }
            for pod in plan.pods
        ],
    }


def _netexec_ports(pod: PodPlan, serves_dns: bool) -> list[ServedPort]:
    if not serves_dns:
        return list(pod.ports)
    return [p for p in pod.ports if p.port != DNS_PORT or p.protocol not in ("UDP", "TCP")]


class PodServers:
    """The running supervisor process; :meth:`stop` ends it (closing its stdin), and
    :meth:`update_dns` hands its DNS servers a new zone.

    A detached one (``start(..., detached=True)``) is known by :attr:`pid` alone: it takes no
    DNS updates (a changed lab starts a new one) and :meth:`stop` sends it SIGTERM.
    """

    def __init__(
        self, process: subprocess.Popen[bytes], sockets: int, daemon: int | None = None
    ) -> None:
        self.process = process
        self.sockets = sockets
        self.daemon = daemon
        self._updates = 0

    @property
    def pid(self) -> int:
        """The serving process: the forked-off server when detached."""
        return self.daemon if self.daemon is not None else self.process.pid

    @classmethod
    def start(
        cls,
        plan: LabPlan,
        *,
        dns: LabDNS | None = None,
        timeout: float = START_TIMEOUT,
        detached: bool = False,
        log: Path | None = None,
    ) -> PodServers:
        """Start the supervisor for ``plan`` (already built) and wait until it is serving;
        with ``dns``, ``dns.servers`` answer DNS from ``dns.zone``.

        ``detached``: the server outlives this process (and ends only by SIGTERM); its
        stderr goes to ``log`` when given (appended), else nowhere once it is serving.
        """
        package_root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (package_root, os.environ.get("PYTHONPATH")) if p
            ),
        }
        spec = supervisor_spec(plan, dns, detached=detached)
        with _errors_file(log) as errors:
            process = subprocess.Popen(
                [sys.executable, "-m", MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=env,
                cwd="/" if detached else None,
            )
            line = cls._await_ready(process, spec, errors, timeout)
        words = line.split()
        if not detached:
            return cls(process, int(words[1]))
        # The parent exits right after saying ready; the server is its forked child.
        cls(process, 0).stop()
        return cls(process, int(words[1]), int(words[2]))

    @classmethod
    def _await_ready(
        cls,
        process: subprocess.Popen[bytes],
        spec: dict[str, Any],
        errors: IO[bytes],
        timeout: float,
    ) -> bytes:
        try:
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.write(json.dumps(spec).encode() + b"\n")
            process.stdin.flush()
            line = _read_line(process.stdout, timeout)
            if not line.startswith(b"ready "):
                raise ServiceLabError(
                    "pod servers did not start: " + (_tail(errors) or "no output")
                )
        except BaseException:
            cls(process, 0).stop()
            raise
        return line

    def update_dns(self, zone: ZoneSnapshot, *, timeout: float = UPDATE_TIMEOUT) -> None:
        """Replace the zone every DNS server answers from; returns once they answer from it.

        Raises :class:`ServiceLabError` when the supervisor refuses it (the old zone then
        keeps answering) or does not reply within ``timeout``.
        """
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self._updates += 1
        message = {"seq": self._updates, "dns": zone.to_json()}
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()
        line = _read_line(self.process.stdout, timeout).decode("utf-8", "replace").strip()
        if line != f"updated {self._updates}":
            raise ServiceLabError(
                f"the DNS servers did not take the new zone: {line or 'no reply'}"
            )

    def stop(self, timeout: float = 5.0) -> None:
        """End-of-file on stdin asks it to exit; it is killed if it has not within ``timeout``.
        A detached server is asked with SIGTERM (see :func:`stop_detached`)."""
        if self.daemon is not None:
            stop_detached(self.daemon, timeout)
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _errors_file(log: Path | None) -> IO[bytes]:
    """Where the supervisor's stderr goes: ``log`` (appended), else a nameless temporary."""
    if log is not None:
        return log.open("a+b")
    return tempfile.TemporaryFile()


def stop_detached(pid: int, timeout: float = 5.0) -> bool:
    """SIGTERM to a detached server (it closes its sockets and exits), SIGKILL after
    ``timeout``; whether there was a process to stop. Not our child: we poll ``/proc``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return sig is signal.SIGKILL
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _running(pid):
                return True
            time.sleep(0.02)
    return True


def _running(pid: int) -> bool:
    """Alive and not a zombie (a reaper that never waits would keep it listed forever)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return b""
    return stream.readline()


def _tail(errors: IO[bytes]) -> str:
    errors.seek(0)
    return errors.read().decode("utf-8", "replace").strip()[-2000:]


if __name__ == "__main__":
    raise SystemExit(main())
