"""Every nox session is documented: ``nox -l`` is how a newcomer finds the test tiers."""

from __future__ import annotations

import ast
from pathlib import Path

NOXFILE = Path(__file__).resolve().parents[2] / "noxfile.py"


def _sessions() -> list[ast.FunctionDef]:
    tree = ast.parse(NOXFILE.read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if ast.unparse(target) == "nox.session":
                    found.append(node)
    return found


def test_noxfile_defines_the_documented_tiers() -> None:
    names = {fn.name for fn in _sessions()}
    assert {"lint", "typecheck", "tests", "bench", "kind"} <= names


def test_every_session_has_a_docstring() -> None:
    undocumented = [fn.name for fn in _sessions() if not ast.get_docstring(fn)]
    assert undocumented == []
