"""``ksl lab``: list, read, run and check the guided labs.

    $ ksl lab list
    $ ksl lab show 03 --lang zh
    $ ksl lab run 03 --driver sim          # the reference solution; every check PASS/FAIL
    $ ksl lab check 02 -f my-fix.yaml      # grade your own manifests (on the simulator)

``run`` exits 0 only when no check failed; a driver that cannot run here (``kind`` for now,
``netns`` without root) exits 2 with what to do instead. The library is imported only when a
command runs, so ``ksl --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from k8s_service_lab.labs import Lab, LabRun

lab_app = typer.Typer(
    name="lab",
    help="Guided labs: read one, run its reference solution, or check your own work.",
    no_args_is_help=True,
    add_completion=False,
)

DriverOption = Annotated[
    str,
    typer.Option(
        "--driver",
        "-d",
        help="sim (the tracer), netns (the kernel lab; root) or kind (not available yet).",
    ),
]
LabsOption = Annotated[
    Path | None, typer.Option("--labs", help="Folder holding the labs (default: the shipped ones).")
]


def _root(labs: Path | None) -> Path:
    from k8s_service_lab.labs import LABS_ROOT

    return labs if labs is not None else LABS_ROOT


@lab_app.command("list")
def list_labs(
    lang: Annotated[str, typer.Option("--lang", help="en or zh.")] = "en",
    labs: LabsOption = None,
) -> None:
    """One lab per line: its id, then its title."""
    from k8s_service_lab.labs import find_labs

    for lab in find_labs(_root(labs)):
        typer.echo(f"{lab.id}  {lab.title(lang if lang in ('en', 'zh') else 'en')}")


@lab_app.command()
def show(
    lab_id: Annotated[str, typer.Argument(metavar="ID", help="The lab's id, like 03.")],
    lang: Annotated[str, typer.Option("--lang", help="en or zh.")] = "en",
    labs: LabsOption = None,
) -> None:
    """Print the lab's text (its README) in English or Simplified Chinese."""
    from k8s_service_lab.labs import find_lab

    typer.echo(find_lab(lab_id, _root(labs)).readme(lang), nl=False)


@lab_app.command()
def run(
    lab_id: Annotated[str, typer.Argument(metavar="ID", help="The lab's id, like 03.")],
    driver: DriverOption = "sim",
    predict: Annotated[
        str | None,
        typer.Option("--predict", help="Your answer to the lab's question (a, b, c…)."),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="netns: name prefix of the lab's objects.")
    ] = None,
    labs: LabsOption = None,
) -> None:
    """Run the lab's reference solution: every step, then its checks, each PASS/FAIL/SKIP."""
    from k8s_service_lab.labs import DriverUnavailable, find_lab, run_lab

    lab = find_lab(lab_id, _root(labs))
    typer.echo(f"lab {lab.id}: {lab.title()}  (driver: {driver})")
    try:
        result = run_lab(lab, driver, prefix=prefix, choice=predict, report=typer.echo)
    except DriverUnavailable as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(_summary(result))


@lab_app.command()
def check(
    lab_id: Annotated[str, typer.Argument(metavar="ID", help="The lab's id, like 03.")],
    filename: Annotated[
        list[Path] | None,
        typer.Option("-f", "--filename", help="sim: your manifests (files or directories)."),
    ] = None,
    driver: DriverOption = "sim",
    name: Annotated[
        str | None, typer.Option("--name", help="netns: the running lab (ksl cluster --name).")
    ] = None,
    labs: LabsOption = None,
) -> None:
    """Check your own state with the lab's final checks.

    On sim there is no cluster that lasts between commands: the checks run on a fresh cluster
    of the lab's shape with your manifests (-f) applied. On netns they read the running
    `ksl cluster` lab (--name, when several are up) and send real packets through it.
    """
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.labs import DriverUnavailable, check_lab, find_lab, open_driver
    from k8s_service_lab.labs.runner import LAB_SEED

    lab = find_lab(lab_id, _root(labs))
    if driver == "kind":
        try:
            open_driver(driver, Cluster(lab.config(), seed=LAB_SEED))
        except DriverUnavailable as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
    if driver == "netns":
        raise typer.Exit(_check_running_lab(lab, name))
    if driver != "sim":
        typer.echo(f'error: unknown driver "{driver}" (sim, netns or kind)', err=True)
        raise typer.Exit(2)
    if not filename:
        typer.echo(
            "error: on the simulator, give your manifests with -f (files or directories): "
            "the checks run on a fresh cluster with them applied",
            err=True,
        )
        raise typer.Exit(2)
    cluster = Cluster(lab.config(), seed=LAB_SEED)
    refused = [r for r in cluster.apply(list(filename), check=False) if r.error is not None]
    for refusal in refused:
        typer.echo(refusal.kubectl(), err=True)
    typer.echo(f"lab {lab.id}: checking your manifests (driver: sim)")
    result = check_lab(lab, open_driver("sim", cluster))
    for line in result.results:
        typer.echo(line.line())
    code = _summary(result)
    raise typer.Exit(1 if refused else code)


def _check_running_lab(lab: Lab, name: str | None) -> int:
    """Check the ``ksl cluster`` lab that is up (its recorded history replayed into the model)."""
    from k8s_service_lab.labs import DriverUnavailable, check_lab
    from k8s_service_lab.labs.netnsdriver import NetnsDriver
    from k8s_service_lab.netns.state import lab_names, load_state

    running = lab_names()
    if name is None:
        if len(running) > 1:
            typer.echo(
                f"error: several labs are up ({', '.join(running)}): choose one with --name",
                err=True,
            )
            return 2
        name = running[0] if running else None
    if name is None or name not in running:
        typer.echo(
            f"error: no lab {'is up' if name is None else repr(name) + ' is up'}: start one with "
            "`sudo ksl cluster up -f YOUR-MANIFESTS`",
            err=True,
        )
        return 2
    cluster = load_state(name).replay()
    try:
        driver = NetnsDriver(cluster, prefix=name, attach=True)
    except DriverUnavailable as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    typer.echo(f"lab {lab.id}: checking the running lab {name} (driver: netns)")
    result = check_lab(lab, driver)
    for line in result.results:
        typer.echo(line.line())
    return _summary(result)


def _summary(result: LabRun) -> int:
    counts = result.counts()
    verdict = "all checks passed" if result.ok else "some checks failed"
    typer.echo(
        f"{verdict}: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"
    )
    return 0 if result.ok else 1
