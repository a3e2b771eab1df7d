"""Test tiers (DESIGN §7): plain tests always run; ``kernel`` tests need root and the tools.

On a machine without them, kernel tests skip with the reason. Under ``CI=true`` a skipped
kernel test is a failure: CI must prove the data plane in the real kernel every time.
"""

from __future__ import annotations

import os
import shutil

import pytest

KERNEL_TOOLS = {
    "ip": "iproute2",
    "iptables": "iptables",
    "nft": "nftables",
    "conntrack": "conntrack",
    "nfacct": "nfacct",
}


def kernel_tier_missing() -> str | None:
    """Why the kernel tier cannot run here, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "kernel tier needs root: run the tests with sudo"
    missing = sorted({pkg for tool, pkg in KERNEL_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        return "kernel tier needs Debian packages: apt-get install " + " ".join(missing)
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = kernel_tier_missing()
    if reason is None:
        return
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


_skipped_kernel: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "kernel" in report.keywords:
        _skipped_kernel.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _skipped_kernel:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"CI=true: {len(_skipped_kernel)} kernel test(s) skipped, which CI forbids:",
                red=True,
            )
            for nodeid in _skipped_kernel:
                reporter.write_line(f"  {nodeid}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
