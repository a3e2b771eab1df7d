"""Regenerate the golden rule dumps under ``tests/golden/`` — never edit those by hand.

Run ``nox -s golden`` (or ``python -m tests.golden.generate``). Each file is headed with the
scenario that produced it, in ``#`` comment lines ``iptables-restore`` ignores, then the
payload in upstream's ``sortIPTablesRules`` order. Before writing, each payload is checked
for dangling jumps and unused chains; ``tests/unit/test_iptables_golden.py`` then fails
whenever the code and the files disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from k8s_service_lab import Cluster
from k8s_service_lab.backends.iptables import TOP_LEVEL_CHAINS, IptablesBackend, sort_rules
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.netfilter import Ruleset, check_jumps, to_restore
from k8s_service_lab.proxy import ProxyWatcher
from tests.golden.scenarios_iptables import (
    FakeKernel,
    ep,
    fake_backend,
    make_state,
    overall_state,
    port_name,
)

ROOT = Path(__file__).parent
DUAL = ClusterConfig.from_dict(
    {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "networking": {"ipFamily": "dual"},
     "nodes": [{"role": "control-plane"}, {"role": "worker"}, {"role": "worker"}]}
)  # fmt: skip


@dataclass(frozen=True)
class Golden:
    path: str
    scenario: str
    build: Callable[[], Ruleset]
    #: A partial payload only makes sense on top of the kernel's earlier state: its builder
    #: checks that state instead, and the payload alone is not checked.
    partial: bool = False
    family: int = 4


def _overall() -> Ruleset:
    return fake_backend().sync(overall_state())


def _overall_partial() -> Ruleset:
    backend, kernel = fake_backend(), FakeKernel()
    state = overall_state()
    kernel.restore(backend.sync(state))
    svc4 = port_name("ns4", "svc4")
    endpoints = {**state.endpoints, svc4: (ep("10.180.0.4"),)}
    payload = backend.sync(
        make_state(state.services.values(), endpoints, updated=[svc4.service], full=False)
    )
    kernel.restore(payload)
    problems = check_jumps(kernel.ruleset(), top_level=TOP_LEVEL_CHAINS)
    if problems:
        raise SystemExit(f"overall-partial: inconsistent kernel state: {problems}")
    return payload


def _kind_worker(family: int) -> Callable[[], Ruleset]:
    def build() -> Ruleset:
        cluster = Cluster(DUAL if family == 6 else None)
        name = "IPv4" if family == 4 else "IPv6"
        watcher = ProxyWatcher(cluster.store, "kind-worker", name, cluster.config)
        return IptablesBackend(cluster.config, "kind-worker", family).sync(watcher.state())

    return build


def _kind_jumps() -> Ruleset:
    return IptablesBackend(Cluster().config, "kind-worker").jump_rules()


GOLDENS = (
    Golden(
        "iptables/overall.rules",
        "upstream TestOverallIPTablesRules (reference §2.4): test-node 192.168.0.2, pods "
        "10.0.0.0/8, mark 0x4000, no --random-fully, localhost NodePorts + nfacct; six "
        "Services (ClusterIP, LB eTP=Local, NodePort, externalIP, LB+sourceRanges+affinity, "
        "no endpoints). First (full) sync.",
        _overall,
    ),
    Golden(
        "iptables/overall-partial.rules",
        "the overall scenario after its full sync, then ns4/svc4 loses endpoint 10.180.0.5: "
        "a partial sync (KEP-3453) — every top-level rule, only svc4's own chains, and the "
        "stale KUBE-SEP-C6EBXVWJJZMIWKLZ flushed and deleted with -X.",
        _overall_partial,
        partial=True,
    ),
    Golden(
        "iptables/kind-worker-ipv6.rules",
        "a fresh dual-stack kind cluster (ipFamily: dual): ip6tables on kind-worker. The "
        "system Services are single-stack IPv4, so only the fixed rules remain: no "
        "KUBE-FIREWALL, no localhost NodePorts, ::1 excluded from the NodePort tail rule.",
        _kind_worker(6),
        family=6,
    ),
    Golden(
        "iptables/kind-worker.rules",
        "a fresh kind cluster (Cluster(), seed 0) seen by kube-proxy on kind-worker: "
        "default/kubernetes and kube-system/kube-dns, kind defaults (mark 0x00004000, "
        "--random-fully, detect-local ClusterCIDR 10.244.0.0/16). First (full) sync.",
        _kind_worker(4),
    ),
    Golden(
        "iptables/kind-worker-jumps.rules",
        "the jump rules a full sync installs with iptables -I before its restore (not part "
        "of the restore payload), plus the canary chains, for kind-worker.",
        _kind_jumps,
    ),
)


def render(golden: Golden) -> str:
    """The file's text: scenario header, then the sorted payload."""
    ruleset = golden.build()
    if golden.path.endswith("-jumps.rules"):
        body = to_restore(ruleset)
    elif golden.partial:
        body = to_restore(sort_rules(ruleset))
    else:
        problems = check_jumps(ruleset, top_level=TOP_LEVEL_CHAINS)
        if problems:
            raise SystemExit(f"{golden.path}: inconsistent ruleset: {problems}")
        body = to_restore(sort_rules(ruleset))
    header = "".join(f"# {line}\n" for line in _wrap(golden.scenario))
    return f"# GENERATED by tests/golden/generate.py; do not edit.\n{header}{body}"


def _wrap(text: str, width: int = 94) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line]


def main() -> int:
    for golden in GOLDENS:
        path = ROOT / golden.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(golden))
        print(f"wrote {path.relative_to(ROOT.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
