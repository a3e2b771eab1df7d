"""Every shipped lab passes on the simulator, and the runtime reports what a learner needs.

The reference solution of each lab runs step by step (``ksl lab run ID --driver sim``): every
check must PASS, the prediction must be the one the tracer makes true, and a wrong prediction
must FAIL. The files every lab needs — both READMEs, both docs pages — are there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from k8s_service_lab.labs import LABS_ROOT, find_lab, find_labs, run_lab
from tests.unit.test_cli import ksl

ROOT = Path(__file__).resolve().parents[2]
LAB_IDS = [lab.id for lab in find_labs()]


def test_there_are_at_least_the_eleven_labs_of_issue_8() -> None:
    assert LAB_IDS[:11] == [f"{n:02d}" for n in range(1, 12)]


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_the_reference_solution_passes_on_the_simulator(lab_id: str) -> None:
    run = run_lab(find_lab(lab_id), "sim")
    failed = [r.line() for r in run.results if r.status != "PASS"]
    assert not failed, "\n".join(failed)
    lab = find_lab(lab_id)
    named = [c for s in lab.spec.steps for c in s.checks]
    assert [r.name for r in run.results if r.name != "predict"] == named
    assert [r.name for r in run.results].count("predict") == 1


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_every_wrong_prediction_fails_with_the_tracers_answer(lab_id: str) -> None:
    lab = find_lab(lab_id)
    for choice in lab.spec.predict.choice_ids():
        if choice == lab.spec.predict.answer:
            continue
        run = run_lab(lab, "sim", choice=choice)
        (graded,) = [r for r in run.results if r.name == "predict"]
        assert graded.status == "FAIL"
        assert f"the tracer says {lab.spec.predict.answer}" in graded.reason


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_every_lab_has_both_readmes_and_both_docs_pages(lab_id: str) -> None:
    lab = find_lab(lab_id)
    en, zh = lab.readme("en"), lab.readme("zh")
    assert en.startswith(f"# Lab {lab_id} — ")
    assert zh.startswith(f"# 实验 {lab_id} — ")
    han = sum(
        1 for ch in re.sub(r"```.*?```", "", zh, flags=re.DOTALL) if "\u4e00" <= ch <= "\u9fff"
    )
    assert han > 250, f"README.zh.md of lab {lab_id} has little Chinese ({han} characters)"
    for text in (en, zh):
        assert f"ksl lab run {lab_id}" in text
        assert "--predict" in text
        for name in lab.spec.check_names():
            assert name in text, f"the README does not mention the check {name}"
    name = lab.path.name
    for lang, readme in (("en", "README.md"), ("zh", "README.zh.md")):
        page = (ROOT / "docs" / lang / "labs" / f"{name}.md").read_text()
        assert f'--8<-- "labs/{name}/{readme}"' in page


def test_lab_list_prints_one_lab_per_line_id_first() -> None:
    result = ksl("lab", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == LAB_IDS
    assert lines[0] == "01  Pod IPs change, the Service stays"
    zh = ksl("lab", "list", "--lang", "zh").stdout.splitlines()
    assert zh[0] == "01  Pod 的 IP 会变，Service 不变"


def test_lab_show_prints_the_readme_in_either_language() -> None:
    en = ksl("lab", "show", "3")
    zh = ksl("lab", "show", "03", "--lang", "zh")
    assert en.stdout == (LABS_ROOT / "03-clusterip-iptables-chains" / "README.md").read_text()
    assert zh.stdout == (LABS_ROOT / "03-clusterip-iptables-chains" / "README.zh.md").read_text()
    missing = ksl("lab", "show", "99")
    assert missing.returncode == 1
    assert 'no lab "99"' in missing.stderr


def test_lab_run_prints_each_check_and_exits_0_when_all_pass() -> None:
    result = ksl("lab", "run", "02")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  create/typo_service_refuses: connections to web-typo are refused" in result.stdout
    assert "PASS  create/predict: the tracer agrees: b" in result.stdout
    assert result.stdout.splitlines()[-1] == "all checks passed: 6 passed, 0 failed, 0 skipped"


def test_lab_run_with_a_wrong_prediction_exits_1() -> None:
    result = ksl("lab", "run", "02", "--predict", "a")
    assert result.returncode == 1
    assert "FAIL  create/predict: the tracer says b: for a, verdict is REJECT, not DNAT" in (
        result.stdout
    )


def test_the_kind_driver_says_it_is_not_available_and_exits_2() -> None:
    for argv in (("run", "01", "--driver", "kind"), ("check", "01", "--driver", "kind")):
        result = ksl("lab", *argv)
        assert result.returncode == 2
        assert "kind tier" in result.stderr
        assert "nox -s kind" in result.stderr


def test_lab_check_grades_the_learners_manifests_on_the_simulator(tmp_path: Path) -> None:
    lab = LABS_ROOT / "02-selectors-and-endpointslices" / "manifests"
    fixed = ksl("lab", "check", "02", "-f", str(lab / "web.yaml"), "-f", str(lab / "client.yaml"),
                "-f", str(lab / "web-typo-fixed.yaml"))  # fmt: skip
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "PASS  fixed_service_answers" in fixed.stdout
    broken = ksl("lab", "check", "02", "-f", str(lab / "web.yaml"), "-f", str(lab / "client.yaml"),
                 "-f", str(lab / "web-typo.yaml"))  # fmt: skip
    assert broken.returncode == 1
    assert "FAIL  fixed_service_answers: web-typo's endpoints are [], not" in broken.stdout
    nothing = ksl("lab", "check", "02")
    assert nothing.returncode == 2
    assert "give your manifests with -f" in nothing.stderr


def test_lab_check_on_netns_without_a_running_lab_says_so() -> None:
    result = ksl("lab", "check", "01", "--driver", "netns")
    assert result.returncode == 2
    if not Path("/run/ksl").is_dir():
        assert "no lab is up: start one with `sudo ksl cluster up" in result.stderr
    else:
        assert "error:" in result.stderr
