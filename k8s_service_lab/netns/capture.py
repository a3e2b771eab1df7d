r"""``ksl trace --kernel --capture``: the packet and its reply on every interface they cross.

While :func:`~k8s_service_lab.netns.kerneltrace.kernel_trace` sends its one connection,
:func:`capture` sniffs with scapy in the source namespace, every node namespace and the
namespace of every pod the simulator says may answer — one helper process per namespace
(``python -m k8s_service_lab.netns.capture``), which enters its namespace *before* importing
scapy, because scapy caches interfaces and routes at import (DESIGN §8). Each sighting says
where the packet was, which way it went, and its addresses, labelled against the flow: the
request as sent, after DNAT (and SNAT when masqueraded), the reply from the endpoint, and
after the node reverses the NAT on the way back::

    >>> from k8s_service_lab.tracer import Packet
    >>> flow = Packet("10.244.0.4", "10.96.0.20", "tcp", 40000, 80)
    >>> stage(flow, ("10.244.1.2", 8080), ("10.244.0.4", 40000, "10.244.1.2", 8080))
    '→ after DNAT'
    >>> stage(flow, ("10.244.1.2", 8080), ("10.96.0.20", 80, "10.244.0.4", 40000))
    '← after un-DNAT'
    >>> stage(flow, ("10.244.1.2", 8080), ("10.244.1.2", 8080, "10.244.1.1", 51000))
    '← reply to the masquerade address'

All sightings go to one pcapng file, merged in time order (the namespaces share one clock),
one pcapng interface per ``namespace:interface`` and each packet's stage as its comment,
so Wireshark shows the rewrites frame by frame.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netns.enter import move_to, namespace_path
from k8s_service_lab.netns.kerneltrace import KernelTrace, kernel_trace
from k8s_service_lab.netns.names import Role
from k8s_service_lab.tracer.model import Packet

if TYPE_CHECKING:
    from k8s_service_lab.netns.kernel import RunningLab
    from k8s_service_lab.netns.plan import LabPlan
    from k8s_service_lab.netns.proxy import LabProxy

__all__ = ["Capture", "CaptureError", "Sighting", "capture", "stage"]

#: How long a sniffer may take to import scapy and open its sockets.
START_SECONDS = 30.0

Tuple4 = tuple[str, int | None, str, int | None]


class CaptureError(ServiceLabError):
    """A sniffer could not start or report."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One packet seen on one interface: when, where, which way, its addresses, its stage."""

    time: float
    namespace: str
    where: str
    interface: str
    direction: str
    proto: str
    src: str
    sport: int | None
    dst: str
    dport: int | None
    stage: str
    summary: str

    def addresses(self) -> str:
        def hp(ip: str, port: int | None) -> str:
            host = f"[{ip}]" if ":" in ip else ip
            return host if port is None else f"{host}:{port}"

        return f"{hp(self.src, self.sport)} → {hp(self.dst, self.dport)}"


@dataclass(frozen=True, slots=True)
class Capture:
    """Every sighting of the flow and its reply, in time order, and the pcapng written."""

    packet: Packet
    endpoint: tuple[str, int] | None
    sightings: tuple[Sighting, ...]
    pcap: Path | None

    def text(self) -> str:
        """One line per sighting: time since the first, where, direction, addresses, stage."""
        if not self.sightings:
            return "no packet of the flow was seen\n"
        t0 = self.sightings[0].time
        lines = []
        for s in self.sightings:
            where = f"{s.where} {s.interface}"
            lines.append(
                f"{(s.time - t0) * 1000:8.3f} ms  {where:<38} {s.direction:<3} "
                f"{s.proto:<4} {s.addresses():<44} {s.stage}"
            )
        if self.pcap is not None:
            lines.append(f"pcapng: {self.pcap}")
        return "\n".join(lines) + "\n"

    def stages(self) -> tuple[str, ...]:
        """The distinct stages seen, in order of first sighting."""
        return tuple(dict.fromkeys(s.stage for s in self.sightings))


