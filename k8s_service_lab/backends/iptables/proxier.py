"""``IptablesBackend``: one node's kube-proxy in iptables mode, as restore payloads.

A sync turns a :class:`~k8s_service_lab.proxy.NodeProxyState` into what kube-proxy passes to
``iptables-restore --noflush --counters`` (``syncProxyRules`` in ``proxier.go``): the filter
table, then nat. The first sync, and any sync the state marks as full, writes every chain;
after that a *partial* sync (KEP-3453) rewrites the top-level chains completely but only the
changed Services' own chains, and ``-X``-deletes chains nothing uses any more::

    >>> from k8s_service_lab import Cluster
    >>> from k8s_service_lab.proxy import ProxyWatcher
    >>> from k8s_service_lab.netfilter import to_restore
    >>> cluster = Cluster()
    >>> watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    >>> backend = IptablesBackend(cluster.config, "kind-worker")
    >>> payload = backend.sync(watcher.state())
    >>> watcher.mark_synced()
    >>> print([x for x in to_restore(payload).splitlines() if "kubernetes:https" in x][0])
    ... # doctest: +NORMALIZE_WHITESPACE
    -A KUBE-SERVICES -m comment --comment "default/kubernetes:https cluster IP"
       -m tcp -p tcp -d 10.96.0.1 --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
    >>> backend.last_stats.full, backend.sync(watcher.state()).table("nat").chains[4:]
    (True, ())
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from k8s_service_lab.backends.iptables.options import (
    LocalDetector,
    ProxierOptions,
    local_detector,
    mark_text,
)
from k8s_service_lab.backends.iptables.service import (
    RenderContext,
    ServicePortRules,
    build_service_port,
)
from k8s_service_lab.backends.iptables.static import (
    filter_head_rules,
    filter_tail_rules,
    filter_top_chains,
    jump_rules,
    nat_static_rules,
    nat_top_chains,
    nodeport_tail_rules,
)
from k8s_service_lab.backends.iptables.sysctls import Sysctl, proxier_sysctls
from k8s_service_lab.config import IP, ClusterConfig
from k8s_service_lab.netfilter import Chain, DeleteChain, Ruleset, Statement, Table
from k8s_service_lab.proxy import NodeProxyState, ServiceName, ServicePortName

__all__ = ["LARGE_CLUSTER_ENDPOINTS_THRESHOLD", "IptablesBackend", "SyncStats"]

#: More endpoints than this in all (``largeClusterEndpointsThreshold``): drop the comments.
LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000


@dataclass(frozen=True, slots=True)
class SyncStats:
    """What the last sync did, as kube-proxy's metrics would report it.

    ``nat_rules`` / ``filter_rules`` are ``sync_proxy_rules_iptables_total{table}`` (rules in
    the kernel afterwards); ``nat_rules_written`` is ``..._iptables_last{table="nat"}``.
    """

    full: bool
    large_cluster: bool
    filter_rules: int
    nat_rules: int
    nat_rules_written: int
    services_written: int
    deleted_chains: int
    no_local_internal: int
    no_local_external: int


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Pause the cycle collector while hundreds of thousands of rule objects are built.

    Every allocation counts towards a collection, and each full collection walks the whole
    (large, acyclic) ruleset again: measured, it tripled the time of a 10,000-Service render.
    Rule objects are frozen and hold no cycles, so nothing is lost by collecting afterwards;
    the caller's setting is restored even on error.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _age_survivors()
            gc.enable()


# Objects waiting in the youngest generation above which a sync counts as large.
_AGE_AFTER = 50_000


def _age_survivors() -> None:
    """Move what was just built to the oldest generation without scanning it.

    Everything allocated while collection was paused sits in the youngest generation, so
    the first collection afterwards would walk the whole ruleset (a third of a render's
    time, measured). ``freeze`` then ``unfreeze`` splices the generations into the oldest
    one in constant time; a payload dropped soon after is freed by reference counting and
    never scanned. Skipped after a small (partial) sync, where that collection is cheap, and
    when the program froze objects itself (unfreeze would thaw them).
    """
    if gc.get_count()[0] > _AGE_AFTER and gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


# Holds a new port's place in the sorted cache until its rules are built.
_PLACEHOLDER = ServicePortRules((), (), (), ())


class IptablesBackend:
    """kube-proxy's iptables proxier for one node and one IP family (4, or 6 for ip6tables)."""

    name = "iptables"

    def __init__(
        self,
        config: ClusterConfig,
        node_name: str,
        family: int = 4,
        *,
        masquerade_all: bool = False,
        local_detector: str | None = "ClusterCIDR",
        node_port_addresses: Sequence[str] | None = None,
        masquerade_mark: str | None = None,
        local_interface: str | None = None,
        localhost_nodeports: bool = True,
        nfacct: bool = True,
        random_fully: bool = True,
        conntrack_tcp_liberal: bool = False,
        sync_period: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if family not in (4, 6):
            raise ValueError(f"family must be 4 or 6, not {family!r}")
        self.config = config
        self.node_name = node_name
        self.family = family
        self.local_detector_mode = local_detector
        self.local_interface = local_interface
        self.opts = ProxierOptions(
            family=family,
            masquerade_mark=masquerade_mark or mark_text(14),
            masquerade_all=masquerade_all,
            node_port_addresses=None if node_port_addresses is None else tuple(node_port_addresses),
            localhost_nodeports=localhost_nodeports,
            nfacct=nfacct,
            random_fully=random_fully,
            conntrack_tcp_liberal=conntrack_tcp_liberal,
            sync_period=sync_period,
        )
        self._clock = clock
        self._ctx = RenderContext(self.opts, LocalDetector(), None)
        self._cache: dict[ServicePortName, ServicePortRules] = {}
        self._by_service: dict[ServiceName, list[ServicePortName]] = {}
        self._ep_counts: dict[ServicePortName, int] = {}
        self._ep_total = 0
        self._node_ips: tuple[IP, ...] = ()
        self._kernel_chains: set[str] = set()  # per-Service nat chains the kernel holds
        self._stale: set[str] = set()  # of those, the ones no Service uses any more
        self._needs_full_sync = True
        self._last_cleanup: float | None = None
        self.last_stats: SyncStats | None = None

    # --- the Backend protocol --------------------------------------------------------------

    def jump_rules(self) -> Ruleset:
        """The ``iptables -I`` jumps (and canary chains) a full sync ensures before restoring."""
        return jump_rules(self.opts)

    def sysctls(self) -> tuple[Sysctl, ...]:
        """The sysctls this proxier writes (and the ones it only reads)."""
        return proxier_sysctls(self.opts)

    def force_full_sync(self) -> None:
        """Make the next sync full, as after a failed ``iptables-restore``."""
        self._needs_full_sync = True

    def render(self, state: NodeProxyState) -> Ruleset:
        """The full payload for ``state``, without touching partial-sync bookkeeping."""
        self._check_family(state)
        with _without_cyclic_gc():
            ports = state.ports()
            total = sum(len(state.endpoints.get(p, ())) for p in ports)
            ctx = self._context(state, total)
            ctx.trim(len(ports), total)
            built = [self._build(p, state, ctx) for p in ports]
            return self._assemble(built, {id(o) for o in built}, [])[0]

    def sync(self, state: NodeProxyState) -> Ruleset:
        """This sync's payload: full at first or when asked, otherwise partial.

        The backend assumes the payload is applied; call :meth:`force_full_sync` if it was not.
        """
        self._check_family(state)
        with _without_cyclic_gc():
            return self._sync(state)

    def _sync(self, state: NodeProxyState) -> Ruleset:
        full = self._needs_full_sync or state.needs_full_sync
        services, endpoints = state.services, state.endpoints
        # Outputs replaced or dropped by this sync: their chains may have become stale.
        replaced: list[ServicePortRules] = []
        if full:
            replaced = list(self._cache.values())
            ports = state.ports()
            rebuild: Sequence[ServicePortName] = ports
            self._cache = dict.fromkeys(ports, _PLACEHOLDER)
            self._by_service = {}
            for p in ports:
                self._by_service.setdefault(p.service, []).append(p)
            self._ep_counts = {p: len(endpoints.get(p, ())) for p in ports}
        else:
            rebuild = self._partial_ports(state, replaced)
        self._ep_total = sum(self._ep_counts.values()) if full else self._ep_total
        ctx = self._context(state, self._ep_total)
        if full:
            ctx.trim(len(self._cache), self._ep_total)
        new_chains: set[str] = set()
        written: list[ServicePortRules] = []
        for p in rebuild:
            out = build_service_port(p, services[p], state.categorized[p], ctx)
            self._cache[p] = out
            new_chains.update(out.active)
            written.append(out)
        old_chains = {c for out in replaced for c in out.active}
        if full:
            active = {c for out in self._cache.values() for c in out.active}
            self._stale = (self._kernel_chains | old_chains) - active
        else:
            self._stale = (self._stale | old_chains) - new_chains
        self._kernel_chains |= new_chains
        now = self._clock()
        deleted: list[str] = []
        if (
            not ctx.large_cluster
            or self._last_cleanup is None
            or now - self._last_cleanup > self.opts.sync_period
        ):
            deleted = sorted(self._stale)
            self._kernel_chains -= self._stale
            self._stale = set()
            self._last_cleanup = now
        payload, counts = self._assemble(self._cache.values(), {id(o) for o in written}, deleted)
        self._needs_full_sync = False
        filt, nat = payload.tables
        nat_written = len(nat.statements) - len(deleted)
        self.last_stats = SyncStats(
            full=full,
            large_cluster=ctx.large_cluster,
            filter_rules=len(filt.statements),
            nat_rules=nat_written + counts[0],
            nat_rules_written=nat_written,
            services_written=len({p.service for p in rebuild}),
            deleted_chains=len(deleted),
            no_local_internal=counts[1],
            no_local_external=counts[2],
        )
        return payload

    def _partial_ports(
        self, state: NodeProxyState, replaced: list[ServicePortRules]
    ) -> list[ServicePortName]:
        """The ports to rebuild: those of updated Services (upstream's UpdatedServices).

        Keeps the per-Service index, endpoint counts and the sorted order of ``_cache`` up to
        date without touching the other ports: hashing all 10,000 keys costs more than the
        20 ms budget allows.
        """
        services, endpoints, updated = state.services, state.endpoints, state.updated_services
        if not updated:
            return []
        candidates = [p for p in state.changed if p in services]
        if not state.changed:
            candidates = [p for p in services if p.service in updated]
        rebuild: list[ServicePortName] = []
        reorder = False
        for svc in updated:
            old = self._by_service.pop(svc, [])
            new = [p for p in old if p in services]
            new += [p for p in candidates if p.service == svc and p not in new]
            for p in old:
                if p not in services:
                    replaced.append(self._cache.pop(p))
                    self._ep_total -= self._ep_counts.pop(p)
                    reorder = True
                else:
                    replaced.append(self._cache[p])
            for p in new:
                if p not in self._cache:
                    reorder = True
                self._ep_total += len(endpoints.get(p, ())) - self._ep_counts.get(p, 0)
                self._ep_counts[p] = len(endpoints.get(p, ()))
            if new:
                self._by_service[svc] = new
            rebuild += new
        if reorder:
            order = sorted({*self._cache, *rebuild}, key=ServicePortName.sort_key)
            self._cache = {p: self._cache.get(p, _PLACEHOLDER) for p in order}
        return rebuild

    # --- internals ---------------------------------------------------------------------------

    def _check_family(self, state: NodeProxyState) -> None:
        if state.family != ("IPv4" if self.family == 4 else "IPv6"):
            raise ValueError(f"an IPv{self.family} backend cannot sync {state.family} state")

    def _context(self, state: NodeProxyState, total_endpoints: int) -> RenderContext:
        ctx = self._ctx
        ctx.detector = local_detector(
            self.local_detector_mode,
            state.cluster_cidr,
            state.node_pod_cidrs,
            self.local_interface,
        )
        ctx.node_ip = state.node_ips[0] if state.node_ips else None
        # Upstream sums len(endpointsMap[svc]) over the Service ports (endpoints of unknown
        # Services do not count).
        ctx.large_cluster = total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD
        self._node_ips = state.node_ips
        return ctx

    def _build(
        self, p: ServicePortName, state: NodeProxyState, ctx: RenderContext
    ) -> ServicePortRules:
        return build_service_port(p, state.services[p], state.categorized[p], ctx)

    def _assemble(
        self,
        built: Iterable[ServicePortRules],
        written: set[int],
        deleted: list[str],
    ) -> tuple[Ruleset, tuple[int, int, int]]:
        """Lay the pieces out as ``syncProxyRules`` writes its four buffers.

        ``written`` holds the ``id`` of each output whose own chains go in this payload.
        Also returns (rules kept from skipped Services, no-local-endpoint counts).
        """
        opts = self.opts
        filter_rules: list[Statement] = list(filter_head_rules(opts))
        nat_chains: list[Chain] = list(nat_top_chains())
        nat_rules: list[Statement] = list(nat_static_rules(opts))
        skipped = no_local_internal = no_local_external = 0
        for out in built:
            filter_rules += out.filter
            nat_rules += out.nat_top
            if id(out) in written:
                nat_chains += out.chains
                nat_rules += out.rules
            else:
                skipped += len(out.rules)
            no_local_internal += out.no_local_internal
            no_local_external += out.no_local_external
        nat_chains += [Chain(c) for c in deleted]
        nat_rules += [DeleteChain(c) for c in deleted]
        nat_rules += nodeport_tail_rules(opts, self._node_ips)
        filter_rules += filter_tail_rules(opts)
        ruleset = Ruleset(
            self.family,
            (
                Table("filter", filter_top_chains(opts), tuple(filter_rules)),
                Table("nat", tuple(nat_chains), tuple(nat_rules)),
            ),
        )
        return ruleset, (skipped, no_local_internal, no_local_external)
