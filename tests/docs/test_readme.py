"""The README's code is real code: every Python block runs, every ksl command it shows works."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("code", _blocks("python"))
def test_python_blocks_run(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})


def _commands() -> list[tuple[str, str]]:
    """``$ ksl ...`` lines and the output shown under them (up to the next prompt)."""
    found = []
    for block in _blocks("console"):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ ksl "):
                output = []
                for nxt in lines[i + 1 :]:
                    if nxt.startswith("$ ") or not nxt.strip():
                        break
                    output.append(nxt)
                found.append((line[2:].split("  #")[0].strip(), "\n".join(output)))
    # "bad.yaml" and "node.rules" illustrate files the README does not ship (a broken manifest,
    # a real node's iptables-save); test_trace_cli runs the --dump form on real dumps.
    return [(cmd, out) for cmd, out in found if "bad.yaml" not in cmd and "node.rules" not in cmd]


@pytest.mark.parametrize(("command", "shown"), _commands())
def test_ksl_commands_print_what_the_readme_shows(command: str, shown: str) -> None:
    argv = shlex.split(command)[1:]
    result = subprocess.run(
        [sys.executable, "-m", "k8s_service_lab", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for line in shown.splitlines():
        assert line in result.stdout.splitlines(), line
