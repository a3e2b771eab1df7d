"""kube-proxy for real in the kernel lab: each node namespace takes the rules its kube-proxy writes.

A :class:`LabProxy` plays every node's kube-proxy against the running lab, in the mode the
cluster's kind config names (``networking.kubeProxyMode``) or the one it is given. In iptables
mode it does what ``syncProxyRules`` (``pkg/proxy/iptables/proxier.go``) does, in this order:

1. on a full sync (the first, or after a failed restore), make sure the jumps from the
   built-in chains exist (``EnsureChain`` + ``EnsureRule(Prepend)``: only missing ones are
   inserted) and that the nfacct counters exist (``nfacct.Ensure``), since a rule naming a
   missing counter fails to load;
2. hand the payload of :meth:`Cluster.sync <k8s_service_lab.cluster.Cluster.sync>` to
   ``iptables-restore --noflush --counters`` — the nft-backed tool, as on a kind node, so
   ``nft monitor trace`` sees the rules (DESIGN §8) — full the first time, partial later;
3. when a Service with a UDP port changed endpoints, delete the stale UDP conntrack entries
   (``conntrack.CleanStaleEntries``; see :mod:`.conntrack`).

In nftables mode it does what ``syncProxyRules`` in ``pkg/proxy/nftables/proxier.go`` does:
first the separate transaction deleting chains stale for over a second (the backend's
``last_cleanup``: kernels before 6.2 notice late that a map element stopped pointing at a
chain), then ``nft -f -`` of the sync's transaction into the node's own table
``ip kube-proxy`` — full the first time, partial later — then the same UDP conntrack cleanup.
Upstream lists the kernel's chains and sets on each sync to find stale ones; the backend
remembers what it wrote instead, which is right within one process. A new process (each
``ksl cluster`` command) finds the table of the previous one, so every full sync here also
reads the table and adds what the backend cannot know: ``flush chain`` for per-Service chains
the payload neither writes nor flushes, ``delete set`` for affinity sets it does not add. Those
chains are deleted a second later (:meth:`LabProxy.settle`, which :meth:`LabProxy.install` runs).

A failed restore (or ``nft -f``) makes the next sync full, as upstream's retry does, and
raises :class:`LabProxyError` naming the node, the line and the rule the tool refused. Every command
runs inside a node namespace of the plan (``ip netns exec``), never in the caller's own; the
check is by name and by namespace inode. The pieces that need no kernel can be read anywhere::

    >>> from k8s_service_lab import Cluster
    >>> from k8s_service_lab.netfilter import parse_save, to_restore
    >>> jumps = Cluster().jump_rules()
    >>> missing_jumps(jumps, jumps).tables
    ()
    >>> have = parse_save("*nat\\n:KUBE-SERVICES - [0:0]\\n"
    ...     '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\\n'
    ...     "COMMIT\\n")
    >>> print(to_restore(missing_jumps(Ruleset(4, (jumps.table("nat"),)), have)), end="")
    *nat
    :KUBE-POSTROUTING - [0:0]
    :KUBE-PROXY-CANARY - [0:0]
    -I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    -I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
    COMMIT
    >>> payload = "*nat\\n:A - [0:0]\\n-A A -j B\\nCOMMIT\\n"
    >>> restore_culprit("Chain 'B' does not exist\\nError occurred at line: 4", payload)
    (3, '-A A -j B')
    >>> nft_culprit("/dev/stdin:2:22-28: Error: Could not process rule: No such file or "
    ...     "directory", "add chain ip t c\\nadd rule ip t c jump nowhere\\n")
    (2, 'add rule ip t c jump nowhere')

With a lab up (root): ``proxy = LabProxy(cluster, plan); proxy.install()``; after
``cluster.delete(...)``, ``cluster.set_ready(...)`` or an ``apply``, ``proxy.resync()``.
LabProxy drives the cluster's kube-proxy of every node: other callers of ``cluster.sync``
for those nodes would take partial payloads it never loads.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from k8s_service_lab.backends.iptables.static import CT_INVALID_COUNTER, LOCALHOST_NODEPORT_COUNTER
from k8s_service_lab.backends.nftables import STALE_CHAIN_DELAY as DELAY
from k8s_service_lab.backends.nftables import TABLE, NftablesBackend
from k8s_service_lab.errors import PrerequisiteError, ServiceLabError
from k8s_service_lab.netfilter import (
    Ruleset,
    parse_save,
    to_restore,
)
from k8s_service_lab.netfilter.nftables import (
    NftChain,
    NftTransaction,
    delete,
)
from k8s_service_lab.netfilter.nftables_dump import NftRuleset
from k8s_service_lab.netfilter.nftables_parse import parse_nft
from k8s_service_lab.netfilter.nftables_text import to_nft
from k8s_service_lab.netns.conntrack import (
    StaleFilter,
    cleanup_required,
    parse_entries,
    stale_filters,
    udp_frontends,
)
from k8s_service_lab.netns.enter import namespace_path, netns_inode
from k8s_service_lab.netns.names import Role, owns
from k8s_service_lab.netns.proxy_rules import (
    chain_or_set_names,
    counters_named,
    delete_stale_chains,
    missing_jumps,
    nft_culprit,
    nft_family,
    restore_culprit,
    with_kernel_leftovers,
)
from k8s_service_lab.proxy import NodeProxyState

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.netns.plan import LabPlan

__all__ = [
    "KUBE_PROXY_COUNTERS",
    "LabProxy",
    "LabProxyError",
    "NodeSync",
    "as_ruleset",
    "as_transaction",
    "delete_stale_chains",
    "missing_jumps",
    "nft_culprit",
    "restore_culprit",
    "with_kernel_leftovers",
]

#: The counters kube-proxy's iptables proxier ensures on every full sync (``nfAcctCounters``
#: in ``NewProxier``), whether or not this sync's rules name them.
KUBE_PROXY_COUNTERS = (CT_INVALID_COUNTER, LOCALHOST_NODEPORT_COUNTER)
#: The binaries per family: the nft-backed iptables, as on a kind node.
TOOLS = {4: "iptables-nft", 6: "ip6tables-nft"}
#: Which Debian package provides each tool we run (for a clear refusal).
PACKAGES = {
    "ip": "iproute2",
    "iptables-nft-restore": "iptables",
    "iptables-nft-save": "iptables",
    "ip6tables-nft-restore": "iptables",
    "ip6tables-nft-save": "iptables",
    "nft": "nftables",
    "nfacct": "nfacct",
    "conntrack": "conntrack",
}
COMMAND_TIMEOUT = 300.0
#: The modes the lab can load into a node namespace.
MODES = ("iptables", "nftables")


class LabProxyError(ServiceLabError):
    """A node's kube-proxy could not program its namespace; the message names node and line."""


