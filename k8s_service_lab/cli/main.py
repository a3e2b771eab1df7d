"""``ksl`` (also installed as ``k8s-service-lab``): the command-line entry point.

    $ ksl --version
    $ ksl validate -f examples/

Commands are registered here explicitly; each lives in its own module and imports the
library only when it runs, so start-up stays fast (a test watches ``sys.modules``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from k8s_service_lab.__about__ import __version__

app = typer.Typer(
    name="ksl",
    help=(
        "k8s-service-lab: see what a Kubernetes Service really is — selectors, EndpointSlices, "
        "allocators and kube-proxy's rules, as Kubernetes v1.34 makes them."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ksl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = None,
) -> None:
    """k8s-service-lab: see what a Kubernetes Service really is."""


@app.command()
def validate(
    filename: Annotated[
        list[Path],
        typer.Option(
            "-f",
            "--filename",
            help="Manifest file or directory (repeatable), like kubectl apply -f.",
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="kind cluster config (kind.x-k8s.io/v1alpha4)."),
    ] = None,
    output: Annotated[
        str,
        typer.Option("-o", "--output", help="Output format: text or json."),
    ] = "text",
) -> None:
    """Decode, default and validate every object, as a dry run against a fresh kind cluster.

    Prints ``<kind>/<name> valid`` per object, or the apiserver's errors; exits 1 if any
    object would be rejected.
    """
    from k8s_service_lab.cli.validate import run_validate

    raise typer.Exit(run_validate(filename, config, output))


FilesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "-f",
        "--filename",
        help="Apply these manifests (files or directories) to the fresh cluster first.",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="kind cluster config (kind.x-k8s.io/v1alpha4)."),
]
SeedOption = Annotated[
    int, typer.Option("--seed", help="Seed for allocations and generated names (reproducible).")
]
NamespaceOption = Annotated[
    str, typer.Option("-n", "--namespace", help="Namespace (default: default).")
]


@app.command()
def get(
    kind: Annotated[str, typer.Argument(help="services, endpointslices, endpoints, pods, ...")],
    name: Annotated[str | None, typer.Argument(help="One object's name.")] = None,
    namespace: NamespaceOption = "default",
    all_namespaces: Annotated[
        bool, typer.Option("-A", "--all-namespaces", help="List across all namespaces.")
    ] = False,
    filename: FilesOption = None,
    config: ConfigOption = None,
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="wide, yaml, json or name.")
    ] = None,
    seed: SeedOption = 0,
) -> None:
    """Show objects of the embedded cluster as kubectl get does (columns, -o wide/yaml/json).

    The cluster starts as a fresh kind cluster; objects given with -f are applied first.
    """
    from k8s_service_lab.cli.get import run_get

    raise typer.Exit(
        run_get(kind, name, namespace, all_namespaces, filename or [], config, output, seed)
    )


@app.command()
def explain(
    kind: Annotated[str, typer.Argument(help="service")],
    name: Annotated[str, typer.Argument(help="The Service's name.")],
    namespace: NamespaceOption = "default",
    filename: FilesOption = None,
    config: ConfigOption = None,
    seed: SeedOption = 0,
) -> None:
    """Why does this Service have (no) endpoints? Selector vs each pod, readiness, ports."""
    from k8s_service_lab.cli.inspect import run_explain

    raise typer.Exit(run_explain(kind, name, namespace, filename or [], config, seed))


@app.command()
def dns(
    name: Annotated[str, typer.Argument(help="A name, as a pod would look it up.")],
    qtype: Annotated[
        str, typer.Option("--type", "-t", help="A, AAAA, SRV, CNAME, PTR, TXT, SOA or NS.")
    ] = "A",
    namespace: Annotated[
        str, typer.Option("-n", "--namespace", help="The asking pod's namespace.")
    ] = "default",
    filename: FilesOption = None,
    config: ConfigOption = None,
    output: Annotated[str, typer.Option("-o", "--output", help="text or json.")] = "text",
    seed: SeedOption = 0,
) -> None:
    """Resolve a name as a pod would (search path, ndots:5) and print dig's answer section."""
    from k8s_service_lab.cli.inspect import run_dns

    raise typer.Exit(run_dns(name, qtype, namespace, filename or [], config, output, seed))


@app.command()
def render(
    filename: FilesOption = None,
    config: ConfigOption = None,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="kube-proxy mode (default: the config's kubeProxyMode)."),
    ] = None,
    node: Annotated[
        str | None, typer.Option("--node", help="Node to render for (default: first worker).")
    ] = None,
    ip_family: Annotated[
        int, typer.Option("--ip-family", help="4 (iptables) or 6 (ip6tables).")
    ] = 4,
    as_save: Annotated[
        bool, typer.Option("--as-save", help="Print it as iptables-save shows it on a node.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="List every chain with what it is for.")
    ] = False,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Each Service in iptables and nftables mode side by side, with the "
            "behavioural differences traced on it.",
        ),
    ] = False,
    service: Annotated[
        str | None,
        typer.Option("--service", help="With --compare: only this Service (NS/NAME)."),
    ] = None,
    output: Annotated[
        str, typer.Option("-o", "--output", help="With --compare: text or json.")
    ] = "text",
    seed: SeedOption = 0,
) -> None:
    """Exactly what kube-proxy would load on a node: jump rules, then the restore payload."""
    from k8s_service_lab.cli.render import run_render

    raise typer.Exit(
        run_render(
            filename or [],
            config,
            mode,
            node,
            ip_family,
            as_save,
            explain,
            seed,
            compare=compare,
            service=service,
            output=output,
        )
    )


