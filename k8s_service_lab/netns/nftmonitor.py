r"""The temporary trace table and ``nft monitor`` inside a lab node namespace.

:func:`monitoring` runs ``nft -a monitor`` in a node namespace while a small table of our own
(:func:`trace_table_name`: the lab prefix as an nft identifier) marks one flow with
``meta nftrace set 1``; it deletes the table and stops the monitor whatever happens. The
table hooks prerouting (packets arriving on the node) and output (packets the node sends)
at priority -350, ahead of conntrack (-200) and every iptables table, and matches the flow's
addresses, protocol and ports, so no other packet is traced::

    >>> trace_table_name("ksl-t-k12")
    'ksl_t_k12_trace'
    >>> from k8s_service_lab.tracer import Packet
    >>> trace_table_script("t", Packet("fd00::4", "fd00:96::a", "tcp", 40000, 80)).splitlines()[0]
    'table ip6 t {'

Commands run through ``ip netns exec`` in a namespace the caller has checked (see
``kerneltrace._owned``), never in the host's.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.tracer.model import Packet

__all__ = [
    "KernelTraceError",
    "monitoring",
    "run_in",
    "settle",
    "trace_table_name",
    "trace_table_script",
]

#: Before conntrack (-200) and raw (-300): the mark is on the packet before anything else.
TRACE_PRIORITY = -350
#: How long the monitor may take to subscribe, and to go quiet after the connection.
READY_SECONDS = 5.0
SETTLE_SECONDS = 0.25
COMMAND_TIMEOUT = 30.0


class KernelTraceError(ServiceLabError):
    """The kernel could not be asked, or its trace showed no packet of the flow."""


def trace_table_name(prefix: str) -> str:
    """The temporary table's name: the lab prefix as an nft identifier, and ``_trace``."""
    return f"{prefix.replace('-', '_')}_trace"


def _flow_match(packet: Packet) -> str:
    ip = "ip6" if ":" in packet.dst else "ip"
    return (
        f"{ip} saddr {packet.src} {ip} daddr {packet.dst} meta l4proto {packet.proto} "
        f"th sport {packet.sport} th dport {packet.dport} meta nftrace set 1"
    )


def trace_table_script(table: str, packet: Packet) -> str:
    """The ``nft -f`` text of the marking table for ``packet``'s flow."""
    family = "ip6" if ":" in packet.dst else "ip"
    rule = _flow_match(packet)
    chains = "".join(
        f"  chain {name} {{\n"
        f"    type filter hook {hook} priority {TRACE_PRIORITY}; policy accept;\n"
        f"    {rule}\n  }}\n"
        for name, hook in (("pre", "prerouting"), ("out", "output"))
    )
    return f"table {family} {table} {{\n{chains}}}\n"


def run_in(
    namespace: str, argv: Sequence[str], *, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        input=input,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    if check and proc.returncode != 0:
        raise KernelTraceError(
            f"{namespace}: {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    return proc


@contextmanager
def monitoring(namespace: str, table: str, packet: Packet) -> Iterator[list[str]]:
    """``nft -a monitor`` in ``namespace`` with the marking table loaded; both gone after.

    The table is created with ``create``, which fails when it exists (another trace is
    running there), and deleted in every case. The monitor subscribes in its own time, so
    an empty chain is added (and removed) until the monitor reports it: from then on it
    sees every trace event.
    """
    family = "ip6" if ":" in packet.dst else "ip"
    lines: list[str] = []
    ready = threading.Event()
    ping = f"add chain {family} {table} ping"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", namespace, "nft", "-a", "monitor"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(ping):
                ready.set()

    reader = threading.Thread(target=read, name="ksl-nft-monitor", daemon=True)
    reader.start()
    created = False
    try:
        run_in(namespace, ("nft", "create", "table", family, table))
        created = True
        run_in(namespace, ("nft", "-f", "-"), input=trace_table_script(table, packet))
        deadline = time.monotonic() + READY_SECONDS
        while not ready.is_set():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise KernelTraceError(f"nft monitor in {namespace} did not start")
            run_in(namespace, ("nft", "add", "chain", family, table, "ping"))
            ready.wait(0.2)
            run_in(namespace, ("nft", "delete", "chain", family, table, "ping"))
        yield lines
    finally:
        try:
            if created:
                run_in(namespace, ("nft", "delete", "table", family, table), check=False)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            reader.join(timeout=2)
            if proc.stdout is not None:
                proc.stdout.close()


def settle(lines: list[str]) -> None:
    """Wait until the monitor has printed nothing new for a moment (the trace is complete)."""
    deadline = time.monotonic() + 2.0
    seen = -1
    while time.monotonic() < deadline and seen != len(lines):
        seen = len(lines)
        time.sleep(SETTLE_SECONDS)
