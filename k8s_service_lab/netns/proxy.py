"""kube-proxy for real in the kernel lab: each node namespace takes the rules its kube-proxy writes.

A :class:`LabProxy` plays every node's kube-proxy (iptables mode) against the running lab,
doing what ``syncProxyRules`` (``pkg/proxy/iptables/proxier.go``) does, in this order:

1. on a full sync (the first, or after a failed restore), make sure the jumps from the
   built-in chains exist (``EnsureChain`` + ``EnsureRule(Prepend)``: only missing ones are
   inserted) and that the nfacct counters exist (``nfacct.Ensure``), since a rule naming a
   missing counter fails to load;
2. hand the payload of :meth:`Cluster.sync <k8s_service_lab.cluster.Cluster.sync>` to
   ``iptables-restore --noflush --counters`` — the nft-backed tool, as on a kind node, so
   ``nft monitor trace`` sees the rules (DESIGN §8) — full the first time, partial later;
3. when a Service with a UDP port changed endpoints, delete the stale UDP conntrack entries
   (``conntrack.CleanStaleEntries``; see :mod:`.conntrack`).

A failed restore makes the next sync full, as upstream's retry does, and raises
:class:`LabProxyError` naming the node, the line and the rule the tool refused. Every command
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

With a lab up (root): ``proxy = LabProxy(cluster, plan); proxy.install()``; after
``cluster.delete(...)``, ``cluster.set_ready(...)`` or an ``apply``, ``proxy.resync()``.
LabProxy drives the cluster's kube-proxy of every node: other callers of ``cluster.sync``
for those nodes would take partial payloads it never loads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from k8s_service_lab.backends.iptables.names import SERVICE_CHAIN_PREFIXES
from k8s_service_lab.backends.iptables.static import CT_INVALID_COUNTER, LOCALHOST_NODEPORT_COUNTER
from k8s_service_lab.errors import PrerequisiteError, ServiceLabError
from k8s_service_lab.netfilter import (
    Chain,
    DeleteChain,
    Insert,
    NfAcct,
    Rule,
    Ruleset,
    Table,
    canonical_rule,
    parse_save,
    to_restore,
)
from k8s_service_lab.netns.conntrack import (
    StaleFilter,
    cleanup_required,
    parse_entries,
    stale_filters,
    udp_frontends,
)
from k8s_service_lab.netns.enter import namespace_path, netns_inode
from k8s_service_lab.netns.names import Role, owns
from k8s_service_lab.proxy import NodeProxyState

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.netns.plan import LabPlan

__all__ = [
    "KUBE_PROXY_COUNTERS",
    "LabProxy",
    "LabProxyError",
    "NodeSync",
    "delete_stale_chains",
    "missing_jumps",
    "restore_culprit",
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
    "nfacct": "nfacct",
    "conntrack": "conntrack",
}
COMMAND_TIMEOUT = 300.0


class LabProxyError(ServiceLabError):
    """A node's kube-proxy could not program its namespace; the message names node and line."""


@dataclass(frozen=True, slots=True)
class NodeSync:
    """What one sync did on one node for one family."""

    node: str
    family: int
    full: bool
    #: Lines of the ``iptables-restore`` payload (jump rules not counted).
    lines: int
    seconds: float
    #: The ``conntrack -D`` filters that removed at least one entry.
    conntrack_deleted: tuple[StaleFilter, ...] = ()


def missing_jumps(jumps: Ruleset, current: Ruleset) -> Ruleset:
    """The part of ``jumps`` not yet in ``current``: chains to create and rules to insert.

    ``EnsureChain`` creates a chain only when absent (so an existing one keeps its rules) and
    ``EnsureRule(Prepend)`` checks with ``-C`` before inserting at the top.
    """
    fam = jumps.family
    have = {t.name: t for t in current.tables}
    tables = []
    for table in jumps.tables:
        there = have.get(table.name)
        chains = {c.name for c in there.chains} if there is not None else set()
        rules = there.rules_by_chain() if there is not None else {}
        canon = {name: {canonical_rule(r, fam) for r in rs} for name, rs in rules.items()}
        new_chains = tuple(c for c in table.chains if c.name not in chains)
        statements = []
        for st in table.statements:
            rule = st.rule if isinstance(st, Insert) else st
            if not isinstance(rule, Rule):
                continue
            if canonical_rule(rule, fam) not in canon.get(rule.chain, set()):
                statements.append(st)
        if new_chains or statements:
            tables.append(Table(table.name, new_chains, tuple(statements)))
    return Ruleset(fam, tuple(tables))


def delete_stale_chains(payload: Ruleset, kernel: Ruleset) -> Ruleset:
    """A full ``payload`` that also deletes the kernel's per-Service nat chains it leaves unused.

    kube-proxy lists the nat table before writing (``iptables-save -t nat``,
    ``GetChainsFromTable``) and ends its nat section with ``:CHAIN`` + ``-X CHAIN`` for every
    ``KUBE-SVC-``/``SVL-``/``EXT-``/``FW-``/``SEP-`` chain no Service uses, just before the
    NodePort rule that must stay last. Our backend remembers what it wrote instead, which is
    right until a restore fails; a full sync after that asks the kernel, as upstream does.
    """
    nat = payload.table("nat")
    there = kernel.table("nat")
    if nat is None or there is None:
        return payload
    declared = {c.name for c in nat.chains}
    deleted = {st.name for st in nat.statements if isinstance(st, DeleteChain)}
    stale = sorted(
        c.name
        for c in there.chains
        if c.name.startswith(SERVICE_CHAIN_PREFIXES) and c.name not in declared | deleted
    )
    if not stale:
        return payload
    statements = list(nat.statements)
    at = len(statements) - 1 if statements and isinstance(statements[-1], Rule) else len(statements)
    statements[at:at] = [DeleteChain(c) for c in stale]
    chains = (*nat.chains, *(Chain(c) for c in stale))
    fixed = Table(nat.name, chains, tuple(statements))
    return Ruleset(payload.family, tuple(fixed if t is nat else t for t in payload.tables))


