"""Regenerate the nftables golden files under ``tests/golden/nftables/`` — never edit them.

Run ``python -m tests.golden.generate_nftables``. Each file is headed with the scenario that
produced it in ``#`` lines (which ``nft -f`` ignores). ``.nft`` files hold a transaction
exactly as the backend sends it; ``-table.nft`` files the table it leaves, in upstream's
``sortNFTablesTransaction`` order. Before writing, every payload is applied to an
:class:`NftState` (which refuses what ``nft -f`` would) and checked for dangling references;
``tests/unit/test_nftables_golden.py`` then fails whenever the code and the files disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from k8s_service_lab import Cluster
from k8s_service_lab.backends.nftables import NftablesBackend, endpoint_names, service_port_names
from k8s_service_lab.netfilter.nftables_text import to_nft
from k8s_service_lab.proxy import ProxyWatcher
from tests.golden.scenarios_iptables import ep, make_state, overall_state, port_name
from tests.golden.scenarios_nftables import FakeNft, fake_nft_backend, sort_transaction

ROOT = Path(__file__).parent


@dataclass(frozen=True)
class Golden:
    path: str
    scenario: str
    build: Callable[[], str]


def _checked(kernel: FakeNft) -> None:
    problems = kernel.state.dangling()
    if problems:
        raise SystemExit(f"inconsistent table: {problems}")


def _overall() -> str:
    backend = fake_nft_backend()
    payload = backend.sync(overall_state())
    kernel = FakeNft(backend)
    kernel.run(payload)
    _checked(kernel)
    return to_nft(payload)


def _overall_table() -> str:
    kernel = FakeNft(fake_nft_backend())
    kernel.run(kernel.backend.sync(overall_state()))
    _checked(kernel)
    return "\n".join(sort_transaction(kernel.state.dump())) + "\n"


def _overall_partial() -> str:
    kernel = FakeNft(fake_nft_backend())
    state = overall_state()
    kernel.run(kernel.backend.sync(state))
    svc4 = port_name("ns4", "svc4")
    endpoints = {**state.endpoints, svc4: (ep("10.180.0.4"),)}
    partial = make_state(state.services.values(), endpoints, updated=[svc4.service], full=False)
    payload = kernel.backend.sync(partial)
    kernel.run(payload)
    _checked(kernel)
    return to_nft(payload)


def _naming() -> str:
    state = overall_state()
    lines = []
    for p in state.ports():
        names = service_port_names(p.namespace, p.name, p.port_name, p.protocol)
        lines += [f"{p}\t{names.cluster}", f"{p}\t{names.local}", f"{p}\t{names.external}"]
        lines.append(f"{p}\t{names.firewall}")
        for e in state.endpoints.get(p, ()):
            en = endpoint_names(p.namespace, p.name, p.port_name, p.protocol, e.ip, e.port)
            lines += [f"{p} -> {e.endpoint}\t{en.chain}", f"{p} -> {e.endpoint}\t{en.affinity_set}"]
    return "\n".join(lines) + "\n"


def _kind_worker() -> str:
    cluster = Cluster()
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    backend = NftablesBackend(cluster.config, "kind-worker")
    payload = backend.sync(watcher.state())
    kernel = FakeNft(backend)
    kernel.run(payload)
    _checked(kernel)
    return to_nft(payload)


GOLDENS = (
    Golden(
        "nftables/overall.nft",
        "upstream TestOverallNFTablesRules (reference §3.5): test-node 192.168.0.2, pods "
        "10.0.0.0/8, ClusterIPs 172.30.0.0/16, mark 0x4000, nodeport-addresses "
        "192.168.0.2/32; six Services (ClusterIP, LB eTP=Local, NodePort, externalIP, "
        "LB+sourceRanges+affinity, no endpoints). The first (full) sync's transaction.",
        _overall,
    ),
    Golden(
        "nftables/overall-table.nft",
        "the table the overall scenario's first sync leaves, in upstream's "
        "sortNFTablesTransaction order: what TestOverallNFTablesRules expects.",
        _overall_table,
    ),
    Golden(
        "nftables/overall-partial.nft",
        "the overall scenario after its full sync, then ns4/svc4 loses endpoint 10.180.0.5: "
        "a partial sync — svc4's chains rewritten, no element changes, the stale endpoint "
        "chain flushed (it is deleted a second later, in a transaction of its own).",
        _overall_partial,
    ),
    Golden(
        "nftables/naming.tsv",
        "reference §3.4: the chain and affinity-set names of the overall scenario's Service "
        "ports and endpoints (HASH8 = base32(sha256(ns/svc/proto/port[__ip/port]))[:8]).",
        _naming,
    ),
    Golden(
        "nftables/kind-worker.nft",
        "a fresh kind cluster (Cluster(), seed 0) seen by kube-proxy in nftables mode on "
        "kind-worker: default/kubernetes and kube-system/kube-dns, kind defaults (mark "
        "0x00004000, detect-local ClusterCIDR 10.244.0.0/16, NodePorts on the primary node "
        "IP 172.18.0.3). The first (full) sync's transaction.",
        _kind_worker,
    ),
)


def render(golden: Golden) -> str:
    header = "".join(f"# {line}\n" for line in _wrap(golden.scenario))
    return (
        f"# GENERATED by tests/golden/generate_nftables.py; do not edit.\n{header}{golden.build()}"
    )


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
