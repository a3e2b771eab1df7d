"""What the ``ksl cluster`` commands do: bring the lab up, change it, look inside, take it down.

The command-line layer (:mod:`k8s_service_lab.cli.cluster`) parses arguments and calls these;
they import the lab's modules (pyroute2 among them) only when they run, so importing this
module costs nothing at ``ksl --help``. Library errors become one line on stderr::

    >>> from k8s_service_lab.errors import ServiceLabError
    >>> def broken() -> int:
    ...     raise ServiceLabError("no lab here")
    >>> guarded(broken)
    1
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
from typing import TYPE_CHECKING, NoReturn

import typer

from k8s_service_lab.cli.cluster_names import DEFAULT_LAB

if TYPE_CHECKING:
    from k8s_service_lab.netns.reconcile import LabUpdate
    from k8s_service_lab.netns.state import LabState, Operation

__all__ = [
    "become",
    "bring_up",
    "change",
    "exec_in",
    "guarded",
    "load_lab",
    "print_results",
    "readiness",
    "report",
    "require_lab_host",
    "show_status",
    "take_down",
    "terminable",
]


def guarded(work: Callable[[], int]) -> int:
    """Library errors as one line on stderr and exit status 1 (no traceback)."""
    from k8s_service_lab.errors import NotFoundError, ServiceLabError

    try:
        return work()
    except NotFoundError as err:
        typer.echo(f"Error from server (NotFound): {err}", err=True)
    except ServiceLabError as err:
        typer.echo(f"error: {err}", err=True)
    return 1


def require_lab_host() -> None:
    from k8s_service_lab.errors import PrerequisiteError
    from k8s_service_lab.netns.reconcile import missing_prerequisites

    reason = missing_prerequisites(os.geteuid())
    if reason is not None:
        raise PrerequisiteError(reason)


@contextmanager
def terminable() -> Iterator[None]:
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


def bring_up(files: Sequence[Path], config_path: Path | None, name: str, seed: int) -> int:
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

    require_lab_host()
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
        ok = print_results(perform(cluster, op)) == 0
        state = state.with_operation(op)
    save_state(state, create=True)
    owner = os.getpid()
    try:
        with terminable():
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


def take_down(name: str | None, all_: bool) -> int:
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


def load_lab(name: str) -> tuple[LabState, Path]:
    from k8s_service_lab.netns.state import load_state, state_dir

    require_lab_host()
    return load_state(name), state_dir(name) / "supervisor.log"


def change(name: str, op: Operation) -> int:
    """One change: replay, do it to the model, record it, bring the kernel in line."""
    from k8s_service_lab.netns.plan import plan_lab
    from k8s_service_lab.netns.reconcile import update_lab
    from k8s_service_lab.netns.state import perform, save_state

    state, log = load_lab(name)
    cluster = state.replay()
    before = plan_lab(cluster, prefix=name)
    lines = perform(cluster, op)
    refused = print_results(lines)
    if refused == len(lines):
        return 1  # nothing changed: nothing to record, nothing for the kernel to do
    state = state.with_operation(op)
    save_state(state)
    with terminable():
        update = update_lab(cluster, name, before, log=log)
    save_state(state.with_supervisor(update.supervisor))
    report(update)
    return 1 if refused else 0


def print_results(lines: list[str]) -> int:
    """kubectl's lines, refusals on stderr; how many objects were refused."""
    refused = 0
    for line in lines:
        failed = line.startswith(("error", "Error"))
        refused += failed
        typer.echo(line, err=failed)
    return refused


def report(update: LabUpdate) -> None:
    added = ", ".join(p.pod for p in update.changes.added) or "none"
    removed = len(update.changes.removed)
    nodes = sorted({s.node for s in update.syncs})
    typer.echo(
        f"lab: pods added {added}; {removed} removed; kube-proxy synced on {len(nodes)} nodes",
        err=True,
    )


def readiness(name: str, pod: str, namespace: str, ready: bool) -> int:
    from k8s_service_lab.netns.state import Readiness

    return change(name, Readiness(pod, namespace, ready))


def exec_in(name: str, target: str, command: list[str]) -> int:
    from k8s_service_lab.netns.enter import namespace_path
    from k8s_service_lab.netns.reconcile import target_namespace
    from k8s_service_lab.netns.state import load_state

    require_lab_host()
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
    return become(["ip", "netns", "exec", netns, *command])


def become(argv: list[str]) -> NoReturn:
    """Replace this process by ``argv``: its exit status, signals and terminal are the user's.
    (``ip netns exec`` also bind-mounts ``/etc/netns/<netns>/resolv.conf``: the pod's DNS.)"""
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def show_status(name: str) -> int:
    from k8s_service_lab.api import Pod, Service
    from k8s_service_lab.netns.enter import namespace_path
    from k8s_service_lab.netns.names import Role
    from k8s_service_lab.netns.plan import plan_lab
    from k8s_service_lab.netns.reconcile import node_rules, supervisors
    from k8s_service_lab.printers import table

    state, _ = load_lab(name)
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
