"""``ksl cluster``: the kernel lab from the command line — up, change, look inside, down.

    $ sudo ksl cluster up -f examples/web.yaml
    $ sudo ksl cluster exec default/web-6d4cf56db6-x2x9q -- curl -s http://web/hostname
    $ sudo ksl cluster scale deployment/web --replicas 5
    $ sudo ksl cluster down

The lab outlives each command: its history (config, seed, every change) lives in
``/run/ksl/<name>/`` (:mod:`k8s_service_lab.netns.state`) and every command rebuilds the model
by replaying it, then brings the kernel in line (:mod:`k8s_service_lab.netns.reconcile`). The
lab's name (``--name``, else ``$KSL_CLUSTER``, else ``ksl``) is the prefix of every namespace and
link it makes, and the lab ``ksl get``, ``ksl render`` and ``ksl trace`` read when given no
``-f``. Only the command-line layer is here; it imports the lab's modules when a command runs,
so ``ksl --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from k8s_service_lab.cli.cluster_names import DEFAULT_LAB, LAB_ENV
from k8s_service_lab.cli.cluster_run import (
    bring_up,
    change,
    exec_in,
    guarded,
    readiness,
    show_status,
    take_down,
)

if TYPE_CHECKING:
    pass


app = typer.Typer(
    name="cluster",
    help="The kernel lab: a kind-shaped cluster of network namespaces with real rules (root).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

NameOption = Annotated[
    str,
    typer.Option(
        "--name",
        envvar=LAB_ENV,
        help="The lab: the prefix of every object it makes ($KSL_CLUSTER, default ksl).",
    ),
]
NamespaceOption = Annotated[
    str, typer.Option("-n", "--namespace", help="Namespace (default: default).")
]


# -- the commands --------------------------------------------------------------------------------


@app.command()
def up(
    filename: Annotated[
        list[Path] | None,
        typer.Option("-f", "--filename", help="Manifests (files or directories) to apply."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="kind cluster config (kind.x-k8s.io/v1alpha4)."),
    ] = None,
    name: NameOption = DEFAULT_LAB,
    seed: Annotated[int, typer.Option("--seed", help="Seed for allocations and names.")] = 0,
) -> None:
    """Build the lab: nodes and pods as namespaces, pod servers, DNS, kube-proxy's rules."""
    raise typer.Exit(guarded(lambda: bring_up(filename or [], config, name, seed)))


@app.command()
def down(
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            envvar=LAB_ENV,
            help="The lab ($KSL_CLUSTER, default ksl).",
            show_default=False,
        ),
    ] = None,
    all_: Annotated[
        bool,
        typer.Option("--all", help="Without --name/$KSL_CLUSTER: every lab with a state, and ksl."),
    ] = False,
) -> None:
    """Take the lab down: namespaces, processes, /etc/netns files and state, found by name
    prefix — so also after a crash, and whatever the state says."""
    raise typer.Exit(guarded(lambda: take_down(name, all_)))


@app.command()
def status(name: NameOption = DEFAULT_LAB) -> None:
    """Nodes (rules loaded, in sync with the model?), pods, Services, the pod servers."""
    raise typer.Exit(guarded(lambda: show_status(name)))


@app.command(
    "exec",
    context_settings={"allow_interspersed_args": False},
)
def exec_(
    target: Annotated[str, typer.Argument(help="NAMESPACE/POD, node/NAME or external.")],
    command: Annotated[list[str], typer.Argument(help="The command, after --.")],
    name: NameOption = DEFAULT_LAB,
) -> None:
    """Run a command inside a pod, node or the external host (a pod's resolv.conf applies)."""
    raise typer.Exit(guarded(lambda: exec_in(name, target, command)))


@app.command()
def apply(
    filename: Annotated[
        list[Path], typer.Option("-f", "--filename", help="Manifests (files or directories).")
    ],
    name: NameOption = DEFAULT_LAB,
) -> None:
    """kubectl apply -f, against the running lab; then the kernel follows."""

    def run() -> int:
        from k8s_service_lab.netns.state import Apply, read_sources

        return change(name, Apply(read_sources(filename)))

    raise typer.Exit(guarded(run))


@app.command()
def delete(
    kind: Annotated[str, typer.Argument(help="pod, service, deployment, ...")],
    object_name: Annotated[str, typer.Argument(metavar="NAME", help="The object's name.")],
    namespace: NamespaceOption = "default",
    name: NameOption = DEFAULT_LAB,
) -> None:
    """kubectl delete (waiting until it is gone), against the running lab."""

    def run() -> int:
        from k8s_service_lab.api import KINDS
        from k8s_service_lab.cli.get import resource_for
        from k8s_service_lab.netns.state import Delete

        resource = resource_for(kind)
        if resource is None:
            typer.echo(f'error: the server doesn\'t have a resource type "{kind}"', err=True)
            return 1
        if resource == "nodes":
            typer.echo("error: the lab's nodes come from its kind config", err=True)
            return 1
        cls = next(c for c in KINDS.values() if resource == c.RESOURCE)
        return change(name, Delete(resource, object_name, namespace if cls.NAMESPACED else None))

    raise typer.Exit(guarded(run))


@app.command()
def scale(
    target: Annotated[str, typer.Argument(help="deployment/NAME")],
    replicas: Annotated[int, typer.Option("--replicas", min=0, help="How many pods.")],
    namespace: NamespaceOption = "default",
    name: NameOption = DEFAULT_LAB,
) -> None:
    """kubectl scale deployment/NAME --replicas N (waiting for removed pods to go)."""

    def run() -> int:
        from k8s_service_lab.netns.state import Scale

        kind, _, deployment = target.partition("/")
        if kind.lower().split(".")[0] not in ("deployment", "deployments", "deploy") or not (
            deployment
        ):
            typer.echo(f'error: scale takes deployment/NAME, not "{target}"', err=True)
            return 1
        return change(name, Scale(deployment, namespace, replicas))

    raise typer.Exit(guarded(run))


@app.command("not-ready")
def not_ready(
    pod: Annotated[str, typer.Argument(help="The pod's name.")],
    namespace: NamespaceOption = "default",
    name: NameOption = DEFAULT_LAB,
) -> None:
    """Make a pod fail its readiness probe: it leaves its Services' endpoints."""
    raise typer.Exit(guarded(lambda: readiness(name, pod, namespace, False)))


@app.command()
def ready(
    pod: Annotated[str, typer.Argument(help="The pod's name.")],
    namespace: NamespaceOption = "default",
    name: NameOption = DEFAULT_LAB,
) -> None:
    """Make a pod pass its readiness probe again."""
    raise typer.Exit(guarded(lambda: readiness(name, pod, namespace, True)))
