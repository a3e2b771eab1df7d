"""``ksl trace``: where does this packet go, and why — on the modelled cluster or a real dump.

On the embedded cluster (``-f`` manifests applied first) the packet meets the rules kube-proxy
would program on ``--node``; with ``--dump`` it meets a real node's ``iptables-save`` output,
described by ``--node-ip`` (the addresses ``-m addrtype LOCAL`` matches) and
``--cluster-cidr``. ``--src``/``--dst`` take addresses or, on the cluster, shorthands:

- ``pod/NAMESPACE/NAME`` — the pod's IP; as a source it also picks the pod's node;
- ``node/NAME`` — the node's IP; as a source the node sends the packet itself (nat OUTPUT);
- ``svc/NAMESPACE/NAME`` — as a destination, the Service's ClusterIP (and, when the Service
  has one port, its port and protocol).

Without ``--node`` the trace runs on the source's node (a pod or node source), else on the
node whose address is the destination (a NodePort), else on the first worker.

With ``--kernel`` (root, a lab up: ``ksl cluster up``) the same packet is also sent for real
inside the lab, the kernel's own rule trace (``nft monitor trace``) is read back, and both
are shown side by side, any disagreement marked (exit status 1 when they disagree).
``--capture`` also sniffs every interface the packet and its reply cross and shows the
addresses as NAT rewrites them; ``--pcap FILE`` saves those packets for Wireshark.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.tracer import EndpointName, TraceReport

OUTPUTS = ("text", "json", "mermaid")
#: The source port of a traced packet when none is given (any unprivileged port would do).
DEFAULT_SPORT = 40000


@dataclass(frozen=True, slots=True)
class TraceRequest:
    """The flow asked for on the command line, before shorthands are resolved."""

    src: str
    dst: str
    dport: int | None
    proto: str | None
    #: ``None``: not given — 40000 for the simulator, a fresh random port for ``--kernel``.
    sport: int | None
    node: str | None

    @property
    def source_port(self) -> int:
        return DEFAULT_SPORT if self.sport is None else self.sport


@dataclass(frozen=True, slots=True)
class _Target:
    ip: str
    node: str | None = None
    #: A Service's ports as (port, protocol, name): the port is implied when there is one.
    ports: tuple[tuple[int, str, str | None], ...] = ()

    @property
    def port(self) -> int | None:
        return self.ports[0][0] if len(self.ports) == 1 else None

    def protocol_of(self, port: int) -> str | None:
        """The protocol of the Service's first port numbered ``port`` (53: dns over UDP)."""
        return next((proto for p, proto, _ in self.ports if p == port), None)

    @property
    def ports_hint(self) -> str:
        if not self.ports:
            return ""
        listed = ", ".join(f"{p}/{proto}" + (f" {n}" if n else "") for p, proto, n in self.ports)
        return f" (ports: {listed})"


class TraceUsageError(Exception):
    """A request that cannot be traced as given (exit status 2, like a usage error)."""


def run_trace(
    request: TraceRequest,
    *,
    files: Sequence[Path],
    config_path: Path | None,
    mode: str | None,
    output: str,
    dump: Path | None,
    node_ips: Sequence[str],
    cluster_cidr: str | None,
    probabilities: str,
    seed: int,
    kernel: bool = False,
    capture: bool = False,
    pcap: Path | None = None,
    dump_kind: str = "auto",
) -> int:
    from k8s_service_lab.errors import NotFoundError, ServiceLabError

    kernel = kernel or capture or pcap is not None
    if kernel and (dump is not None or files or config_path is not None):
        typer.echo("error: --kernel traces the running lab: drop --dump, -f and --config", err=True)
        return 2
    if output not in OUTPUTS:
        typer.echo(f'error: unknown output format "{output}" (text, json or mermaid)', err=True)
        return 2
    ok = True
    try:
        if dump is not None:
            if files or config_path is not None:
                raise TraceUsageError("--dump traces a real node's rules: drop -f and --config")
            report = _trace_dump(request, dump, node_ips, cluster_cidr, probabilities, dump_kind)
        else:
            if node_ips or cluster_cidr:
                raise TraceUsageError("--node-ip and --cluster-cidr describe a --dump's node")
            from k8s_service_lab.cli.common import build_cluster

            cluster, ok = build_cluster(files, config_path, seed)
            report = trace_on_cluster(cluster, request, mode, probabilities)
            if kernel:
                return _with_kernel(
                    cluster, report, request, output, capture or pcap is not None, pcap
                )
    except TraceUsageError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except NotFoundError as err:
        typer.echo(f"Error from server (NotFound): {err}", err=True)
        return 1
    except ServiceLabError as err:
        typer.echo(f"error: {err}", err=True)
        return 1
    if output == "json":
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif output == "mermaid":
        typer.echo(report.to_mermaid(), nl=False)
    else:
        typer.echo(report.to_text(), nl=False)
    return 0 if ok else 1