@app.command()
def demo(seed: SeedOption = 0) -> None:
    """A guided tour: a Deployment and a Service, from manifest to the packet at the pod.

    Applies them to the embedded kind-shaped cluster and shows the ClusterIP allocation,
    the pods, the EndpointSlice, kube-proxy's rules on one node and one traced packet.
    """
    from k8s_service_lab.cli.demo import run_demo

    raise typer.Exit(run_demo(seed))


@app.command()
def trace(
    src: Annotated[
        str, typer.Option("--src", help="Source: an IP, pod/NAMESPACE/NAME or node/NAME.")
    ],
    dst: Annotated[
        str,
        typer.Option("--dst", help="Destination: an IP, svc/NAMESPACE/NAME, pod/… or node/NAME."),
    ],
    dport: Annotated[
        int | None,
        typer.Option("--dport", min=1, max=65535, help="Destination port (a svc/ may imply it)."),
    ] = None,
    proto: Annotated[
        str | None, typer.Option("--proto", help="tcp, udp or sctp (default tcp).")
    ] = None,
    sport: Annotated[
        int | None, typer.Option("--sport", min=1, max=65535, help="Source port (default 40000).")
    ] = None,
    node: Annotated[
        str | None,
        typer.Option("--node", help="Node whose rules the packet meets (default: see above)."),
    ] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="text, json or mermaid.")] = "text",
    filename: FilesOption = None,
    config: ConfigOption = None,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="kube-proxy mode (default: the config's kubeProxyMode)."),
    ] = None,
    dump: Annotated[
        Path | None,
        typer.Option("--dump", help="Trace through a real node's iptables-save output instead."),
    ] = None,
    node_ip: Annotated[
        list[str] | None,
        typer.Option("--node-ip", help="With --dump: the node's own address (repeatable)."),
    ] = None,
    cluster_cidr: Annotated[
        str | None, typer.Option("--cluster-cidr", help="With --dump: the pod network CIDR.")
    ] = None,
    dump_format: Annotated[
        str,
        typer.Option(
            "--format", help="With --dump: auto, iptables (iptables-save), nft or nft-json."
        ),
    ] = "auto",
    probabilities: Annotated[
        str,
        typer.Option(
            "--probabilities",
            help="Read --probability as intended (1/3), written (the decimal) or kernel.",
        ),
    ] = "intended",
    seed: SeedOption = 0,
    kernel: Annotated[
        bool,
        typer.Option("--kernel", help="Also send it for real in the running lab (root)."),
    ] = False,
    capture: Annotated[
        bool,
        typer.Option("--capture", help="With the lab: sniff every hop (implies --kernel)."),
    ] = False,
    pcap: Annotated[
        Path | None,
        typer.Option("--pcap", help="With --capture: save the packets (pcapng) here."),
    ] = None,
) -> None:
    """Where does this packet go, and why: every rule it meets, every endpoint it may reach.

    Runs on the embedded cluster (manifests from -f applied first), or on a real node's
    iptables-save dump with --dump. The source's node is used unless --node says otherwise.
    With --kernel the running lab (ksl cluster up) sends it for real and the kernel's own
    trace is shown next to the simulator's.
    """
    from k8s_service_lab.cli.trace import TraceRequest, run_trace

    if probabilities not in ("intended", "written", "kernel"):
        raise typer.BadParameter("intended, written or kernel", param_hint="--probabilities")
    if dump_format not in ("auto", "iptables", "nft", "nft-json"):
        raise typer.BadParameter("auto, iptables, nft or nft-json", param_hint="--format")
    request = TraceRequest(src, dst, dport, proto, sport, node)
    raise typer.Exit(
        run_trace(
            request,
            files=filename or [],
            config_path=config,
            mode=mode,
            output=output,
            dump=dump,
            node_ips=node_ip or [],
            cluster_cidr=cluster_cidr,
            probabilities=probabilities,
            seed=seed,
            kernel=kernel,
            capture=capture,
            pcap=pcap,
            dump_kind=dump_format,
        )
    )


# -- ksl lab: the guided labs (issue 8); its commands live in cli/lab.py --------------------

from k8s_service_lab.cli.lab import lab_app  # noqa: E402 - typer only; the library loads lazily

app.add_typer(lab_app, name="lab")


# The kernel lab's command group. Its module imports only typer at start-up; each command
# imports the lab's modules (pyroute2 among them) when it runs.
from k8s_service_lab.cli.cluster import app as cluster_app  # noqa: E402

app.add_typer(cluster_app, name="cluster")


def run() -> None:
    """Console-script entry point: library errors become a message and exit 1, no traceback."""
    from k8s_service_lab.errors import ServiceLabError

    try:
        app()
    except ServiceLabError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    run()
