"""The package's promises about itself: public API, purity of the model, fast start-up."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import k8s_service_lab

PACKAGE = Path(k8s_service_lab.__file__).resolve().parent

#: Modules that must stay pure (STYLE rule 1): no processes, packets, netlink or backends.
PURE = ["api", "labels.py", "field.py", "errors.py", "config.py", "allocators", "proxy"]
FORBIDDEN_IMPORTS = ("subprocess", "scapy", "pyroute2", "k8s_service_lab.backends", "socket")


def test_all_is_sorted_and_complete() -> None:
    exported = k8s_service_lab.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name in vars(k8s_service_lab)
        if not name.startswith("_")
        and not isinstance(getattr(k8s_service_lab, name), type(sys))
        and name not in {"annotations"}
    }
    assert public <= set(exported) | {"__version__"}
    for name in exported:
        assert hasattr(k8s_service_lab, name), name


def test_the_documented_entry_points_exist() -> None:
    from k8s_service_lab import ServiceLabError, parse_selector

    assert issubclass(k8s_service_lab.SelectorError, ServiceLabError)
    assert parse_selector("app=web").matches({"app": "web"})


def _python_files(entry: str) -> list[Path]:
    path = PACKAGE / entry
    if path.is_file():
        return [path]
    return sorted(path.rglob("*.py")) if path.is_dir() else []


def test_the_model_imports_nothing_impure() -> None:
    offenders = []
    for entry in PURE:
        for file in _python_files(entry):
            for node in ast.walk(ast.parse(file.read_text())):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    if name.startswith(FORBIDDEN_IMPORTS):
                        offenders.append(f"{file.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_cli_start_up_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from k8s_service_lab.cli import main\n"
        "heavy = [m for m in ('scapy', 'pyroute2', 'kubernetes', 'yaml', 'rich.table')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert out == ""
