"""``ProxyWatcher``: one node's kube-proxy front end, fed by a Store's watch like informers.

It lists the existing Services and EndpointSlices (an informer's initial list), then
follows watch events into the change trackers; :meth:`ProxyWatcher.state` applies what is
pending and returns the :class:`~k8s_service_lab.proxy.state.NodeProxyState` a backend
syncs from, and :meth:`ProxyWatcher.mark_synced` says that sync succeeded::

    >>> from k8s_service_lab import Cluster
    >>> cluster = Cluster()
    >>> watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    >>> state = watcher.state()
    >>> [str(p) for p in state.ports()]  # doctest: +NORMALIZE_WHITESPACE
    ['default/kubernetes:https', 'kube-system/kube-dns:dns', 'kube-system/kube-dns:dns-tcp',
     'kube-system/kube-dns:metrics']
    >>> state.needs_full_sync
    True
    >>> watcher.mark_synced()
    >>> watcher.state().changed
    ()

Changes accumulate until :meth:`mark_synced`; a failed sync simply does not call it (or
calls :meth:`force_full_sync`), so the next state still names everything to rewrite.
"""

from __future__ import annotations

from k8s_service_lab.api.discovery import EndpointSlice
from k8s_service_lab.api.node import Node
from k8s_service_lab.api.service import Service
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.controlplane.store import EventType, Store, WatchEvent
from k8s_service_lab.proxy.endpointchanges import EndpointsChangeTracker
from k8s_service_lab.proxy.model import (
    EndpointInfo,
    ServiceName,
    ServicePortInfo,
    ServicePortName,
)
from k8s_service_lab.proxy.servicechanges import ServiceChangeTracker
from k8s_service_lab.proxy.state import NodeProxyState, build_node_state, prefer_same_node

__all__ = ["TOPOLOGY_LABEL_PREFIX", "ProxyWatcher"]

#: Node labels whose change forces a full sync (NodeTopologyConfig passes only these on).
TOPOLOGY_LABEL_PREFIX = "topology.kubernetes.io/"


class ProxyWatcher:
    """Services + EndpointSlices (+ this Node's labels) → trackers → NodeProxyState."""

    def __init__(self, store: Store, node_name: str, family: str, config: ClusterConfig) -> None:
        config.node(node_name)  # a KeyError now beats a confusing one at the first sync
        if family not in ("IPv4", "IPv6"):
            raise ValueError(f"unknown IP family {family!r}")
        self.store = store
        self.node_name = node_name
        self.family = family
        self.config = config
        self._services = ServiceChangeTracker(family)
        self._endpoints = EndpointsChangeTracker(
            node_name, family, node_hints=prefer_same_node(config)
        )
        self._service_map: dict[ServicePortName, ServicePortInfo] = {}
        self._endpoints_map: dict[ServicePortName, tuple[EndpointInfo, ...]] = {}
        self._updated: set[ServiceName] = set()
        self._changed: set[ServicePortName] = set()
        self._needs_full_sync = True
        node = store.find(Node, None, node_name)
        self._labels = dict(node.metadata.labels if node else config.node(node_name).labels)
        # The informers' initial list, then the watch (the store is synchronous, so nothing
        # can slip in between).
        for svc in store.list(Service, None):
            self._services.update(None, svc)
        for endpoint_slice in store.list(EndpointSlice, None):
            self._endpoints.update(endpoint_slice)
        self._subscription = store.subscribe(self._on_event)

    def close(self) -> None:
        """Stop watching."""
        self.store.unsubscribe(self._subscription)

    def _on_event(self, event: WatchEvent) -> None:
        obj, deleted = event.object, event.type is EventType.DELETED
        if isinstance(obj, Service):
            old = event.old if isinstance(event.old, Service) else None
            if event.type is EventType.ADDED:
                self._services.update(None, obj)
            else:
                self._services.update(old, None if deleted else obj)
        elif isinstance(obj, EndpointSlice):
            self._endpoints.update(obj, remove=deleted)
        elif isinstance(obj, Node) and obj.metadata.name == self.node_name and not deleted:
            labels = dict(obj.metadata.labels)
            if _topology(labels) != _topology(self._labels):
                self._needs_full_sync = True  # every port's topology choice may change
            self._labels = labels

    def pending(self) -> bool:
        """Whether a sync is due: changes are pending, unapplied or unsynced."""
        return bool(
            self._needs_full_sync
            or self._updated
            or self._services.pending()
            or self._endpoints.pending()
        )

    def state(self) -> NodeProxyState:
        """Apply pending changes and return what the next sync should program."""
        services = self._services.apply(self._service_map)
        endpoints = self._endpoints.apply(self._endpoints_map)
        self._service_map = dict(services.service_map)
        self._endpoints_map = dict(endpoints.endpoints_map)
        self._updated |= services.updated_services | endpoints.updated_services
        self._changed |= {*services.changed_ports, *endpoints.changed_ports}
        return build_node_state(
            self.config,
            self.node_name,
            self.family,
            self._service_map,
            self._endpoints_map,
            node_labels=self._labels,
            updated_services=self._updated,
            changed=self._changed,
            needs_full_sync=self._needs_full_sync,
        )

    def mark_synced(self) -> None:
        """The last state was programmed: forget what changed before it."""
        self._updated.clear()
        self._changed.clear()
        self._needs_full_sync = False

    def force_full_sync(self) -> None:
        """Make the next sync rewrite everything (as after a failed iptables-restore)."""
        self._needs_full_sync = True


def _topology(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k.startswith(TOPOLOGY_LABEL_PREFIX)}