def stage(
    flow: Packet, endpoint: tuple[str, int] | None, seen: Tuple4, masquerade: bool = False
) -> str:
    """Name what has happened to a packet of ``flow`` seen with addresses ``seen``.

    ``masquerade``: the flow was source-NATed, so the node's reverse rewrite of a reply
    undoes the SNAT and the DNAT at once.
    """
    src, sport, dst, dport = seen
    front = (flow.dst, flow.dport)
    client = (flow.src, flow.sport)
    if (dst, dport) == front:
        return "→ as sent" if (src, sport) == client else "→ SNAT before DNAT"
    if endpoint is not None and (dst, dport) == endpoint:
        return "→ after DNAT" if (src, sport) == client else "→ after DNAT and SNAT"
    if (src, sport) == front:
        if (dst, dport) != client:
            return "← after un-DNAT, to the node"
        return "← after un-SNAT and un-DNAT" if masquerade else "← after un-DNAT"
    if endpoint is not None and (src, sport) == endpoint:
        if (dst, dport) == client:
            return "← reply from the endpoint"
        return "← reply to the masquerade address"
    return "other"


# -- the sniffer (child side) --------------------------------------------------------------------


def _wanted(ports: set[int], layers: dict[str, Any]) -> Any:
    def keep(pkt: Any) -> bool:
        for name in ("TCP", "UDP"):
            l4 = pkt.getlayer(layers[name])
            if l4 is not None:
                return int(l4.sport) in ports or int(l4.dport) in ports
        # An ICMP error quotes the packet it answers (a REJECT's port unreachable).
        for icmp in ("ICMP", "ICMPv6DestUnreach"):
            err = pkt.getlayer(layers[icmp])
            if err is not None:
                quoted = err.payload
                inner = quoted.getlayer(layers["TCPerror"]) or quoted.getlayer(layers["UDPerror"])
                return inner is not None and int(inner.dport) in ports
        return False

    return keep


def main() -> int:
    """The helper: enter the namespace, then import scapy, sniff until told to stop."""
    spec = json.loads(sys.stdin.readline())
    move_to(spec["netns"])
    from scapy.arch import get_if_hwaddr
    from scapy.interfaces import get_if_list
    from scapy.layers.inet import ICMP, TCP, UDP, TCPerror, UDPerror
    from scapy.layers.inet6 import ICMPv6DestUnreach
    from scapy.sendrecv import AsyncSniffer

    layers = {
        "TCP": TCP,
        "UDP": UDP,
        "ICMP": ICMP,
        "ICMPv6DestUnreach": ICMPv6DestUnreach,
        "TCPerror": TCPerror,
        "UDPerror": UDPerror,
    }
    ifaces = [i for i in get_if_list() if i != "lo"]
    macs = {i: get_if_hwaddr(i) for i in ifaces}
    started = threading.Event()
    sniffer = AsyncSniffer(
        iface=ifaces,
        lfilter=_wanted(set(spec["ports"]), layers),
        store=True,
        started_callback=started.set,
    )
    sniffer.start()
    started.wait(START_SECONDS)
    print("ready", flush=True)
    sys.stdin.readline()  # "stop", or EOF when the parent goes away
    found: list[Any] = list(sniffer.stop() or [])
    out = []
    for p in found:
        iface = str(p.sniffed_on)
        src_mac = getattr(p, "src", None)
        out.append(
            {
                "time": float(p.time),
                "iface": iface,
                "out": src_mac == macs.get(iface),
                "data": base64.b64encode(bytes(p)).decode(),
            }
        )
    json.dump(out, sys.stdout)
    sys.stdout.flush()
    return 0


# -- the parent side -----------------------------------------------------------------------------


def _where(plan: LabPlan, namespace: str) -> str:
    ns = plan.namespace(namespace)
    return {Role.POD: "pod", Role.NODE: "node", Role.EXTERNAL: "external", Role.NETWORK: "network"}[
        ns.role
    ] + ("" if ns.role is Role.EXTERNAL else f" {ns.subject}")


def _start(namespace: str, ports: Iterable[int]) -> subprocess.Popen[str]:
    path = namespace_path(namespace)
    if not path.exists():
        raise CaptureError(f'network namespace "{namespace}" does not exist (is the lab up?)')
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "k8s_service_lab.netns.capture"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"netns": str(path), "ports": sorted(set(ports))}) + "\n")
    proc.stdin.flush()
    return proc


def _readline(stream: IO[str], seconds: float) -> str:
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    return got[0] if got else ""


