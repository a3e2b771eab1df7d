"""Every transaction kube-proxy's nftables mode renders is accepted by the real kernel.

For random kind-shaped clusters (``iptables_clusters.cluster_specs``: Services of every type,
externalIPs, affinity, eTP/iTP Local, source ranges, 0–5 replicas, not-ready pods, sometimes
dual-stack) each example takes a scratch namespace of its own and, per IP family, passes the
first (full) transaction through ``nft -c -f`` (check only) and then ``nft -f``; then the
partial transactions after each of 1–3 random changes (with the stale-chain cleanup
transaction before them, the clock moved on two seconds each time). Afterwards
``nft list table`` must read back exactly the chains and sets our own replay
(:class:`NftState`) says the kernel holds. Nothing runs outside the ``ksl-t`` namespaces.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count

import pytest
from hypothesis import HealthCheck, event, given, settings

from k8s_service_lab.backends.nftables import NftablesBackend
from k8s_service_lab.netfilter.nftables import NftTransaction
from k8s_service_lab.netfilter.nftables_state import NftState
from k8s_service_lab.netfilter.nftables_text import to_nft
from k8s_service_lab.proxy import ProxyWatcher
from tests.golden.scenarios_iptables import overall_state
from tests.golden.scenarios_nftables import FakeClock, fake_nft_backend
from tests.kernel.conftest import PREFIX, ScratchNamespace, lab_namespaces
from tests.kernel.iptables_clusters import ClusterSpec, cluster_specs

pytestmark = pytest.mark.kernel

NODE = "kind-worker"
_serial = count()


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = [t for t in ("ip", "nft") if shutil.which(t) is None]
    if os.geteuid() != 0:
        missing.insert(0, "root")
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages nftables, iproute2)")


@contextmanager
def nft_namespace() -> Iterator[ScratchNamespace]:
    """A fresh ``ksl-t`` namespace, removed on any exit (DESIGN §8)."""
    name = f"{PREFIX}-nft-{os.getpid()}-{next(_serial)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield ScratchNamespace(name)
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
    assert name not in lab_namespaces()


def nft(ns: ScratchNamespace, tx: NftTransaction, *, check_only: bool = False) -> None:
    """``nft [-c] -f -`` one transaction; a failure shows nft's message and the line."""
    text = to_nft(tx)
    argv = ["ip", "netns", "exec", ns.name, "nft", *(["-c"] if check_only else []), "-f", "-"]
    proc = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"nft {'-c ' if check_only else ''}exited {proc.returncode}: {proc.stderr}")


def load(ns: ScratchNamespace, replay: NftState, tx: NftTransaction) -> None:
    if not tx.commands:
        return
    nft(ns, tx, check_only=True)
    nft(ns, tx)
    replay.apply(tx)


def listed(ns: ScratchNamespace, family: str) -> tuple[set[str], set[str]]:
    """Chain names and set/map names of ``nft list table <family> kube-proxy``."""
    text = ns.run("nft", "list", "table", family, "kube-proxy")
    chains = set(re.findall(r"^\tchain (\S+) \{", text, re.M))
    sets = set(re.findall(r"^\t(?:set|map) (\S+) \{", text, re.M))
    return chains, sets


def run_example(spec: ClusterSpec) -> None:
    cluster = spec.build()
    families = ["IPv4" if c.version == 4 else "IPv6" for c in cluster.config.service_cidrs]
    clock = FakeClock()
    proxies = {
        f: (
            ProxyWatcher(cluster.store, NODE, f, cluster.config),
            NftablesBackend(cluster.config, NODE, 4 if f == "IPv4" else 6, clock=clock),
        )
        for f in families
    }
    replays = {f: NftState(proxies[f][1].opts.nft_family, "kube-proxy") for f in families}

    def sync_all() -> None:
        for f, (watcher, backend) in proxies.items():
            payload = backend.sync(watcher.state())
            if backend.last_cleanup is not None:
                load(ns, replays[f], backend.last_cleanup)
            load(ns, replays[f], payload)
            watcher.mark_synced()

    with nft_namespace() as ns:
        sync_all()
        live = {s.index: s for s in spec.services}
        for change in spec.changes:
            spec.apply_change(cluster, change, live)
            clock.advance(2)
            sync_all()
        for f, (_, backend) in proxies.items():
            assert backend.last_stats is not None
            chains, sets = listed(ns, backend.opts.nft_family)
            assert chains == set(replays[f].chains())
            assert sets == set(replays[f].containers())
            assert replays[f].dangling() == []


@settings(
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cluster_specs())
def test_random_clusters_check_load_and_read_back(spec: ClusterSpec) -> None:
    event("dual-stack" if spec.dual else "IPv4 only")
    run_example(spec)


def test_overall_scenario_loads_and_stale_chains_are_deleted() -> None:
    """Upstream's overall scenario, then a lost endpoint: flushed, then deleted."""
    from tests.golden.scenarios_iptables import ep, make_state, port_name

    clock = FakeClock()
    backend = fake_nft_backend(clock)
    replay = NftState("ip", "kube-proxy")
    state = overall_state()
    with nft_namespace() as ns:
        load(ns, replay, backend.sync(state))
        svc4 = port_name("ns4", "svc4")
        eps = {**state.endpoints, svc4: (ep("10.180.0.4"),)}
        load(
            ns,
            replay,
            backend.sync(
                make_state(state.services.values(), eps, updated=[svc4.service], full=False)
            ),
        )
        stale = "endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80"
        assert stale in listed(ns, "ip")[0]
        clock.advance(2)
        payload = backend.sync(make_state(state.services.values(), eps, full=False))
        assert backend.last_cleanup is not None
        load(ns, replay, backend.last_cleanup)
        load(ns, replay, payload)
        assert stale not in listed(ns, "ip")[0]
        assert listed(ns, "ip")[0] == set(replay.chains())
