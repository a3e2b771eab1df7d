"""kube-proxy's front end: the per-node, per-family model every proxy backend reads.

Upstream ``pkg/proxy`` splits a proxier into a shared front end (digest Services and
EndpointSlices, track changes, categorise endpoints) and a mode-specific back end that
writes rules. This package is the front end, pure and frozen; backends wrap it::

    >>> from k8s_service_lab import Cluster
    >>> from k8s_service_lab.proxy import ProxyWatcher
    >>> cluster = Cluster()
    >>> state = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config).state()
    >>> str(state.services[state.ports()[0]])
    '10.96.0.1:443/TCP'

Modules: :mod:`.model` (ServicePortName, ServicePortInfo, EndpointInfo),
:mod:`.servicechanges` and :mod:`.endpointchanges` (digest + change tracking),
:mod:`.topology` (CategorizeEndpoints), :mod:`.state` (NodeProxyState) and
:mod:`.watcher` (ProxyWatcher, fed by a Store's watch).
"""

from __future__ import annotations

from k8s_service_lab.proxy.endpointchanges import (
    EndpointsChangeTracker,
    EndpointsMapUpdate,
    endpoints_from_slices,
)
from k8s_service_lab.proxy.model import (
    DroppedValue,
    EndpointInfo,
    EndpointsMap,
    ServiceName,
    ServicePortInfo,
    ServicePortMap,
    ServicePortName,
)
from k8s_service_lab.proxy.servicechanges import (
    ServiceChangeTracker,
    ServiceMapUpdate,
    service_ports,
    service_skip_reason,
)
from k8s_service_lab.proxy.state import NodeProxyState, build_node_state
from k8s_service_lab.proxy.topology import CategorizedEndpoints, categorize_endpoints
from k8s_service_lab.proxy.watcher import ProxyWatcher

__all__ = [
    "CategorizedEndpoints",
    "DroppedValue",
    "EndpointInfo",
    "EndpointsChangeTracker",
    "EndpointsMap",
    "EndpointsMapUpdate",
    "NodeProxyState",
    "ProxyWatcher",
    "ServiceChangeTracker",
    "ServiceMapUpdate",
    "ServiceName",
    "ServicePortInfo",
    "ServicePortMap",
    "ServicePortName",
    "build_node_state",
    "categorize_endpoints",
    "endpoints_from_slices",
    "service_ports",
    "service_skip_reason",
]
