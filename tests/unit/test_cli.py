"""``ksl`` as a user meets it: version, help, and ``validate`` on good and bad manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from k8s_service_lab import __version__
from k8s_service_lab.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()


def ksl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command in a fresh interpreter, as a shell would."""
    return subprocess.run(
        [sys.executable, "-m", "k8s_service_lab", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ksl {__version__}"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "validate" in result.stdout


def test_console_script_is_installed_with_the_package() -> None:
    script = Path(sys.executable).with_name("ksl")
    if not script.exists():
        pytest.skip("package not installed in this interpreter (nox -s tests installs it)")
    out = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
    assert "validate" in out.stdout


def test_validate_the_examples() -> None:
    result = ksl("validate", "-f", "examples/")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "service/web valid" in lines
    assert "deployment.apps/web valid" in lines
    assert "service/echo-nodeport valid" in lines
    assert all(line.endswith(" valid") for line in lines)
    assert len(lines) == 7


def test_an_invalid_service_is_reported_like_kubectl(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
        "spec:\n  ports:\n  - port: 0\n    targetPort: 80\n"
    )
    result = ksl("validate", "-f", str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f'Error from server (Invalid): error when creating "{bad}": Service "web" is invalid: '
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
    )


def test_good_objects_still_listed_next_to_bad_ones(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text((EXAMPLES / "externalname.yaml").read_text())
    (tmp_path / "b.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  type: Foo\n"
        "  ports: [{port: 80}]\n"
    )
    result = ksl("validate", "-f", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["service/docs valid"]
    assert 'spec.type: Unsupported value: "Foo"' in result.stderr


def test_malformed_yaml_names_file_and_line_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n spec: {}\n")
    result = ksl("validate", "-f", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(bad) in result.stderr
    assert "line" in result.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = ksl("validate", "-f", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "nope.yaml" in result.stderr


def test_json_output_carries_the_causes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
        "spec:\n  ports: [{port: 80}, {port: 81}]\n"
    )
    result = ksl("validate", "-f", str(bad), "-o", "json")
    assert result.returncode == 1
    (record,) = json.loads(result.stdout)
    assert record["valid"] is False
    assert record["reason"] == "Invalid"
    assert [c["field"] for c in record["causes"]] == ["spec.ports[0].name", "spec.ports[1].name"]
    assert {c["reason"] for c in record["causes"]} == {"FieldValueRequired"}


def test_config_switches_the_cluster_to_dual_stack(tmp_path: Path) -> None:
    config = tmp_path / "kind.yaml"
    config.write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  ipFamily: dual\n"
    )
    svc = tmp_path / "svc.yaml"
    svc.write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n"
        "  ipFamilyPolicy: RequireDualStack\n  ports: [{port: 80}]\n"
    )
    assert ksl("validate", "-f", str(svc)).returncode == 1
    result = ksl("validate", "-f", str(svc), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "service/web valid"


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "kind.yaml"
    config.write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n"
        "  podSubnet: 10.244.0.0/33\n"
    )
    result = ksl("validate", "-f", "examples/", "--config", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "podSubnet" in result.stderr
