"""Every payload kube-proxy's iptables mode renders loads into the real kernel, unchanged.

For random kind-shaped clusters (Services of every type, externalIPs, affinity, eTP/iTP Local,
source ranges, Deployments of 0–5 replicas, not-ready pods, sometimes dual-stack) each example
loads, into its own scratch namespace, the jump rules and the first (full) ``sync()`` payload,
then the partial payload after each of 1–3 random changes — all with
``iptables-nft-restore --noflush`` (``ip6tables-nft-restore`` for IPv6), as on a kind node.
Each must exit 0, and ``iptables-nft-save`` must then show exactly what our own replay
(:class:`KernelTables`) says the kernel holds.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, event, given, settings

from k8s_service_lab import Cluster
from k8s_service_lab.backends.iptables import IptablesBackend
from k8s_service_lab.netfilter import KernelTables, Ruleset, canonical, parse_save, to_restore
from tests.kernel.conftest import ScratchNamespace
from tests.kernel.iptables_clusters import (
    ClusterSpec,
    ServiceSpec,
    cluster_specs,
    loaded_namespace,
    missing_tools,
)

pytestmark = pytest.mark.kernel

NFT = ("iptables-nft-restore", "iptables-nft-save", "ip6tables-nft-restore", "ip6tables-nft-save")
PREFIX = {4: "iptables", 6: "ip6tables"}


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = missing_tools(*NFT)
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages iptables, nfacct, iproute2)")


def load(ns: ScratchNamespace, family: int, payload: Ruleset, backend: str = "nft") -> None:
    """``iptables-restore --noflush`` one payload; a failure names the rule the tool refused."""
    text = to_restore(payload)
    tool = f"{PREFIX[family]}-{backend}-restore"
    proc = subprocess.run(
        ["ip", "netns", "exec", ns.name, tool, "--noflush"],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        lines = text.splitlines()
        culprit = next(
            (lines[int(n) - 1] for n in _line_numbers(proc.stderr) if 0 < int(n) <= len(lines)),
            None,
        )
        pytest.fail(f"{tool} exited {proc.returncode}: {proc.stderr.strip()}\nrule: {culprit}")


def _line_numbers(err: str) -> list[str]:
    # iptables-restore reports "line N failed" (nft) or "Error occurred at line: N" (legacy).
    return re.findall(r"line:? (\d+)", err)


def kernel_tables(ns: ScratchNamespace, family: int) -> dict[str, object]:
    dump = ns.run(f"{PREFIX[family]}-nft-save")
    parsed = parse_save(dump, source=f"{PREFIX[family]}-nft-save", family=family)
    return {t.name: t for t in canonical(parsed).tables}


def replay_tables(kernel: KernelTables) -> dict[str, object]:
    return {t.name: t for t in canonical(kernel.ruleset()).tables}


def families(cluster: Cluster) -> list[int]:
    return [c.version for c in cluster.config.service_cidrs]


def run_example(spec: ClusterSpec) -> None:
    cluster = spec.build()
    fams = families(cluster)
    with loaded_namespace() as ns:
        ours = {f: KernelTables(f) for f in fams}
        for f in fams:
            jumps = cluster.jump_rules(family=f)
            load(ns, f, jumps)
            ours[f].restore(jumps)
            full = cluster.sync(family=f)
            load(ns, f, full)
            ours[f].restore(full)
        live = {s.index: s for s in spec.services}
        for change in spec.changes:
            spec.apply_change(cluster, change, live)
            for f in fams:
                partial = cluster.sync(family=f)
                backend = cluster.proxy(family=f)[1]
                assert isinstance(backend, IptablesBackend)
                assert backend.last_stats is not None
                assert not backend.last_stats.full
                load(ns, f, partial)
                ours[f].restore(partial)
        for f in fams:
            assert kernel_tables(ns, f) == replay_tables(ours[f])


@settings(
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cluster_specs())
def test_random_clusters_load_full_then_partial(spec: ClusterSpec) -> None:
    event("dual-stack" if spec.dual else "IPv4 only")
    run_example(spec)


#: One cluster with every feature the generator has, for the legacy tool's check.
EVERYTHING = ClusterSpec(
    services=(
        ServiceSpec(0, "ClusterIP", (80, 443), replicas=3, affinity_seconds=10800, itp_local=True),
        ServiceSpec(1, "NodePort", (53,), replicas=2, udp=True, external_ip=True, etp_local=True),
        ServiceSpec(2, "LoadBalancer", (8080,), replicas=5, etp_local=True, source_ranges=True),
        ServiceSpec(3, "LoadBalancer", (9000,), replicas=0, external_ip=True),
        ServiceSpec(4, "ClusterIP", (81,), replicas=None),
    ),
    dual=False,
    not_ready=(1, 4),
    changes=(),
    seed=7,
)


def test_full_payload_loads_with_legacy_restore() -> None:
    """The same payloads load through the legacy (x_tables) backend as well."""
    if shutil.which("iptables-legacy-restore") is None:
        pytest.skip("needs iptables-legacy-restore")
    cluster = EVERYTHING.build()
    with loaded_namespace() as ns:
        load(ns, 4, cluster.jump_rules(), backend="legacy")
        load(ns, 4, cluster.sync(), backend="legacy")
        dump = ns.run("iptables-legacy-save")
    kernel = KernelTables(4)
    kernel.ensure(cluster.jump_rules())
    kernel.restore(cluster.render())
    theirs = canonical(parse_save(dump, source="iptables-legacy-save")).tables
    assert {t.name: t for t in theirs} == replay_tables(kernel)