@dataclass(frozen=True, slots=True)
class NodeSync:
    """What one sync did on one node for one family."""

    node: str
    family: int
    full: bool
    #: Lines of the ``iptables-restore`` payload (jump rules not counted), or of the
    #: ``nft -f`` transaction (the stale-chain deletion not counted).
    lines: int
    seconds: float
    #: The ``conntrack -D`` filters that removed at least one entry.
    conntrack_deleted: tuple[StaleFilter, ...] = ()
    #: nftables mode: the stale chains deleted (in their own transaction) before the payload.
    chains_deleted: tuple[str, ...] = ()


class LabProxy:
    """Every node's kube-proxy, loading real rules into the lab's node namespaces."""

    def __init__(self, cluster: Cluster, plan: LabPlan, mode: str | None = None) -> None:
        mode = mode or cluster.config.networking.kube_proxy_mode
        if mode not in MODES:
            raise LabProxyError(
                f'kube-proxy mode "{mode}" is not loaded into the kernel lab yet '
                f"(have: {', '.join(MODES)})"
            )
        self.cluster = cluster
        self.plan = plan
        self.mode = mode
        self.nodes = tuple(n.name for n in cluster.config.cluster_nodes)
        self.families = tuple(c.version for c in cluster.config.service_cidrs)
        self._namespaces = {node: plan.of(Role.NODE, node).name for node in self.nodes}
        self._synced: dict[tuple[str, int], NodeProxyState] = {}
        # nftables mode: chains found stale in the kernel (not the backend's), and since when.
        self._leftovers: dict[tuple[str, int], dict[str, float]] = {}

    # -- the public operations -----------------------------------------------------------------

    def install(self) -> tuple[NodeSync, ...]:
        """The first (full) sync on every node: jumps, counters, payload, conntrack cleanup.

        Full even if the cluster's kube-proxies synced before (a fresh namespace holds none
        of what a partial payload would build on).
        """
        self._require_tools()
        for node in self.nodes:
            for family in self.families:
                watcher, backend = self.cluster.proxy(self.mode, node, family)
                watcher.force_full_sync()
                if isinstance(backend, NftablesBackend):
                    backend.force_full_sync()
        self._synced.clear()
        syncs = self.resync()
        self.settle()
        return syncs

    def resync(self) -> tuple[NodeSync, ...]:
        """One sync on every node: the partial payload of what changed since the last one."""
        return tuple(self.sync_node(n, f) for n in self.nodes for f in self.families)

    def sync_node(self, node: str, family: int = 4) -> NodeSync:
        """One kube-proxy sync of ``node`` for ``family`` (what :meth:`resync` does per node)."""
        if self.mode == "nftables":
            return self._sync_nft(node, family)
        start = time.perf_counter()
        watcher, _ = self.cluster.proxy(self.mode, node, family)
        state = watcher.state()
        full = state.needs_full_sync
        payload = as_ruleset(self.cluster.sync(self.mode, node, family))  # marks it synced
        text = to_restore(payload)
        try:
            if full:
                jumps = as_ruleset(self.cluster.jump_rules(self.mode, node, family))
                self._ensure_jumps(node, family, jumps)
                self._ensure_counters(node, set(KUBE_PROXY_COUNTERS) | counters_named(payload))
                text = to_restore(delete_stale_chains(payload, self.rules(node, family)))
            self._restore(node, family, text)
        except BaseException:
            watcher.force_full_sync()  # as upstream after a failed restore
            raise
        deleted: tuple[StaleFilter, ...] = ()
        previous = self._synced.get((node, family))
        if cleanup_required(previous, state):
            deleted = self._clean_conntrack(node, family, state)
        self._synced[(node, family)] = state
        lines = len(text.splitlines())
        return NodeSync(node, family, full, lines, time.perf_counter() - start, deleted)

    def settle(self) -> tuple[str, ...]:
        """Delete the chains a full sync found stale in the kernel once they have been so
        for ``STALE_CHAIN_DELAY`` (waiting if need be); the chains deleted.

        kube-proxy deletes them at its next sync a second or more later; a ``ksl cluster``
        command makes one sync and exits, so it settles before it goes.
        """
        pending = [since for chains in self._leftovers.values() for since in chains.values()]
        if not pending:
            return ()
        wait = max(pending) + DELAY - time.monotonic()
        if wait > 0:
            time.sleep(wait + 0.05)
        deleted: list[str] = []
        for (node, family), chains in list(self._leftovers.items()):
            old = sorted(chains)
            cmds = tuple(delete(NftChain(c)) for c in old)
            self._nft(node, NftTransaction(nft_family(family), TABLE, cmds))
            chains.clear()
            deleted += old
        return tuple(deleted)

    def rules(self, node: str, family: int = 4) -> Ruleset:
        """What ``iptables-save`` shows in ``node``'s namespace now, parsed (iptables mode;
        :meth:`nft_rules` in nftables mode)."""
        if self.mode != "iptables":
            raise LabProxyError(f"{node}: kube-proxy runs in {self.mode} mode: read nft_rules()")
        tool = f"{TOOLS[family]}-save"
        return parse_save(self.run(node, tool), source=f"{node}: {tool}", family=family)

    def nft_rules(self, node: str, family: int = 4) -> NftRuleset:
        """``nft list table ip kube-proxy`` in ``node``'s namespace now, parsed (no tables when
        it does not exist)."""
        argv = ("nft", "list", "table", nft_family(family), TABLE)
        proc = self._exec(node, argv, None)
        if proc.returncode != 0 and "No such file or directory" in proc.stderr:
            return NftRuleset()
        if proc.returncode != 0:
            raise LabProxyError(f"{node}: {' '.join(argv)} exited {proc.returncode}: {_tail(proc)}")
        return parse_nft(proc.stdout, source=f"{node}: {' '.join(argv)}")

    def kernel_rules(self, node: str, family: int = 4) -> Ruleset | NftRuleset:
        """What the node's kernel holds of kube-proxy's rules, in this proxy's mode."""
        return self.nft_rules(node, family) if self.mode == "nftables" else self.rules(node, family)

    def conntrack(self, node: str, family: int = 4, proto: str = "udp") -> str:
        """``conntrack -L`` in ``node``'s namespace (one protocol), as the tool prints it."""
        return self.run(node, "conntrack", "-L", "-f", _family_word(family), "-p", proto)

    def run(self, node: str, *argv: str, input: str | None = None) -> str:
        """Run ``argv`` inside ``node``'s namespace (and nowhere else); its stdout."""
        proc = self._exec(node, argv, input)
        if proc.returncode != 0:
            raise LabProxyError(
                f"{node}: {' '.join(argv)} exited {proc.returncode}: " + _tail(proc)
            )
        return proc.stdout

    # -- nftables mode ---------------------------------------------------------------------------

    def _sync_nft(self, node: str, family: int) -> NodeSync:
        start = time.perf_counter()
        watcher, backend = self.cluster.proxy(self.mode, node, family)
        if not isinstance(backend, NftablesBackend):
            raise LabProxyError(f"expected the nftables backend, got {type(backend).__name__}")
        state = watcher.state()
        tx = as_transaction(self.cluster.sync(self.mode, node, family))  # marks it synced
        full = backend.last_stats is not None and backend.last_stats.full
        key = (node, family)
        deleted: list[str] = []
        due = (
            set(chain_or_set_names(backend.last_cleanup, NftChain))
            if backend.last_cleanup
            else set()
        )
        now = time.monotonic()
        due |= {c for c, since in self._leftovers.get(key, {}).items() if since < now - DELAY}
        if due:
            # Their own transaction, before the payload (``staleChains``, ``oneSecondAgo``),
            # for the chains the kernel still holds. Upstream only logs a failure: the
            # chains stay, and the next full sync finds them again.
            for chain in due:
                self._leftovers.get(key, {}).pop(chain, None)
            have = {c.name for t in self.nft_rules(node, family).tables for c in t.chains}
            old = sorted(due & have)
            cmds = tuple(delete(NftChain(c)) for c in old)
            with contextlib.suppress(LabProxyError):
                self._nft(node, NftTransaction(nft_family(family), TABLE, cmds))
                deleted += old
        try:
            if full:
                tx, stale = with_kernel_leftovers(tx, self.nft_rules(node, family))
                now = time.monotonic()
                self._leftovers.setdefault(key, {}).update(dict.fromkeys(stale, now))
            self._nft(node, tx)
        except BaseException:
            watcher.force_full_sync()  # as upstream after a failed transaction
            backend.force_full_sync()
            self._leftovers.pop(key, None)  # "staleChains is now incorrect": found again
            raise
        for chain in chain_or_set_names(tx, NftChain, "add"):
            self._leftovers.get(key, {}).pop(chain, None)  # in use again
        conntrack: tuple[StaleFilter, ...] = ()
        if cleanup_required(self._synced.get(key), state):
            conntrack = self._clean_conntrack(node, family, state)
        self._synced[key] = state
        lines = len(to_nft(tx).splitlines()) if tx.commands else 0
        seconds = time.perf_counter() - start
        return NodeSync(node, family, full, lines, seconds, conntrack, tuple(deleted))

    def _nft(self, node: str, tx: NftTransaction) -> None:
        """``nft -f -`` of ``tx`` in ``node``'s namespace; an error names node and line."""
        if not tx.commands:
            return
        text = to_nft(tx)
        proc = self._exec(node, ("nft", "-f", "-"), text)
        if proc.returncode != 0:
            n, line = nft_culprit(proc.stderr, text)
            where = f" at line {n}: {line}" if n is not None else ""
            raise LabProxyError(f"{node}: nft -f exited {proc.returncode}{where}\n{_tail(proc)}")

    # -- steps ---------------------------------------------------------------------------------

    def _ensure_jumps(self, node: str, family: int, jumps: Ruleset) -> None:
        missing = missing_jumps(jumps, self.rules(node, family))
        if missing.tables:
            self._restore(node, family, to_restore(missing))

    def _ensure_counters(self, node: str, names: set[str]) -> None:
        listed = self.run(node, "nfacct", "list")
        have = set(re.findall(r"=\s*(\S+);\s*$", listed, flags=re.MULTILINE))
        for name in sorted(names - have):
            self.run(node, "nfacct", "add", name)

    def _restore(self, node: str, family: int, text: str) -> None:
        tool = f"{TOOLS[family]}-restore"
        proc = self._exec(node, (tool, "--noflush", "--counters"), text)
        if proc.returncode != 0:
            n, rule = restore_culprit(proc.stderr, text)
            where = f" at line {n}: {rule}" if n is not None else ""
            raise LabProxyError(
                f"{node}: {tool} --noflush exited {proc.returncode}{where}\n{_tail(proc)}"
            )

    def _clean_conntrack(
        self, node: str, family: int, state: NodeProxyState
    ) -> tuple[StaleFilter, ...]:
        fronts = udp_frontends(state.services, state.endpoints)
        if not fronts.by_address and not fronts.by_node_port:
            return ()
        filters = stale_filters(parse_entries(self.conntrack(node, family)), fronts)
        deleted = []
        for flt in filters:
            argv = ("conntrack", "-D", "-f", _family_word(family), *flt.argv())
            proc = self._exec(node, argv, None)
            # conntrack exits 1 when a filter matched nothing (the entry may have expired).
            if proc.returncode == 0:
                deleted.append(flt)
            elif "0 flow entries" not in proc.stderr:
                raise LabProxyError(f"{node}: {' '.join(argv)} failed: {_tail(proc)}")
        return tuple(deleted)

    # -- running inside a node namespace ---------------------------------------------------------

    def _exec(
        self, node: str, argv: Sequence[str], input: str | None
    ) -> subprocess.CompletedProcess[str]:
        name = self._namespace(node)
        return subprocess.run(
            ["ip", "netns", "exec", name, *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )

    def _namespace(self, node: str) -> str:
        """``node``'s lab namespace, after checking it is one and not the caller's own."""
        try:
            name = self._namespaces[node]
        except KeyError:
            raise LabProxyError(f'node "{node}" is not in lab "{self.plan.prefix}"') from None
        path = namespace_path(name)
        if not owns(self.plan.prefix, name) or not path.exists():
            raise LabProxyError(f'namespace "{name}" of node "{node}" does not exist (lab down?)')
        if os.stat(path).st_ino == netns_inode("/proc/self/ns/net"):
            raise LabProxyError(f'refusing to program "{name}": it is this process\'s namespace')
        return name

    def _require_tools(self) -> None:
        if os.geteuid() != 0:
            raise PrerequisiteError('kube-proxy in the lab needs root: run "sudo ksl cluster up"')
        tools = ["ip", "conntrack"]
        if self.mode == "nftables":
            tools.append("nft")
        else:
            tools.append("nfacct")
            tools += [f"{TOOLS[f]}-{op}" for f in self.families for op in ("restore", "save")]
        missing = sorted({PACKAGES[t] for t in tools if shutil.which(t) is None})
        if missing:
            raise PrerequisiteError(
                "kube-proxy in the lab needs Debian packages: apt-get install " + " ".join(missing)
            )


def as_ruleset(payload: object) -> Ruleset:
    """``payload`` as iptables rules (``Cluster.render`` and ``sync`` return either mode's)."""
    if not isinstance(payload, Ruleset):
        raise LabProxyError(f"expected iptables rules, got {type(payload).__name__}")
    return payload


def as_transaction(payload: object) -> NftTransaction:
    """``payload`` as an nft transaction."""
    if not isinstance(payload, NftTransaction):
        raise LabProxyError(f"expected an nft transaction, got {type(payload).__name__}")
    return payload


def _family_word(family: int) -> str:
    return "ipv4" if family == 4 else "ipv6"


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr.strip()[-2000:]
