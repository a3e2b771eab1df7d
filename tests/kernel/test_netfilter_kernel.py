"""Our iptables-save printer against the kernel's own: load our restore text, read it back.

The kube-proxy-shaped sample (``tests/unit/test_netfilter_sample.py``) goes into a scratch
namespace with ``iptables-nft-restore --noflush`` (nfacct counters created first, as
kube-proxy does); ``iptables-nft-save`` must then print, table by table, exactly what
:func:`to_save` prints for the same objects — and its output must parse back to them.
"""

from __future__ import annotations

import shutil

import pytest

from k8s_service_lab.netfilter import canonical, parse_save, to_restore, to_save
from tests.kernel.conftest import ScratchNamespace
from tests.unit.test_netfilter_sample import KERNEL_SAVE, NFACCT, kube_proxy_sample

pytestmark = pytest.mark.kernel

TOOLS = ("iptables-nft-restore", "iptables-nft-save", "nfacct")


def _tables(text: str) -> dict[str, list[str]]:
    """Table name -> its chain and rule lines (the # comment lines carry dates)."""
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("*"):
            current = out.setdefault(line[1:], [])
        elif line.startswith((":", "-A")):
            current.append(line)
    return out


@pytest.fixture
def loaded(scratch_netns: ScratchNamespace) -> str:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages iptables, nfacct)")
    for name in NFACCT:
        scratch_netns.run("nfacct", "add", name)
    scratch_netns.run("iptables-nft-restore", "--noflush", input=to_restore(kube_proxy_sample()))
    return scratch_netns.run("iptables-nft-save")


def test_kernel_prints_what_to_save_prints(loaded: str) -> None:
    assert _tables(loaded) == _tables(to_save(kube_proxy_sample()))


def test_recorded_kernel_text_is_current(loaded: str) -> None:
    assert _tables(loaded) == _tables(KERNEL_SAVE)


def test_kernel_dump_parses_to_our_canonical_form(loaded: str) -> None:
    ours = canonical(kube_proxy_sample())
    theirs = parse_save(loaded, source="iptables-nft-save")
    assert {t.name: t for t in canonical(theirs)} == {t.name: t for t in ours}
