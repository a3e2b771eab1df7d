"""The lab runtime's edges: loader errors that say what is wrong, checks that raise, skips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.labs import (
    LABS_ROOT,
    Context,
    LabError,
    SimDriver,
    find_lab,
    load_lab,
    parse_spec,
    run_check,
    run_lab,
)


@pytest.fixture
def lab_copy(tmp_path: Path) -> Path:
    """A private copy of lab 02 to break."""
    path = tmp_path / "02-selectors-and-endpointslices"
    shutil.copytree(LABS_ROOT / path.name, path)
    return path


@pytest.mark.parametrize("missing", ["README.zh.md", "checks.py", "kind.yaml", "lab.yaml"])
def test_a_missing_file_is_named(lab_copy: Path, missing: str) -> None:
    (lab_copy / missing).unlink()
    with pytest.raises(LabError, match=f"lab 02-selectors-and-endpointslices: missing {missing}"):
        load_lab(lab_copy)


def test_a_check_named_but_not_defined_is_named(lab_copy: Path) -> None:
    text = (lab_copy / "lab.yaml").read_text().replace("fixed_service_answers]", "no_such_check]")
    (lab_copy / "lab.yaml").write_text(text)
    with pytest.raises(LabError, match=r"checks.py: no check function no_such_check\(\)"):
        load_lab(lab_copy)


def test_a_checks_file_that_cannot_import_is_reported(lab_copy: Path) -> None:
    (lab_copy / "checks.py").write_text("def broken(:\n")
    with pytest.raises(LabError, match=r"checks\.py: import failed: SyntaxError"):
        load_lab(lab_copy)


def test_a_manifest_outside_the_lab_is_refused(lab_copy: Path) -> None:
    text = (lab_copy / "lab.yaml").read_text().replace("manifests/stray.yaml", "../x.yaml")
    (lab_copy / "lab.yaml").write_text(text)
    with pytest.raises(LabError, match=r"\.\./x\.yaml: no such file in the lab"):
        load_lab(lab_copy)


def test_a_check_that_raises_fails_with_the_error(lab_copy: Path) -> None:
    checks = (lab_copy / "checks.py").read_text()
    checks += "\n\ndef fixed_service_answers(ctx):  # noqa: F811\n    return {}['nope']\n"
    (lab_copy / "checks.py").write_text(checks)
    run = run_lab(load_lab(lab_copy), "sim")
    last = run.results[-1]
    assert (last.name, last.status) == ("fixed_service_answers", "FAIL")
    assert last.reason == "the check raised KeyError: 'nope'"
    assert not run.ok


def test_a_check_must_say_what_held(lab_copy: Path) -> None:
    checks = (lab_copy / "checks.py").read_text()
    checks += "\n\ndef fixed_service_answers(ctx):  # noqa: F811\n    return None\n"
    (lab_copy / "checks.py").write_text(checks)
    result = run_lab(load_lab(lab_copy), "sim").results[-1]
    assert result.status == "FAIL"
    assert "must return a sentence" in result.reason


def test_a_skip_is_reported_with_its_reason_never_as_a_pass(lab_copy: Path) -> None:
    checks = (lab_copy / "checks.py").read_text()
    checks += "\n\ndef fixed_service_answers(ctx):  # noqa: F811\n    ctx.skip('needs a VIP')\n"
    (lab_copy / "checks.py").write_text(checks)
    run = run_lab(load_lab(lab_copy), "sim")
    assert run.results[-1].line() == "SKIP  fix-typo/fixed_service_answers: not on sim: needs a VIP"
    assert run.counts()["SKIP"] == 1


def test_a_failing_step_stops_the_run_and_fails(lab_copy: Path) -> None:
    (lab_copy / "manifests" / "stray.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 0}]}\n"
    )
    run = run_lab(load_lab(lab_copy), "sim")
    assert (run.results[-1].name, run.results[-1].status) == ("step", "FAIL")
    assert "spec.ports[0].port: Invalid value: 0" in run.results[-1].reason
    assert all(r.step != "fix-typo" for r in run.results)


def test_a_question_the_tracer_answers_twice_is_broken(lab_copy: Path) -> None:
    text = (
        (lab_copy / "lab.yaml")
        .read_text()
        .replace("expect: {verdict: DROP}", "expect: {verdict: REJECT}")
    )
    (lab_copy / "lab.yaml").write_text(text)
    (graded,) = [r for r in run_lab(load_lab(lab_copy), "sim").results if r.name == "predict"]
    assert graded.status == "FAIL"
    assert graded.reason == "the question is broken: the tracer makes b, c true"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("id: '1'\ntitle: {en: x}\nsteps: []\n", "title: needs text in zh"),
        ("id: '1'\ntitle: {en: x, zh: y}\nsteps: []\n", "steps: a lab needs at least one step"),
        (
            "id: '1'\ntitle: {en: x, zh: y}\nsteps: [{name: a, apply: [f], advance: 3}]\n",
            r"steps\[0\]: a step does exactly one of",
        ),
        (
            "id: '1'\ntitle: {en: x, zh: y}\nsteps: [{name: a, scale: {name: web}}]\n",
            "scale needs name and replicas",
        ),
        (
            "id: '1'\ntitle: {en: x, zh: y}\nsteps: [{name: a, advance: 3}]\n",
            "predict: expected a mapping",
        ),
    ],
)
def test_lab_yaml_errors_name_the_field(yaml_text: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        parse_spec(yaml_text, source="lab.yaml")


def test_sim_traffic_says_how_connections_fail() -> None:
    cluster = Cluster()
    ctx = Context(SimDriver(cluster))
    # A node port nobody opened: the node's kernel resets the connection.
    assert ctx.connect("external", ctx.node_ip("kind-worker"), 31999).failures == {"refused"}
    # kube-dns over UDP from a CoreDNS pod reaches both CoreDNS pods.
    pods = ctx.pods("k8s-app=kube-dns", "kube-system")
    dns = ctx.connect(f"pod/kube-system/{pods[0]}", "10.96.0.10", 53, "udp")
    assert dns.pods == set(pods)
    assert dns.answered
    assert not dns.observed


def test_find_lab_accepts_the_number_or_the_folder() -> None:
    assert find_lab("4").path == find_lab("04-nodeport-source-ip").path
    with pytest.raises(LabError, match='no lab "42"'):
        find_lab("42")


def test_run_check_reports_an_assertion_message() -> None:
    lab = find_lab("02")
    ctx = Context(SimDriver(Cluster(lab.config())))  # nothing applied: web does not exist
    result = run_check(lab, "typo_service_has_no_endpoints", ctx)
    assert result.status == "FAIL"
    assert "expected one (empty) EndpointSlice for web-typo, found 0" in result.reason
