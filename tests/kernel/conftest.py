"""Scratch network namespaces for kernel tests, always removed, even when a test fails.

Every object carries the ``ksl-t`` prefix (DESIGN §8) so a crashed run can be cleaned by name.
Nothing here touches the host's own namespace: every command runs under ``ip netns exec``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

PREFIX = "ksl-t"


@dataclass(frozen=True)
class ScratchNamespace:
    name: str

    def run(self, *argv: str, input: str | None = None, check: bool = True) -> str:
        """Run a command inside the namespace and return its stdout."""
        proc = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed in {self.name}: {proc.stderr.strip()}")
        return proc.stdout

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.name, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def lab_namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)}


@pytest.fixture
def scratch_netns(request: pytest.FixtureRequest) -> Iterator[ScratchNamespace]:
    name = f"{PREFIX}-{os.getpid()}-{abs(hash(request.node.nodeid)) % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ns = ScratchNamespace(name)
        ns.run("ip", "link", "set", "lo", "up")
        yield ns
    finally:
        # Deleting the namespace takes its links, addresses, routes and rules with it;
        # processes started in it are the test's to stop (it uses try/finally for that).
        subprocess.run(["ip", "netns", "delete", name], check=False)
    assert name not in lab_namespaces()
