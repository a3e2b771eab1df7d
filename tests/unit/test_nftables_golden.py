"""The nftables golden files are what the code renders now (regenerate with
``python -m tests.golden.generate_nftables``, then review the diff)."""

from __future__ import annotations

import pytest

from tests.golden.generate_nftables import GOLDENS, ROOT, Golden, render


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda g: g.path)
def test_golden_file_is_current(golden: Golden) -> None:
    assert (ROOT / golden.path).read_text() == render(golden)


def test_overall_table_golden_is_upstreams_expectation() -> None:
    from tests.golden.scenarios_nftables import UPSTREAM_OVERALL, sort_transaction

    body = (ROOT / "nftables/overall-table.nft").read_text()
    assert sort_transaction(body) == sort_transaction(UPSTREAM_OVERALL)


def test_naming_golden_holds_upstreams_hashes() -> None:
    from tests.golden.scenarios_nftables import UPSTREAM_NAMES

    names = (ROOT / "nftables/naming.tsv").read_text()
    for unhashed, digest in UPSTREAM_NAMES.items():
        assert f"-{digest}-{unhashed}" in names
