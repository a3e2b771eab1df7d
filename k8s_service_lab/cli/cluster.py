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

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from k8s_service_lab.netns.reconcile import LabUpdate
    from k8s_service_lab.netns.state import LabState, Operation

#: The lab ``ksl cluster`` commands (and ``ksl get``/``render``/``trace`` without ``-f``) use.
DEFAULT_LAB = "ksl"
LAB_ENV = "KSL_CLUSTER"

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


def current_lab() -> str:
    """The lab a command means when it names none: ``$KSL_CLUSTER``, else ``ksl``."""
    return os.environ.get(LAB_ENV) or DEFAULT_LAB


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
    raise typer.Exit(_guarded(lambda: _up(filename or [], config, name, seed)))


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
    raise typer.Exit(_guarded(lambda: _down(name, all_)))


@app.command()
def status(name: NameOption = DEFAULT_LAB) -> None:
    """Nodes (rules loaded, in sync with the model?), pods, Services, the pod servers."""
    raise typer.Exit(_guarded(lambda: _status(name)))


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
    raise typer.Exit(_guarded(lambda: _exec(name, target, command)))


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

        return _change(name, Apply(read_sources(filename)))

    raise typer.Exit(_guarded(run))


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
        return _change(name, Delete(resource, object_name, namespace if cls.NAMESPACED else None))

    raise typer.Exit(_guarded(run))


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
        return _change(name, Scale(deployment, namespace, replicas))

    raise typer.Exit(_guarded(run))


@app.command("not-ready")
def not_ready(
    pod: Annotated[str, typer.Argument(help="The pod's name.")],
    namespace: NamespaceOption = "default",
    name: NameOption = DEFAULT_LAB,
) -> None:
    """Make a pod fail its readiness probe: it leaves its Services' endpoints."""
    raise typer.Exit(_guarded(lambda: _readiness(name, pod, namespace, False)))


@app.command()
def ready(
    pod: Annotated[str, typer.Argument(help="The pod's name.")],
    namespace: NamespaceOption = "default",
    name: NameOption = DEFAULT_LAB,
) -> None:
    """Make a pod pass its readiness probe again."""
    raise typer.Exit(_guarded(lambda: _readiness(name, pod, namespace, True)))


# -- what they do --------------------------------------------------------------------------------


def _guarded(work: Callable[[], int]) -> int:
    """Library errors as one line on stderr and exit status 1 (no traceback)."""
    from k8s_service_lab.errors import NotFoundError, ServiceLabError

    try:
        return work()
    except NotFoundError as err:
        typer.echo(f"Error from server (NotFound): {err}", err=True)
    except ServiceLabError as err:
        typer.echo(f"error: {err}", err=True)
    return 1


def _require_lab_host() -> None:
    from k8s_service_lab.errors import PrerequisiteError
    from k8s_service_lab.netns.reconcile import missing_prerequisites

    reason = missing_prerequisites(os.geteuid())
    if reason is not None:
        raise PrerequisiteError(reason)


@contextmanager
def _terminable() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C (so a half-built lab is taken down); handler restored.

    pyroute2 forks helpers that inherit the handler (and get SIGTERM when done): in any
    process but this one it takes the default action, so a helper never unwinds our code.
    """
    owner = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _up(files: Sequence[Path], config_path: Path | None, name: str, seed: int) -> int:
    from k8s_service_lab.netns.kernel import destroy_all, lab_namespaces
    from k8s_service_lab.netns.names import check_prefix
    from k8s_service_lab.netns.reconcile import bring_up
    from k8s_service_lab.netns.state import (
        Apply,
        LabState,
        LabStateError,
        Source,
        perform,
        read_sources,
        remove_state,
        save_state,
        state_dir,
    )

    _require_lab_host()
    check_prefix(name)
    if lab_namespaces(name):
        raise LabStateError(
            f'lab "{name}" has namespaces already: take it down with '
            f'"ksl cluster down --name {name} --all"'
        )
    start = time.perf_counter()
    config = None
    if config_path is not None:
        config = Source(str(config_path), config_path.read_text(encoding="utf-8"))
    state = LabState.new(name, seed=seed, config=config)
    cluster = state.replay()  # validates the config before anything is made
    ok = True
    if files:
        op = Apply(read_sources(files))
        ok = _print_results(perform(cluster, op)) == 0
        state = state.with_operation(op)
    save_state(state, create=True)
    owner = os.getpid()
    try:
        with _terminable():
            update = bring_up(cluster, name, log=state_dir(name) / "supervisor.log")
            save_state(state.with_supervisor(update.supervisor))
    except BaseException:
        if os.getpid() == owner:  # never from a forked pyroute2 helper
            destroy_all(name)
            remove_state(name)
        raise
    took = time.perf_counter() - start
    nodes = len(cluster.config.cluster_nodes)
    typer.echo(
        f'lab "{name}" is up: {nodes} nodes, {len(update.plan.pods)} pods, '
        f"{update.sockets} sockets served, kube-proxy synced on {nodes} nodes ({took:.1f}s)"
    )
    return 0 if ok else 1


def _down(name: str | None, all_: bool) -> int:
    from k8s_service_lab.netns.kernel import destroy_all, require_root
    from k8s_service_lab.netns.names import check_prefix
    from k8s_service_lab.netns.state import lab_names, remove_state

    require_root()
    if name is not None or not all_:
        names = [check_prefix(name or DEFAULT_LAB)]
    else:
        names = sorted({DEFAULT_LAB, *lab_names()})
    for lab in names:
        # Every object carries the prefix, so removal by name is complete and needs no state;
        # the supervisor lives in the lab's network namespace and goes with its processes.
        teardown = destroy_all(lab)
        had_state = remove_state(lab)
        if teardown.namespaces or had_state:
            typer.echo(
                f'lab "{lab}" is down: {len(teardown.namespaces)} namespaces and '
                f"{len(teardown.processes)} processes removed"
            )
        elif not all_:
            typer.echo(f'no lab "{lab}" was up')
    return 0


def _load(name: str) -> tuple[LabState, Path]:
    from k8s_service_lab.netns.state import load_state, state_dir

    _require_lab_host()
    return load_state(name), state_dir(name) / "supervisor.log"


def _change(name: str, op: Operation) -> int:
    """One change: replay, do it to the model, record it, bring the kernel in line."""
    from k8s_service_lab.netns.plan import plan_lab
    from k8s_service_lab.netns.reconcile import update_lab
    from k8s_service_lab.netns.state import perform, save_state

    state, log = _load(name)
    cluster = state.replay()
    before = plan_lab(cluster, prefix=name)
    lines = perform(cluster, op)
    refused = _print_results(lines)
    if refused == len(lines):
        return 1  # nothing changed: nothing to record, nothing for the kernel to do
    state = state.with_operation(op)
    save_state(state)
    with _terminable():
        update = update_lab(cluster, name, before, log=log)
    save_state(state.with_supervisor(update.supervisor))
    _report(update)
    return 1 if refused else 0


def _print_results(lines: list[str]) -> int:
    """kubectl's lines, refusals on stderr; how many objects were refused."""
    refused = 0
    for line in lines:
        failed = line.startswith(("error", "Error"))
        refused += failed
        typer.echo(line, err=failed)
    return refused