# -- the modelled cluster -------------------------------------------------------------------


def trace_on_cluster(
    cluster: Cluster, request: TraceRequest, mode: str | None, probabilities: str
) -> TraceReport:
    from k8s_service_lab.errors import NotFoundError
    from k8s_service_lab.tracer import Packet, TraceReport

    src = _resolve(cluster, request.src, "--src")
    dst = _resolve(cluster, request.dst, "--dst")
    dport = request.dport if request.dport is not None else dst.port
    if dport is None:
        raise TraceUsageError(f"--dport is needed for {request.dst}{dst.ports_hint}")
    proto = (request.proto or dst.protocol_of(dport) or "tcp").lower()
    node = request.node or src.node or dst.node or cluster.default_node()
    if all(n.name != node for n in cluster.config.cluster_nodes):
        raise NotFoundError("nodes", node)
    family = 6 if ":" in dst.ip else 4
    if (":" in src.ip) != (family == 6):
        raise TraceUsageError(f"--src {src.ip} and --dst {dst.ip} are of different IP families")
    tracer = cluster.tracer(node, mode, family, probabilities=probabilities)
    packet = Packet(src.ip, dst.ip, proto, request.source_port, dport)
    sent = tracer.node.is_local(src.ip)
    result = tracer.sent(packet) if sent else tracer.arriving(packet)
    return TraceReport(
        packet, result, node, "sent" if sent else "arriving", endpoint_names(cluster)
    )


def _resolve(cluster: Cluster, text: str, flag: str) -> _Target:
    import ipaddress

    from k8s_service_lab.errors import NotFoundError

    kind, _, rest = text.partition("/")
    if not rest:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise TraceUsageError(
                f"{flag} {text}: not an IP address, pod/NAMESPACE/NAME, node/NAME or "
                "svc/NAMESPACE/NAME"
            ) from None
        # A node's own address names that node; a source in a node's pod CIDR, its node
        # (the packet meets that node's rules first).
        for n in cluster.config.cluster_nodes:
            if ip in n.addresses or (flag == "--src" and any(ip in c for c in n.pod_cidrs)):
                return _Target(str(ip), node=n.name)
        return _Target(str(ip))
    if kind == "node":
        cluster_node = next((n for n in cluster.config.cluster_nodes if n.name == rest), None)
        if cluster_node is None:
            raise NotFoundError("nodes", rest)
        return _Target(str(cluster_node.internal_ip), node=rest)
    namespace, _, name = rest.partition("/")
    if not name or "/" in name:
        raise TraceUsageError(f"{flag} {text}: write {kind}/NAMESPACE/NAME")
    if kind in ("pod", "pods", "po"):
        pod = cluster.get("Pod", name, namespace)
        if pod.status.pod_ip is None:
            raise TraceUsageError(f"{flag} {text}: the pod has no IP yet (not scheduled?)")
        return _Target(pod.status.pod_ip, node=pod.spec.node_name)
    if kind in ("svc", "service", "services"):
        if flag == "--src":
            raise TraceUsageError("--src cannot be a Service: packets come from pods or nodes")
        svc = cluster.get("Service", name, namespace)
        if svc.spec.cluster_ip in (None, "None"):
            raise TraceUsageError(f"{text} has no ClusterIP (headless or ExternalName)")
        ports = tuple((p.port, p.protocol or "TCP", p.name) for p in svc.spec.ports)
        return _Target(svc.spec.cluster_ip, ports=ports)
    raise TraceUsageError(f"{flag} {text}: {kind}/ is not one of pod/, node/ or svc/")


def endpoint_names(cluster: Cluster) -> dict[str, EndpointName]:
    from k8s_service_lab.tracer import EndpointName

    names: dict[str, EndpointName] = {}
    for n in cluster.config.cluster_nodes:
        for a in n.addresses:
            names[str(a)] = EndpointName(None, n.name)
    for pod in cluster.list("Pod", None):
        status = pod.status
        if pod.spec.host_network:
            continue
        for ip in status.pod_ips or (status.pod_ip,):
            if ip is not None:
                name = f"{pod.metadata.namespace}/{pod.metadata.name}"
                names[ip] = EndpointName(name, pod.spec.node_name)
    return names


# -- the kernel lab ------------------------------------------------------------------------


