"""``NftablesBackend``: one node's kube-proxy in nftables mode, as ``nft -f`` transactions.

A sync turns a :class:`~k8s_service_lab.proxy.NodeProxyState` into the transaction
``syncProxyRules`` (``pkg/proxy/nftables/proxier.go``) hands to knftables. The first sync,
and any the state or :meth:`~NftablesBackend.force_full_sync` marks as full, rebuilds the
fixed part of the table, flushes every set and map and rewrites every Service; later syncs
rewrite only the changed Services' chains, and touch only the set and map elements that
changed. Chains nothing uses any more are flushed at once but deleted at least a second
later, in a separate transaction (kernels before 6.2 notice late that a map element no longer
points at a chain)::

    >>> from k8s_service_lab import Cluster
    >>> from k8s_service_lab.proxy import ProxyWatcher
    >>> from k8s_service_lab.netfilter.nftables_text import to_nft
    >>> cluster = Cluster()
    >>> watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    >>> backend = NftablesBackend(cluster.config, "kind-worker")
    >>> text = to_nft(backend.sync(watcher.state()))
    >>> print([x for x in text.splitlines() if "kubernetes" in x and "service-ips" in x][0])
    ... # doctest: +NORMALIZE_WHITESPACE
    add element ip kube-proxy service-ips { 10.96.0.1 . tcp . 443 :
        goto service-2QRHZV4L-default/kubernetes/tcp/https }
    >>> watcher.mark_synced()
    >>> len(backend.sync(watcher.state())), backend.last_stats.full
    (0, False)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from k8s_service_lab.backends.iptables.options import mark_text
from k8s_service_lab.backends.iptables.proxier import _without_cyclic_gc
from k8s_service_lab.backends.iptables.sysctls import Sysctl
from k8s_service_lab.backends.nftables.names import is_service_chain_name
from k8s_service_lab.backends.nftables.options import (
    NftLocalDetector,
    NftOptions,
    local_detector_nft,
    node_port_ips,
)
from k8s_service_lab.backends.nftables.service import (
    NftRenderContext,
    ServicePortOutput,
    build_service_port,
)
from k8s_service_lab.backends.nftables.static import CONTAINERS, TABLE, setup_commands
from k8s_service_lab.backends.nftables.store import ElementStore
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.netfilter.nftables import (
    Command,
    NftChain,
    NftMap,
    NftSet,
    NftTransaction,
    delete,
    flush,
)
from k8s_service_lab.proxy import NodeProxyState, ServiceName, ServicePortName

__all__ = ["STALE_CHAIN_DELAY", "NftSyncStats", "NftablesBackend"]

#: Seconds a flushed stale chain waits before it is deleted (``oneSecondAgo``).
STALE_CHAIN_DELAY = 1.0


@dataclass(frozen=True, slots=True)
class NftSyncStats:
    """What the last sync did (kube-proxy logs and metrics report much the same)."""

    full: bool
    commands: int
    services_written: int
    #: commands written for the rebuilt Service ports (chains, rules, changed elements).
    port_commands: int
    elements_deleted: int
    stale_chains_flushed: int
    chains_deleted: int
    affinity_sets_deleted: int
    no_local_internal: int
    no_local_external: int


class NftablesBackend:
    """kube-proxy's nftables proxier for one node and one IP family (table ``ip``/``ip6``)."""

    name = "nftables"

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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if family not in (4, 6):
            raise ValueError(f"family must be 4 or 6, not {family!r}")
        self.config = config
        self.node_name = node_name
        self.family = family
        self.local_detector_mode = local_detector
        self.local_interface = local_interface
        self.node_port_addresses = (
            None if node_port_addresses is None else tuple(node_port_addresses)
        )
        self.opts = NftOptions(family, masquerade_mark or mark_text(14), masquerade_all)
        self._clock = clock
        self._ctx = NftRenderContext(self.opts, NftLocalDetector(), None)
        fam_addr = self.opts.addr_type
        self._stores = tuple(
            ElementStore(
                NftSet(name, fam_addr)
                if name == "cluster-ips"
                else NftMap(name, _MAP_TYPES[name].format(addr=fam_addr))
            )
            for name in CONTAINERS
        )
        self._cache: dict[ServicePortName, ServicePortOutput] = {}
        self._by_service: dict[ServiceName, list[ServicePortName]] = {}
        self._kernel_chains: set[str] = set()  # per-Service chains the kernel holds
        self._kernel_sets: set[str] = set()  # affinity sets the kernel holds
        self._stale: dict[str, float] = {}  # flushed chains, and when they went stale
        self._needs_full_sync = True
        self._base_chains_recreated = False
        #: The transaction deleting long-stale chains, run just before the last sync's payload.
        self.last_cleanup: NftTransaction | None = None
        self.last_stats: NftSyncStats | None = None

    # --- the Backend protocol --------------------------------------------------------------

    def jump_rules(self) -> NftTransaction:
        """Nothing: nftables mode hooks its own base chains and touches no other table."""
        return NftTransaction(self.opts.nft_family, TABLE)

    def sysctls(self) -> tuple[Sysctl, ...]:
        """None: no ``route_localnet`` (no localhost NodePorts), no conntrack-liberal probe."""
        return ()

    def force_full_sync(self) -> None:
        """Make the next sync full, as after a failed ``nft -f``.

        Like upstream after a failed transaction, forget which chains were waiting for
        deletion: they are found again (and re-flushed) by the next sync.
        """
        self._needs_full_sync = True
        self._stale.clear()

    def render(self, state: NodeProxyState) -> NftTransaction:
        """The full transaction a fresh proxier would send for ``state`` (loads into an empty
        namespace); this backend's own partial-sync bookkeeping is left untouched."""
        fresh = NftablesBackend(
            self.config,
            self.node_name,
            self.family,
            masquerade_all=self.opts.masquerade_all,
            local_detector=self.local_detector_mode,
            node_port_addresses=self.node_port_addresses,
            masquerade_mark=self.opts.masquerade_mark,
            local_interface=self.local_interface,
            clock=self._clock,
        )
        fresh._ctx = self._ctx  # share the name caches
        return fresh.sync(state)

    def sync(self, state: NodeProxyState) -> NftTransaction:
        """This sync's transaction: full at first or when asked, otherwise partial.

        The backend assumes the transaction (and :attr:`last_cleanup` before it) is applied;
        call :meth:`force_full_sync` if it was not.
        """
        if state.family != ("IPv4" if self.family == 4 else "IPv6"):
            raise ValueError(f"an IPv{self.family} backend cannot sync {state.family} state")
        with _without_cyclic_gc():
            return self._sync(state)

    # --- internals ---------------------------------------------------------------------------

    def _sync(self, state: NodeProxyState) -> NftTransaction:
        full = self._needs_full_sync or state.needs_full_sync
        now = self._clock()
        self.last_cleanup, deleted = self._delete_stale(now)

        ctx = self._ctx
        ctx.detector = local_detector_nft(
            self.local_detector_mode, state.cluster_cidr, state.node_pod_cidrs, self.local_interface
        )
        ctx.node_ip = state.node_ips[0] if state.node_ips else None
        out: list[Command] = []
        stores = self._stores
        if full:
            nodeports = node_port_ips(self.node_port_addresses, self.family, state.node_ips)
            cidrs = str(state.service_cidr) if state.service_cidr is not None else None
            first = not self._base_chains_recreated
            out += setup_commands(self.opts, nodeports, cidrs, first=first)
            self._base_chains_recreated = True
            for store in stores:
                store.reset(out)
            rebuild = list(state.ports())
            ctx.trim(len(rebuild), sum(len(state.endpoints.get(p, ())) for p in rebuild))
            old = list(self._cache.values())
            self._cache, self._by_service = {}, {}
        else:
            rebuild, old = self._partial_ports(state)
            for output in old:
                for index, element in (*output.elements_a, *output.elements_b):
                    stores[index].release(element)

        # Upstream walks every Service and lets the element store skip what is unchanged;
        # only the rebuilt ports can change anything, so only they are walked here.
        before = len(out)
        new_chains: set[str] = set()
        new_sets: set[str] = set()
        cache, by_service = self._cache, self._by_service
        services, categorized = state.services, state.categorized
        services_written = 0
        for p in rebuild:
            output = build_service_port(p, services[p], categorized[p], ctx)
            cache[p] = output
            service = p.service
            ports = by_service.get(service)
            if ports is None:
                # The Service's first port this sync (its old list went before the rebuild).
                ports = by_service[service] = []
                services_written += 1
            ports.append(p)
            out += output.head
            for index, element in output.elements_a:
                stores[index].claim(out, element)
            out += output.fw_head
            for index, element in output.elements_b:
                stores[index].claim(out, element)
            out += output.body
            new_chains.update(output.chains)
            if output.affinity_sets:
                new_sets.update(output.affinity_sets)
        written_commands = len(out) - before

        # Chains left from Services or endpoints that are gone: flush now, delete later
        # (and flush again on every sync until then, as upstream re-lists them).
        if full:
            # Every port was rebuilt: what they use is all that is alive.
            candidates = self._kernel_chains - new_chains
            gone_sets = sorted(self._kernel_sets - new_sets)
        else:
            old_chains = {c for o in old for c in o.chains}
            candidates = (old_chains | self._stale.keys()) - new_chains
            gone_sets = sorted({a for o in old for a in o.affinity_sets} - new_sets)
        for chain in new_chains:
            self._stale.pop(chain, None)
        flushed = sorted(c for c in candidates if is_service_chain_name(c))
        for chain in flushed:
            out.append(flush(NftChain(chain)))
            self._stale[chain] = now
        # Stale affinity sets can go at once: no verdict points at a set.
        out += [delete(NftSet(s, self.opts.addr_type)) for s in gone_sets]
        removed = sum(store.cleanup(out) for store in stores)

        self._kernel_chains |= new_chains
        self._kernel_sets = (self._kernel_sets - set(gone_sets)) | new_sets
        self._needs_full_sync = False
        self.last_stats = NftSyncStats(
            full=full,
            commands=len(out),
            services_written=services_written,
            port_commands=written_commands,
            elements_deleted=removed,
            stale_chains_flushed=len(flushed),
            chains_deleted=deleted,
            affinity_sets_deleted=len(gone_sets),
            no_local_internal=sum(o.no_local_internal for o in self._cache.values()),
            no_local_external=sum(o.no_local_external for o in self._cache.values()),
        )
        return NftTransaction(self.opts.nft_family, TABLE, tuple(out))

    def _partial_ports(
        self, state: NodeProxyState
    ) -> tuple[list[ServicePortName], list[ServicePortOutput]]:
        """Ports of updated Services to rebuild (sorted), and the outputs they replace."""
        updated = state.updated_services
        if not updated:
            return [], []
        old = [self._cache.pop(p) for svc in updated for p in self._by_service.pop(svc, [])]
        services = state.services
        if state.changed:
            candidates = [p for p in state.changed if p in services]
        else:
            candidates = [p for p in services if p.service in updated]
        rebuild = sorted(
            (p for p in dict.fromkeys(candidates) if p.service in updated),
            key=ServicePortName.sort_key,
        )
        return rebuild, old

    def _delete_stale(self, now: float) -> tuple[NftTransaction | None, int]:
        """The separate transaction deleting chains stale for over a second, if any."""
        old = sorted(c for c, since in self._stale.items() if since < now - STALE_CHAIN_DELAY)
        if not old:
            return None, 0
        for chain in old:
            del self._stale[chain]
            self._kernel_chains.discard(chain)
        cmds = tuple(delete(NftChain(c)) for c in old)
        return NftTransaction(self.opts.nft_family, TABLE, cmds), len(old)


_MAP_TYPES = {
    "service-ips": "{addr} . inet_proto . inet_service : verdict",
    "firewall-ips": "{addr} . inet_proto . inet_service : verdict",
    "no-endpoint-services": "{addr} . inet_proto . inet_service : verdict",
    "no-endpoint-nodeports": "inet_proto . inet_service : verdict",
    "service-nodeports": "inet_proto . inet_service : verdict",
}
