"""CategorizeEndpoints: which endpoints this node sends a Service port's traffic to.

Upstream ``pkg/proxy/topology.go``. The result has four parts: the endpoints for
Cluster-policy traffic (topology hints applied), those for Local-policy traffic, every
endpoint reachable from this node (the union, for creating per-endpoint chains), and whether
the Service has usable endpoints *anywhere* (which decides REJECT versus DROP)::

    >>> import ipaddress
    >>> from k8s_service_lab.proxy.model import EndpointInfo, ServicePortInfo, ServicePortName
    >>> svc = ServicePortInfo(ServicePortName("default", "web", None, "TCP"),
    ...                       ipaddress.ip_address("10.96.0.20"), 80, "TCP",
    ...                       internal_policy_local=True)
    >>> eps = (EndpointInfo("10.244.1.3", 80, is_local=False),
    ...        EndpointInfo("10.244.2.3", 80, is_local=True, ready=False, terminating=True))
    >>> cluster, local, reachable, has_any = categorize_endpoints(eps, svc, "kind-worker2", {})
    >>> cluster, [str(e) for e in local], has_any
    ((), ['10.244.2.3:80'], True)

"Usable" means ready; if there are none, serving-and-terminating endpoints stand in,
decided separately for the Cluster and the Local lists. Topology never filters the Local
list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from k8s_service_lab.proxy.model import EndpointInfo, ServicePortInfo

__all__ = [
    "ZONE_LABEL",
    "CategorizedEndpoints",
    "available_for_topology",
    "categorize_endpoints",
    "topology_mode_from_hints",
]

#: ``v1.LabelTopologyZone``: the node label zone hints are matched against.
ZONE_LABEL = "topology.kubernetes.io/zone"
PREFER_SAME_NODE = "PreferSameNode"
PREFER_SAME_ZONE = "PreferSameZone"


class CategorizedEndpoints(NamedTuple):
    """``(cluster, local, all_reachable, has_any)``, as ``CategorizeEndpoints`` returns them.

    ``cluster`` is empty when the port never uses Cluster policy, ``local`` when it never
    uses Local policy. All three lists keep the endpoint-string order of their input.
    """

    cluster: tuple[EndpointInfo, ...]
    local: tuple[EndpointInfo, ...]
    all_reachable: tuple[EndpointInfo, ...]
    has_any: bool


def topology_mode_from_hints(
    endpoints: Sequence[EndpointInfo],
    node_name: str,
    zone: str | None,
    *,
    prefer_same_node: bool = True,
) -> str | None:
    """``PreferSameNode``, ``PreferSameZone`` or ``None``, judged over READY endpoints only.

    Same-node (only with the PreferSameTrafficDistribution gate) needs every ready endpoint
    to carry node hints and one of them to name this node; same-zone needs every ready
    endpoint to carry zone hints and one to name this node's zone. Otherwise hints are
    ignored. kube-proxy does not re-check the Service's trafficDistribution or annotation:
    the EndpointSlice controller writes hints only when they apply.
    """
    ready = [ep for ep in endpoints if ep.ready]
    if not ready:
        return None
    every_node_hinted = all(ep.node_hints for ep in ready)
    if prefer_same_node and every_node_hinted and any(node_name in ep.node_hints for ep in ready):
        return PREFER_SAME_NODE
    every_zone_hinted = all(ep.zone_hints for ep in ready)
    if every_zone_hinted and zone and any(zone in ep.zone_hints for ep in ready):
        return PREFER_SAME_ZONE
    return None


def available_for_topology(
    endpoint: EndpointInfo, mode: str | None, node_name: str, zone: str | None
) -> bool:
    """``availableForTopology``: no fallback here; the fallback is in choosing the mode."""
    if mode is None:
        return True
    if mode == PREFER_SAME_NODE:
        return node_name in endpoint.node_hints
    if mode == PREFER_SAME_ZONE:
        return zone is not None and zone in endpoint.zone_hints
    return False


def categorize_endpoints(
    endpoints: Sequence[EndpointInfo],
    svc_info: ServicePortInfo,
    node_name: str,
    node_labels: Mapping[str, str],
    *,
    prefer_same_node: bool = True,
) -> CategorizedEndpoints:
    """Upstream ``CategorizeEndpoints(endpoints, svcInfo, nodeName, topologyLabels)``."""
    if not endpoints:
        return CategorizedEndpoints((), (), (), False)
    zone = node_labels.get(ZONE_LABEL)
    mode: str | None = None
    cluster: tuple[EndpointInfo, ...] = ()
    has_any = False
    if svc_info.uses_cluster_endpoints:
        mode = topology_mode_from_hints(
            endpoints, node_name, zone, prefer_same_node=prefer_same_node
        )
        cluster = _keep(
            endpoints, lambda ep: ep.ready and available_for_topology(ep, mode, node_name, zone)
        )
        if not cluster:
            # No ready endpoint anywhere (a topology miss already fell back to no topology).
            cluster = _keep(endpoints, lambda ep: ep.serving and ep.terminating)
        has_any = bool(cluster)
    if not svc_info.uses_local_endpoints:
        return CategorizedEndpoints(cluster, (), cluster, has_any)

    usable = [ep for ep in endpoints if ep.ready or (ep.serving and ep.terminating)]
    has_any = has_any or bool(usable)
    local = _keep(endpoints, lambda ep: ep.is_local and ep.ready)
    terminating_fallback = False
    if not local:
        local = _keep(endpoints, lambda ep: ep.is_local and ep.serving and ep.terminating)
        terminating_fallback = bool(local)
    if not svc_info.uses_cluster_endpoints:
        return CategorizedEndpoints((), local, local, has_any)
    if mode is None and not terminating_fallback:
        # Every ready endpoint is in cluster, and local holds only ready ones: a subset.
        return CategorizedEndpoints(cluster, local, cluster, has_any)
    union = {ep.endpoint: ep for ep in (*cluster, *local)}
    # Upstream builds this from a Go map (random order); sorted, it diffs cleanly.
    reachable = tuple(sorted(union.values(), key=lambda ep: ep.endpoint))
    return CategorizedEndpoints(cluster, local, reachable, has_any)


def _keep(
    endpoints: Sequence[EndpointInfo], predicate: Callable[[EndpointInfo], bool]
) -> tuple[EndpointInfo, ...]:
    return tuple(ep for ep in endpoints if predicate(ep))
