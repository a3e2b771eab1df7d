"""Collect ``bench_*.py`` in this directory, so that ``pytest bench/ --benchmark-only`` finds them.

Benchmarks are named ``bench_*.py`` to keep them out of the plain test run (pytest's default
``python_files`` is ``test_*.py``). This hook applies to ``bench/`` only; a file named on the
command line, or one that already matches ``python_files``, is left to pytest itself so that
nothing is collected twice.
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix != ".py" or not file_path.name.startswith("bench_"):
        return None
    if parent.session.isinitpath(file_path):
        return None
    if any(fnmatch(file_path.name, pattern) for pattern in parent.config.getini("python_files")):
        return None
    return pytest.Module.from_parent(parent, path=file_path)