def restore_culprit(stderr: str, payload: str) -> tuple[int | None, str | None]:
    """The payload line ``iptables-restore`` complained about, from its error text.

    Both tools end with ``Error occurred at line: N`` (the nft-backed one may also say
    ``line N failed``). The nft-backed tool checks jumps only when the transaction commits,
    so it blames the ``COMMIT`` line and names the chain (``Chain 'X' does not exist``); then
    the first rule of that table jumping to the chain is the culprit.
    """
    lines = payload.splitlines()
    for found in re.findall(r"line:? (\d+)", stderr):
        n = int(found)
        if not 0 < n <= len(lines):
            continue
        missing = re.search(r"Chain '([^']+)' does not exist", stderr)
        if lines[n - 1] == "COMMIT" and missing is not None:
            start = max((i for i in range(n - 1) if lines[i].startswith("*")), default=0)
            for i in range(start, n - 1):
                if lines[i].endswith(f" -j {missing[1]}") or f" -j {missing[1]} " in lines[i]:
                    return i + 1, lines[i]
        return n, lines[n - 1]
    return None, None


def counters_named(ruleset: Ruleset) -> set[str]:
    """The nfacct objects the rules of ``ruleset`` count in."""
    names: set[str] = set()
    for table in ruleset.tables:
        for st in table.statements:
            rule = st.rule if isinstance(st, Insert) else st
            if isinstance(rule, Rule):
                names.update(m.name for m in rule.matches if isinstance(m, NfAcct))
    return names


class LabProxy:
    """Every node's kube-proxy, loading real rules into the lab's node namespaces."""

    def __init__(self, cluster: Cluster, plan: LabPlan, mode: str | None = None) -> None:
        mode = mode or cluster.config.networking.kube_proxy_mode
        if mode != "iptables":
            raise LabProxyError(
                f'kube-proxy mode "{mode}" is not loaded into the kernel lab yet (have: iptables)'
            )
        self.cluster = cluster
        self.plan = plan
        self.mode = mode
        self.nodes = tuple(n.name for n in cluster.config.cluster_nodes)
        self.families = tuple(c.version for c in cluster.config.service_cidrs)
        self._namespaces = {node: plan.of(Role.NODE, node).name for node in self.nodes}
        self._synced: dict[tuple[str, int], NodeProxyState] = {}

    # -- the public operations -----------------------------------------------------------------

    def install(self) -> tuple[NodeSync, ...]:
        """The first (full) sync on every node: jumps, counters, payload, conntrack cleanup.

        Full even if the cluster's kube-proxies synced before (a fresh namespace holds none
        of what a partial payload would build on).
        """
        self._require_tools()
        for node in self.nodes:
            for family in self.families:
                self.cluster.proxy(self.mode, node, family)[0].force_full_sync()
        self._synced.clear()
        return self.resync()

    def resync(self) -> tuple[NodeSync, ...]:
        """One sync on every node: the partial payload of what changed since the last one."""
        return tuple(self.sync_node(n, f) for n in self.nodes for f in self.families)

    def sync_node(self, node: str, family: int = 4) -> NodeSync:
        """One kube-proxy sync of ``node`` for ``family`` (what :meth:`resync` does per node)."""
        start = time.perf_counter()
        watcher, _ = self.cluster.proxy(self.mode, node, family)
        state = watcher.state()
        full = state.needs_full_sync
        payload = _xtables(self.cluster.sync(self.mode, node, family))  # marks it synced
        text = to_restore(payload)
        try:
            if full:
                jumps = _xtables(self.cluster.jump_rules(self.mode, node, family))
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

    def rules(self, node: str, family: int = 4) -> Ruleset:
        """What ``iptables-save`` shows in ``node``'s namespace now, parsed."""
        tool = f"{TOOLS[family]}-save"
        return parse_save(self.run(node, tool), source=f"{node}: {tool}", family=family)

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
        tools = ["ip", "nfacct", "conntrack"]
        tools += [f"{TOOLS[f]}-{op}" for f in self.families for op in ("restore", "save")]
        missing = sorted({PACKAGES[t] for t in tools if shutil.which(t) is None})
        if missing:
            raise PrerequisiteError(
                "kube-proxy in the lab needs Debian packages: apt-get install " + " ".join(missing)
            )


def _xtables(payload: object) -> Ruleset:
    if not isinstance(payload, Ruleset):
        raise LabProxyError(f"expected iptables rules, got {type(payload).__name__}")
    return payload


def _family_word(family: int) -> str:
    return "ipv4" if family == 4 else "ipv6"


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr.strip()[-2000:]
