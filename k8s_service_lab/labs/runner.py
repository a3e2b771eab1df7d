"""Running a lab: every step, then its checks; the prediction graded by the tracer.

:func:`run_lab` plays the reference solution on a driver — each step changes the cluster
model, the driver brings its data plane up to date, the step's checks run — and grades the
lab's "predict" question against the tracer after the step it belongs to. :func:`check_lab`
grades a learner's cluster with the lab's final checks. Every result is PASS, FAIL or SKIP
with a reason; a check that raises something other than an assertion FAILs with the error::

    >>> from k8s_service_lab.labs.loader import find_lab
    >>> run = run_lab(find_lab("02"), "sim")
    >>> run.ok, run.results[0].status
    (True, 'PASS')
    >>> run.results[0].line().split(":")[0]
    'PASS  create/endpoints_follow_labels'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.labels import parse_selector
from k8s_service_lab.labs.context import CheckSkipped, Context
from k8s_service_lab.labs.drivers import open_driver
from k8s_service_lab.labs.predict import grade
from k8s_service_lab.labs.spec import Action

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.labs.drivers import Driver
    from k8s_service_lab.labs.loader import Lab

__all__ = ["CheckResult", "LabRun", "apply_action", "check_lab", "run_check", "run_lab"]

#: The seed every lab's cluster uses, so names and addresses in READMEs match a run.
LAB_SEED = 0


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One outcome: a check (or the prediction, or a step that failed) and why."""

    name: str
    status: str
    reason: str
    step: str | None = None

    def line(self) -> str:
        where = f"{self.step}/" if self.step else ""
        return f"{self.status:<5} {where}{self.name}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LabRun:
    """A whole run: every result in order, on which driver."""

    lab: str
    driver: str
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """True when nothing failed (and something ran)."""
        return bool(self.results) and all(r.status != "FAIL" for r in self.results)

    def counts(self) -> dict[str, int]:
        out = {"PASS": 0, "FAIL": 0, "SKIP": 0}
        for r in self.results:
            out[r.status] += 1
        return out


Report = Callable[[str], None]


def _quiet(line: str) -> None:
    """Default reporter: say nothing."""


def run_check(lab: Lab, name: str, ctx: Context, step: str | None = None) -> CheckResult:
    """Run one check of ``lab``; an assertion is a FAIL, :class:`CheckSkipped` a SKIP."""
    try:
        reason = lab.checks[name](ctx)
    except AssertionError as err:
        return CheckResult(name, "FAIL", str(err) or "assertion failed", step)
    except CheckSkipped as err:
        return CheckResult(name, "SKIP", f"not on {ctx.driver_name}: {err}", step)
    except Exception as err:
        return CheckResult(name, "FAIL", f"the check raised {type(err).__name__}: {err}", step)
    if not isinstance(reason, str) or not reason:
        return CheckResult(name, "FAIL", "the check must return a sentence saying what held", step)
    return CheckResult(name, "PASS", reason, step)


def apply_action(lab: Lab, cluster: Cluster, action: Action) -> None:
    """Do one step's change to the cluster model, as kubectl would to a real cluster."""
    if action.kind == "apply":
        cluster.apply([lab.file(f) for f in action.files])
    elif action.kind == "advance":
        cluster.advance(action.seconds or 0)
    elif action.kind == "scale":
        deployment = cluster.get("Deployment", str(action.name), action.namespace)
        spec = replace(deployment.spec, replicas=action.replicas)
        cluster.apply([replace(deployment, spec=spec)])
    else:
        for name in _targets(cluster, action):
            if action.kind == "delete":
                cluster.delete(
                    action.resource, name, action.namespace, grace_period_seconds=action.grace
                )
            else:
                cluster.set_ready(name, bool(action.ready), action.namespace)


def _targets(cluster: Cluster, action: Action) -> list[str]:
    if action.name is not None:
        return [action.name]
    wanted = parse_selector(str(action.selector))
    names = sorted(
        p.metadata.name
        for p in cluster.list("Pod", action.namespace)
        if wanted.matches(p.metadata.labels) and not p.metadata.deletion_timestamp
    )
    if not names:
        raise ServiceLabError(f"no running pod matches {action.selector}")
    return names[: action.count] if action.count is not None else names


def run_lab(
    lab: Lab,
    driver_name: str = "sim",
    *,
    prefix: str | None = None,
    choice: str | None = None,
    report: Report = _quiet,
) -> LabRun:
    """Run ``lab``'s reference solution on a fresh cluster and the named driver.

    ``choice`` is the learner's answer to the predict question (default: the reference
    answer); ``report`` gets each line as it happens (``ksl lab run`` prints them).
    """
    from k8s_service_lab.cluster import Cluster

    cluster = Cluster(lab.config(), seed=LAB_SEED)
    driver = open_driver(driver_name, cluster, prefix=prefix)
    results: list[CheckResult] = []
    try:
        ctx = Context(driver)
        for step in lab.spec.steps:
            report(f"step {step.name}: {step.describe()}")
            try:
                apply_action(lab, cluster, step.action)
                driver.changed()
            except ServiceLabError as err:
                results.append(CheckResult("step", "FAIL", str(err), step.name))
                report(results[-1].line())
                break
            for name in step.checks:
                results.append(run_check(lab, name, ctx, step.name))
                report(results[-1].line())
            if step.name == lab.spec.predict.after:
                results.append(_predict(lab, ctx, choice, step.name))
                report(results[-1].line())
    finally:
        driver.close()
    return LabRun(lab.id, driver_name, tuple(results))


def _predict(lab: Lab, ctx: Context, choice: str | None, step: str) -> CheckResult:
    predict = lab.spec.predict
    try:
        dst = _destination(ctx, predict.dst)
        result = ctx.trace(predict.src, dst, predict.port, predict.proto)
    except (AssertionError, ServiceLabError) as err:
        return CheckResult("predict", "FAIL", f"cannot trace the question's packet: {err}", step)
    graded = grade(predict, result, choice)
    return CheckResult("predict", "PASS" if graded.correct else "FAIL", graded.reason, step)


def _destination(ctx: Context, text: str) -> str:
    """``svc/[NAMESPACE/]NAME`` (its ClusterIP), ``lb/NAME``, ``node/NAME``, ``pod/NAME`` or
    an address."""
    kind, _, name = text.partition("/")
    if kind == "svc":
        namespace, _, service = name.rpartition("/")
        return ctx.cluster_ip(service, namespace or "default")
    if kind == "lb":
        return ctx.lb_ip(name)
    if kind == "node":
        return ctx.node_ip(name)
    if kind == "pod":
        return ctx.pod_ip(name)
    return text


def check_lab(lab: Lab, driver: Driver) -> LabRun:
    """Grade the cluster behind ``driver`` with the lab's final checks (``ksl lab check``)."""
    ctx = Context(driver)
    results = tuple(run_check(lab, name, ctx) for name in lab.spec.final_checks)
    return LabRun(lab.id, driver.name, results)
