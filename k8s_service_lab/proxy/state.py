"""``NodeProxyState``: everything one node's proxier of one IP family needs for a sync.

A backend (iptables, nftables, IPVS) receives this and nothing else: the node's identity
and addresses of the family, the cluster CIDR its local-traffic detector matches, the
digested Services and endpoints, each port's categorised endpoints, and what changed since
the last successful sync (for partial syncs)::

    >>> from k8s_service_lab.config import ClusterConfig
    >>> config = ClusterConfig.default()
    >>> state = build_node_state(config, "kind-worker", "IPv4", {}, {})
    >>> str(state.cluster_cidr), [str(ip) for ip in state.node_ips], state.needs_full_sync
    ('10.244.0.0/16', ['172.18.0.3'], True)

Nothing here is backend-specific: chain names and set names belong to the backends' own
wrappers (STYLE rule 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from k8s_service_lab.config import IP, ClusterConfig, Network
from k8s_service_lab.proxy.model import (
    EndpointsMap,
    ServiceName,
    ServicePortMap,
    ServicePortName,
)
from k8s_service_lab.proxy.topology import ZONE_LABEL, CategorizedEndpoints, categorize_endpoints

__all__ = ["PREFER_SAME_NODE_GATE", "NodeProxyState", "build_node_state", "prefer_same_node"]

#: The feature gate that lets kube-proxy honour node hints (beta, default on, in v1.34).
PREFER_SAME_NODE_GATE = "PreferSameTrafficDistribution"


def prefer_same_node(config: ClusterConfig) -> bool:
    """Whether node hints count: the PreferSameTrafficDistribution gate, on unless disabled."""
    return config.feature_gates.get(PREFER_SAME_NODE_GATE, True)


@dataclass(frozen=True, slots=True, eq=False)
class NodeProxyState:
    """One node, one family: the digest a backend renders rules from.

    ``updated_services`` is what upstream's partial sync keys on (a Service with any Service
    or EndpointSlice change); ``changed`` lists those Services' port names before and after
    the change. With ``needs_full_sync`` (the first sync, or forced) every port is rewritten.
    """

    node_name: str
    family: str
    node_ips: tuple[IP, ...]
    node_pod_cidrs: tuple[Network, ...]
    node_labels: Mapping[str, str]
    #: The cluster's pod subnet of this family: the local-traffic detector's input.
    cluster_cidr: Network | None
    service_cidr: Network | None
    services: ServicePortMap
    endpoints: EndpointsMap
    categorized: Mapping[ServicePortName, CategorizedEndpoints]
    updated_services: frozenset[ServiceName] = frozenset()
    changed: tuple[ServicePortName, ...] = ()
    needs_full_sync: bool = True

    @property
    def zone(self) -> str | None:
        return self.node_labels.get(ZONE_LABEL)

    def ports(self) -> tuple[ServicePortName, ...]:
        """Every Service port of the map, sorted (the order reports list them in)."""
        return tuple(sorted(self.services, key=ServicePortName.sort_key))

    def ports_to_sync(self) -> tuple[ServicePortName, ...]:
        """All ports on a full sync; otherwise the ports of ``updated_services`` still present."""
        if self.needs_full_sync:
            return self.ports()
        return tuple(p for p in self.ports() if p.service in self.updated_services)

    def health_check_node_ports(self) -> dict[ServiceName, int]:
        """``ServicePortMap.HealthCheckNodePorts``: Services that need a health-check server."""
        return {
            name.service: info.health_check_node_port
            for name, info in self.services.items()
            if info.health_check_node_port is not None
        }

    def local_ready_endpoints(self) -> dict[ServiceName, int]:
        """``EndpointsMap.LocalReadyEndpoints``: distinct local READY IPs per Service.

        Terminating endpoints do not count: a node with only those fails its health check
        even though it still forwards to them.
        """
        ips: dict[ServiceName, set[str]] = {}
        for name, endpoints in self.endpoints.items():
            for ep in endpoints:
                if ep.ready and ep.is_local:
                    ips.setdefault(name.service, set()).add(ep.ip)
        return {service: len(found) for service, found in ips.items()}


def build_node_state(
    config: ClusterConfig,
    node_name: str,
    family: str,
    services: ServicePortMap,
    endpoints: EndpointsMap,
    *,
    node_labels: Mapping[str, str] | None = None,
    updated_services: Iterable[ServiceName] = (),
    changed: Iterable[ServicePortName] = (),
    needs_full_sync: bool = True,
) -> NodeProxyState:
    """Assemble a node's state from the maps, categorising every Service port's endpoints.

    ``node_labels`` default to the config's node labels (a Node object's labels, when the
    caller has one, are what kube-proxy reads for its zone).
    """
    node = config.node(node_name)
    version = 4 if family == "IPv4" else 6
    labels = dict(node.labels if node_labels is None else node_labels)
    same_node = prefer_same_node(config)
    categorized = {
        name: categorize_endpoints(
            endpoints.get(name, ()), info, node_name, labels, prefer_same_node=same_node
        )
        for name, info in services.items()
    }
    return NodeProxyState(
        node_name=node_name,
        family=family,
        node_ips=tuple(ip for ip in node.addresses if ip.version == version),
        node_pod_cidrs=tuple(c for c in node.pod_cidrs if c.version == version),
        node_labels=MappingProxyType(labels),
        cluster_cidr=next((c for c in config.pod_cidrs if c.version == version), None),
        service_cidr=next((c for c in config.service_cidrs if c.version == version), None),
        services=MappingProxyType(dict(services)),
        endpoints=MappingProxyType(dict(endpoints)),
        categorized=MappingProxyType(categorized),
        updated_services=frozenset(updated_services),
        changed=tuple(sorted(set(changed), key=ServicePortName.sort_key)),
        needs_full_sync=needs_full_sync,
    )