def _stop(procs: Sequence[subprocess.Popen[str]]) -> list[tuple[str, str]]:
    """Tell every sniffer to stop; each one's (stdout, stderr)."""
    outputs = []
    for proc in procs:
        try:
            out, err = proc.communicate("stop\n", timeout=START_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        outputs.append((out or "", err or ""))
    return outputs


def capture(
    lab: RunningLab | LabPlan,
    proxy: LabProxy,
    src: str,
    dst: str,
    dport: int,
    proto: str = "tcp",
    sport: int | None = None,
    *,
    node: str | None = None,
    endpoints: Iterable[tuple[str, int]] = (),
    pcap: Path | None = None,
) -> tuple[KernelTrace, Capture]:
    """:func:`kernel_trace` with sniffers in every namespace the flow may cross.

    ``endpoints`` are the ``(ip, port)`` pairs that may answer (the simulator's endpoint
    set): their pods' namespaces are sniffed too, and their ports select the packets.
    With ``pcap``, every sighting is written there as one pcapng, in time order.
    """
    from k8s_service_lab.netns.kernel import RunningLab

    plan = lab.plan if isinstance(lab, RunningLab) else lab
    endpoints = tuple(endpoints)
    by_ip = {str(ip): p.namespace for p in plan.pods for ip in p.ips}
    namespaces = [ns.name for ns in plan.namespaces if ns.role is Role.NODE]
    if src in by_ip:
        namespaces.insert(0, by_ip[src])
    elif src in (str(ip) for ip in plan.external_ips):
        namespaces.insert(0, plan.external.name)
    namespaces += [by_ip[ip] for ip, _ in endpoints if ip in by_ip]
    namespaces = list(dict.fromkeys(namespaces))
    flow_sport = sport
    if flow_sport is None:
        import random

        from k8s_service_lab.netns.kerneltrace import EPHEMERAL_PORTS

        flow_sport = random.randint(*EPHEMERAL_PORTS)
    ports = {flow_sport, dport, *(port for _, port in endpoints)}
    procs: list[subprocess.Popen[str]] = []
    try:
        for ns in namespaces:
            procs.append(_start(ns, ports))
        for ns, proc in zip(namespaces, procs, strict=True):
            assert proc.stdout is not None
            if _readline(proc.stdout, START_SECONDS).strip() != "ready":
                raise CaptureError(f"the sniffer in {ns} did not start")
        trace = kernel_trace(lab, proxy, src, dst, dport, proto, flow_sport, node=node)
    finally:
        outputs = _stop(procs)
    raw: list[tuple[str, dict[str, Any]]] = []
    for ns, proc, (out, err) in zip(namespaces, procs, outputs, strict=True):
        if proc.returncode != 0 or not out:
            raise CaptureError(f"the sniffer in {ns} exited {proc.returncode}: {err[-2000:]}")
        raw.extend((ns, item) for item in json.loads(out))
    return trace, _assemble(plan, trace, raw, pcap)


def _assemble(
    plan: LabPlan, trace: KernelTrace, raw: list[tuple[str, dict[str, Any]]], pcap: Path | None
) -> Capture:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapNgWriter

    sightings: list[tuple[Sighting, Any]] = []
    for ns, item in sorted(raw, key=lambda r: float(r[1]["time"])):
        pkt = Ether(base64.b64decode(item["data"]))
        ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        if ip is None:
            continue
        l4 = pkt.getlayer(TCP) or pkt.getlayer(UDP)
        proto = "tcp" if pkt.haslayer(TCP) else "udp" if pkt.haslayer(UDP) else "icmp"
        sport = int(l4.sport) if l4 is not None else None
        dport = int(l4.dport) if l4 is not None else None
        seen = (str(ip.src), sport, str(ip.dst), dport)
        label = stage(trace.packet, trace.endpoint, seen, trace.masquerade)
        if l4 is None:
            label = "← ICMP error"
            if "unreach" in pkt.summary():
                label = "← ICMP destination unreachable (a REJECT)"
        s = Sighting(
            float(item["time"]),
            ns,
            _where(plan, ns),
            str(item["iface"]),
            "out" if item["out"] else "in",
            proto,
            *seen,
            label,
            pkt.summary(),
        )
        pkt.time = s.time
        pkt.sniffed_on = f"{ns}:{s.interface}"
        pkt.direction = 2 if item["out"] else 1
        pkt.comments = [f"{s.where} {s.interface} {s.direction}: {label}".encode()]
        sightings.append((s, pkt))
    if pcap is not None:
        writer = PcapNgWriter(str(pcap))
        try:
            for _, pkt in sightings:
                writer.write(pkt)
        finally:
            writer.close()
    return Capture(trace.packet, trace.endpoint, tuple(s for s, _ in sightings), pcap)


if __name__ == "__main__":
    raise SystemExit(main())