def _report(update: LabUpdate) -> None:
    added = ", ".join(p.pod for p in update.changes.added) or "none"
    removed = len(update.changes.removed)
    nodes = sorted({s.node for s in update.syncs})
    typer.echo(
        f"lab: pods added {added}; {removed} removed; kube-proxy synced on {len(nodes)} nodes",
        err=True,
    )


def _readiness(name: str, pod: str, namespace: str, ready: bool) -> int:
    from k8s_service_lab.netns.state import Readiness

    return _change(name, Readiness(pod, namespace, ready))


def _exec(name: str, target: str, command: list[str]) -> int:
    from k8s_service_lab.netns.enter import namespace_path
    from k8s_service_lab.netns.reconcile import target_namespace
    from k8s_service_lab.netns.state import load_state

    _require_lab_host()
    netns, what = target_namespace(name, target)
    if command[:1] == ["--"]:  # options stop at TARGET, so click hands the "--" on
        command = command[1:]
    if not command:
        typer.echo("error: a command to run is required: ksl cluster exec TARGET -- CMD", err=True)
        return 1
    if not namespace_path(netns).exists():
        load_state(name)  # no lab at all: that is the better message
        typer.echo(f'error: {what} is not in lab "{name}" (see "ksl cluster status")', err=True)
        return 1
    return _become(["ip", "netns", "exec", netns, *command])


def _become(argv: list[str]) -> NoReturn:
    """Replace this process by ``argv``: its exit status, signals and terminal are the user's.
    (``ip netns exec`` also bind-mounts ``/etc/netns/<netns>/resolv.conf``: the pod's DNS.)"""
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def _status(name: str) -> int:
    from k8s_service_lab.api import Pod, Service
    from k8s_service_lab.netns.enter import namespace_path
    from k8s_service_lab.netns.names import Role
    from k8s_service_lab.netns.plan import plan_lab
    from k8s_service_lab.netns.reconcile import node_rules, supervisors
    from k8s_service_lab.printers import table

    state, _ = _load(name)
    cluster = state.replay()
    plan = plan_lab(cluster, prefix=name)
    pids = supervisors(plan) if namespace_path(plan.network.name).exists() else ()
    served = f"running (pid {', '.join(map(str, pids))})" if pids else "NOT running"
    typer.echo(f'lab "{name}": seed {state.seed}, {len(state.operations)} changes recorded')
    typer.echo(f"pod servers: {served}")
    typer.echo("")
    rows = [("NODE", "IP", "NETNS", "RULES", "CHAINS", "KUBE-PROXY")]
    nodes = cluster.config.cluster_nodes
    nodes_up = all(namespace_path(plan.of(Role.NODE, n.name).name).exists() for n in nodes)
    checks = {r.node: r for r in node_rules(cluster, plan)} if nodes_up else {}
    for node in nodes:
        check = checks.get(node.name)
        rows.append(
            (
                node.name,
                ",".join(str(a) for a in node.addresses),
                plan.of(Role.NODE, node.name).name,
                str(check.rules) if check else "-",
                str(check.chains) if check else "-",
                _sync_word(check.matches_model if check else None),
            )
        )
    typer.echo(_columns(rows))
    typer.echo("")
    pods = cluster.list(Pod, namespace=None)
    typer.echo(table(pods, now=cluster.now(), wide=True, all_namespaces=True))
    missing = [p.pod for p in plan.pods if not namespace_path(p.namespace).exists()]
    if missing:
        typer.echo(f"pods without a namespace in the kernel: {', '.join(missing)}")
    typer.echo("")
    typer.echo(table(cluster.list(Service, namespace=None), now=cluster.now(), all_namespaces=True))
    healthy = nodes_up and pids and not missing and all(c.matches_model for c in checks.values())
    return 0 if healthy else 1


def _sync_word(matches: bool | None) -> str:
    if matches is None:
        return "namespace missing"
    return "in sync with the model" if matches else "DIFFERS from the model"


def _columns(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