def _with_kernel(
    cluster: Cluster,
    report: TraceReport,
    request: TraceRequest,
    output: str,
    sniff: bool,
    pcap: Path | None,
) -> int:
    """Send the packet for real in the running lab; show the kernel's path next to ours."""
    import os

    from k8s_service_lab.cli.cluster_names import current_lab
    from k8s_service_lab.netns.state import lab_names

    name = current_lab()
    if os.geteuid() != 0 or name not in lab_names():
        raise TraceUsageError(
            f'--kernel needs the kernel lab "{name}" up (as root): ksl cluster up --name {name}'
        )
    from k8s_service_lab.netns.kerneltrace import kernel_trace
    from k8s_service_lab.netns.plan import plan_lab
    from k8s_service_lab.netns.proxy import LabProxy
    from k8s_service_lab.netns.tracecompare import compare
    from k8s_service_lab.tracer import TraceReport

    plan = plan_lab(cluster, prefix=name)
    proxy = LabProxy(cluster, plan)
    p = report.packet
    captured = None
    if sniff:
        from k8s_service_lab.netns.capture import capture

        endpoints = [(ip, port) for ip, port, _ in report.result.endpoints]
        kt, captured = capture(
            plan,
            proxy,
            p.src,
            p.dst,
            p.dport,
            p.proto,
            request.sport,
            node=report.node,
            endpoints=endpoints,
            pcap=pcap,
        )
    else:
        kt = kernel_trace(
            plan,
            proxy,
            p.src,
            p.dst,
            p.dport,
            p.proto,
            request.sport,
            node=report.node,
        )
    comparison = compare(report.result, kt)
    if output == "json":
        kernel_report = TraceReport(kt.packet, kt.result, kt.node, kt.direction, report.names)
        doc = {
            "simulated": report.to_json(),
            "kernel": kernel_report.to_json(),
            "agrees": comparison.agrees,
            "differences": list(comparison.differences),
            "capture": None if captured is None else captured.text(),
            "pcap": None if pcap is None else str(pcap),
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        if output == "mermaid":
            typer.echo(report.to_mermaid(), nl=False)
        else:
            typer.echo(report.to_text(), nl=False)
        typer.echo(comparison.render(width=160))
        if captured is not None:
            typer.echo(captured.text())
        if pcap is not None:
            typer.echo(f"packets saved to {pcap}")
    return 0 if comparison.agrees else 1


# -- a real node's dump ---------------------------------------------------------------------


def _trace_dump(
    request: TraceRequest,
    dump: Path,
    node_ips: Sequence[str],
    cluster_cidr: str | None,
    probabilities: str,
    dump_kind: str,
) -> TraceReport:
    import ipaddress

    from k8s_service_lab.netfilter import parse_nft, parse_nft_json, parse_save
    from k8s_service_lab.tracer import NftTracer, NodeContext, Packet, Tracer, TraceReport

    if not node_ips:
        raise TraceUsageError(
            "--dump needs --node-ip (the node's own addresses: what -m addrtype LOCAL matches)"
        )
    for text in (request.src, request.dst):
        if "/" in text:
            raise TraceUsageError(f"{text}: shorthands need the modelled cluster, not --dump")
    if request.dport is None:
        raise TraceUsageError("--dport is needed")
    try:
        src = str(ipaddress.ip_address(request.src))
        dst = str(ipaddress.ip_address(request.dst))
        local = [str(ipaddress.ip_address(a)) for a in node_ips]
        if cluster_cidr is not None:
            ipaddress.ip_network(cluster_cidr, strict=False)
    except ValueError as err:
        raise TraceUsageError(str(err)) from None
    local.append("::1" if ":" in dst else "127.0.0.1")
    try:
        text = dump.read_text()
    except OSError as err:
        raise TraceUsageError(f"{dump}: {err.strerror}") from None
    context = NodeContext.of(local, cluster_cidr)
    tracer: Tracer | NftTracer
    kind = dump_format(text) if dump_kind == "auto" else dump_kind
    if kind == "nft-json":
        tracer = NftTracer(
            parse_nft_json(text, source=str(dump)), context, probabilities=probabilities
        )
    elif kind == "nft":
        tracer = NftTracer(parse_nft(text, source=str(dump)), context, probabilities=probabilities)
    else:
        tracer = Tracer(parse_save(text, source=str(dump)), context, probabilities=probabilities)
    proto = (request.proto or "tcp").lower()
    packet = Packet(src, dst, proto, request.source_port, request.dport)
    sent = tracer.node.is_local(src)
    result = tracer.sent(packet) if sent else tracer.arriving(packet)
    return TraceReport(packet, result, request.node, "sent" if sent else "arriving")


DUMP_FORMATS = ("auto", "iptables", "nft", "nft-json")


def dump_format(text: str) -> str:
    """What a dump is: ``nft -j list ruleset`` JSON, ``nft list ruleset`` text, or
    ``iptables-save`` output (the default: its comments and tables are recognised there).

    >>> dump_format('{"nftables": []}'), dump_format("table ip kube-proxy {"), dump_format("*nat")
    ('nft-json', 'nft', 'iptables')
    """
    for line in text.splitlines():
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        if word.startswith("{"):
            return "nft-json"
        if word.split()[0] in ("table", "flush", "add", "define", "include"):
            return "nft"
        return "iptables"
    return "iptables"
