"""The golden dumps under tests/golden/iptables/ match what the code generates now.

They are written by ``tests/golden/generate.py`` (``nox -s golden``); when this test fails
after an intended change, regenerate them and review the diff.
"""

from __future__ import annotations

import pytest

from k8s_service_lab.backends.iptables import TOP_LEVEL_CHAINS
from k8s_service_lab.netfilter import check_jumps, parse_save
from tests.golden.generate import GOLDENS, ROOT, Golden, render


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda g: g.path)
def test_golden_file_is_current(golden: Golden) -> None:
    stored = (ROOT / golden.path).read_text()
    assert stored == render(golden), "regenerate with: nox -s golden"


@pytest.mark.parametrize(
    "golden",
    [g for g in GOLDENS if not g.partial and not g.path.endswith("-jumps.rules")],
    ids=lambda g: g.path,
)
def test_golden_file_reads_back_consistent(golden: Golden) -> None:
    text = (ROOT / golden.path).read_text()
    assert text.startswith("# GENERATED")
    ruleset = parse_save(text, family=golden.family)
    assert check_jumps(ruleset, top_level=TOP_LEVEL_CHAINS) == []
