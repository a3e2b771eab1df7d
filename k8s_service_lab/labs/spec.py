"""What a lab is made of: its ``lab.yaml`` read into frozen values (steps, a question, checks).

A lab's ``lab.yaml`` names the lab, lists its steps — each changes the cluster in one way and
names the checks that must hold afterwards — and asks one "predict" question whose answer is
computed by the tracer, never typed in::

    >>> spec = parse_spec('''
    ... id: "99"
    ... title: {en: A tiny lab, zh: 一个小实验}
    ... steps:
    ... - {name: deploy, apply: [manifests/web.yaml], checks: [web_answers]}
    ... - {name: break-one, ready: {selector: app=web, ready: false, count: 1}}
    ... predict:
    ...   after: deploy
    ...   question: {en: "How many pods can answer?", zh: 有几个 Pod 能应答}
    ...   trace: {src: pod/client, dst: svc/web, port: 80}
    ...   choices:
    ...     a: {en: one, zh: 一个, expect: {endpoints: 1}}
    ...     b: {en: three, zh: 三个, expect: {endpoints: 3}}
    ...   answer: b
    ... check: [web_answers]
    ... ''', source="lab.yaml")
    >>> [step.describe() for step in spec.steps]
    ['apply manifests/web.yaml', 'make 1 pod(s) with app=web not ready']
    >>> spec.final_checks
    ('web_answers',)

Anything malformed is a :class:`LabError` naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from k8s_service_lab.errors import ServiceLabError

__all__ = [
    "EXPECT_KEYS",
    "Action",
    "LabError",
    "LabSpec",
    "Predict",
    "Step",
    "parse_spec",
]

#: What a predict choice may claim about a trace (see :mod:`.predict`).
EXPECT_KEYS = ("verdict", "endpoints", "masquerade", "probability", "chain", "no_chain")
ACTIONS = ("apply", "delete", "scale", "ready", "advance")
LANGUAGES = ("en", "zh")


class LabError(ServiceLabError):
    """A lab folder that cannot be used as it is: a missing file, a bad field, a broken check."""


@dataclass(frozen=True, slots=True)
class Action:
    """One change to the cluster. ``kind`` is one of apply, delete, scale, ready, advance.

    - apply: ``files`` (relative to the lab folder), like ``kubectl apply -f``;
    - delete: ``resource`` and ``name``, or pods chosen by ``selector`` (the first ``count``
      in name order); ``grace`` is ``--grace-period`` (``None``: the pod's own);
    - scale: Deployment ``name`` to ``replicas``;
    - ready: pods (``name`` or ``selector`` + ``count``) pass (``ready``) or fail readiness;
    - advance: let ``seconds`` of simulated time pass (graceful deletions finish).
    """

    kind: str
    files: tuple[str, ...] = ()
    resource: str = "Pod"
    name: str | None = None
    namespace: str = "default"
    selector: str | None = None
    count: int | None = None
    grace: int | None = None
    replicas: int | None = None
    ready: bool | None = None
    seconds: float | None = None

    def describe(self) -> str:
        """The action in a few words, as ``ksl lab run`` prints it."""
        who = (
            self.name
            if self.name is not None
            else f"{self.count or 'all'} pod(s) with {self.selector}"
        )
        if self.kind == "apply":
            return "apply " + " ".join(self.files)
        if self.kind == "delete":
            grace = "" if self.grace is None else f" --grace-period={self.grace}"
            what = f"{self.resource.lower()}/{self.name}" if self.name else who
            return f"delete {what}{grace}"
        if self.kind == "scale":
            return f"scale deployment/{self.name} --replicas={self.replicas}"
        if self.kind == "ready":
            return f"make {who} {'ready' if self.ready else 'not ready'}"
        return f"let {self.seconds:g}s pass"


@dataclass(frozen=True, slots=True)
class Step:
    """A named change and the checks that must hold right after it."""

    name: str
    action: Action
    checks: tuple[str, ...] = ()

    def describe(self) -> str:
        return self.action.describe()


@dataclass(frozen=True, slots=True)
class Predict:
    """A multiple-choice question about one traced connection, asked after step ``after``.

    Each choice carries ``expect``: claims about the trace (:data:`EXPECT_KEYS`). The tracer
    decides which choices are true; ``answer`` is the reference solution's pick.
    """

    after: str
    question: Mapping[str, str]
    src: str
    dst: str
    port: int
    proto: str
    choices: tuple[tuple[str, Mapping[str, str], Mapping[str, Any]], ...]
    answer: str

    def choice_ids(self) -> tuple[str, ...]:
        return tuple(c[0] for c in self.choices)


@dataclass(frozen=True, slots=True)
class LabSpec:
    """The contents of ``lab.yaml``."""

    id: str
    title: Mapping[str, str]
    steps: tuple[Step, ...]
    predict: Predict
    final_checks: tuple[str, ...]

    def check_names(self) -> tuple[str, ...]:
        """Every check the lab names, in first-use order."""
        names = [c for s in self.steps for c in s.checks] + list(self.final_checks)
        return tuple(dict.fromkeys(names))


def parse_spec(text: str, *, source: str) -> LabSpec:
    """Read a ``lab.yaml``; ``source`` names it in error messages."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise LabError(f"{source}: not YAML: {err}") from None
    where = _Where(source)
    top = where.mapping(doc, "")
    lab_id, title = where.text(top, "id"), where.languages(top, "title")
    steps = tuple(_step(where, s, f"steps[{i}]") for i, s in enumerate(where.list(top, "steps")))
    if not steps:
        raise LabError(f"{source}: steps: a lab needs at least one step")
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise LabError(f"{source}: steps: step names must be unique")
    predict = _predict(where, where.mapping(top.get("predict"), "predict"), names)
    final = tuple(str(c) for c in top.get("check", steps[-1].checks))
    if not final:
        raise LabError(f"{source}: check: name the checks `ksl lab check` runs")
    return LabSpec(
        id=lab_id,
        title=title,
        steps=steps,
        predict=predict,
        final_checks=final,
    )


@dataclass(frozen=True, slots=True)
class _Where:
    source: str

    def fail(self, path: str, detail: str) -> LabError:
        return LabError(f"{self.source}: {path or 'top level'}: {detail}")

    def mapping(self, value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "expected a mapping")
        return value

    def list(self, parent: Mapping[str, Any], key: str) -> list[Any]:
        value = parent.get(key)
        if not isinstance(value, list):
            raise self.fail(key, "expected a list")
        return value

    def text(self, parent: Mapping[str, Any], key: str, path: str = "") -> str:
        value = parent.get(key)
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            raise self.fail(f"{path}{key}", "required text")
        return str(value)

    def languages(self, parent: Mapping[str, Any], key: str, path: str = "") -> dict[str, str]:
        value = self.mapping(parent.get(key), f"{path}{key}")
        missing = [lang for lang in LANGUAGES if not isinstance(value.get(lang), str)]
        if missing:
            raise self.fail(f"{path}{key}", f"needs text in {', '.join(missing)}")
        return {lang: value[lang] for lang in LANGUAGES}


def _step(where: _Where, raw: object, path: str) -> Step:
    doc = where.mapping(raw, path)
    name = where.text(doc, "name", f"{path}.")
    kinds = [k for k in ACTIONS if k in doc]
    if len(kinds) != 1:
        raise where.fail(path, f"a step does exactly one of {', '.join(ACTIONS)}")
    kind = kinds[0]
    body = doc[kind]
    at = f"{path}.{kind}"
    if kind == "apply":
        files = body if isinstance(body, list) else [body]
        action = Action("apply", files=tuple(str(f) for f in files))
    elif kind == "advance":
        if not isinstance(body, int | float) or body <= 0:
            raise where.fail(at, "seconds must be a positive number")
        action = Action("advance", seconds=float(body))
    else:
        spec = where.mapping(body, at)
        action = Action(
            kind,
            resource=str(spec.get("kind", "Pod" if kind != "scale" else "Deployment")),
            name=None if spec.get("name") is None else str(spec["name"]),
            namespace=str(spec.get("namespace", "default")),
            selector=None if spec.get("selector") is None else str(spec["selector"]),
            count=spec.get("count"),
            grace=spec.get("grace"),
            replicas=spec.get("replicas"),
            ready=spec.get("ready"),
        )
        if kind != "scale" and (action.name is None) == (action.selector is None):
            raise where.fail(at, "name one object (name) or choose pods (selector)")
        if kind == "scale" and (action.name is None or not isinstance(action.replicas, int)):
            raise where.fail(at, "scale needs name and replicas")
        if kind == "ready" and not isinstance(action.ready, bool):
            raise where.fail(at, "ready needs ready: true or false")
    checks = doc.get("checks", [])
    if not isinstance(checks, list):
        raise where.fail(f"{path}.checks", "expected a list of check names")
    return Step(name, action, tuple(str(c) for c in checks))


def _predict(where: _Where, doc: dict[str, Any], steps: list[str]) -> Predict:
    after = where.text(doc, "after", "predict.")
    if after not in steps:
        raise where.fail("predict.after", f'no step is named "{after}"')
    trace = where.mapping(doc.get("trace"), "predict.trace")
    choices = []
    for cid, raw in where.mapping(doc.get("choices"), "predict.choices").items():
        at = f"predict.choices.{cid}"
        choice = where.mapping(raw, at)
        expect = where.mapping(choice.get("expect"), f"{at}.expect")
        unknown = sorted(set(expect) - set(EXPECT_KEYS))
        if unknown or not expect:
            raise where.fail(f"{at}.expect", f"claims are {', '.join(EXPECT_KEYS)}")
        text = {lang: str(choice.get(lang, "")) for lang in LANGUAGES}
        if not all(text.values()):
            raise where.fail(at, "needs text in en and zh")
        choices.append((str(cid), text, expect))
    if len(choices) < 2:
        raise where.fail("predict.choices", "a multiple-choice question needs two choices")
    answer = where.text(doc, "answer", "predict.")
    if answer not in [c[0] for c in choices]:
        raise where.fail("predict.answer", f'"{answer}" is not one of the choices')
    port = trace.get("port")
    if not isinstance(port, int):
        raise where.fail("predict.trace.port", "required number")
    return Predict(
        after=after,
        question=where.languages(doc, "question", "predict."),
        src=where.text(trace, "src", "predict.trace."),
        dst=where.text(trace, "dst", "predict.trace."),
        port=port,
        proto=str(trace.get("proto", "tcp")).lower(),
        choices=tuple(choices),
        answer=answer,
    )
