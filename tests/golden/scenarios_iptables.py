"""Upstream ``proxier_test.go`` scenarios as NodeProxyStates (reference §2.1, §2.4, §2.6, §2.7).

The harness: node ``test-node`` with IP 192.168.0.2, pods (and the local-traffic detector) in
10.0.0.0/8, ClusterIPs in 172.30.0.0/16, masquerade mark ``0x4000``, no ``--random-fully``,
localhost NodePorts and nfacct counters on. Shared by the unit tests and
``tests/golden/generate.py``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from k8s_service_lab.backends.iptables import IptablesBackend
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.netfilter import Chain, DeleteChain, Rule, Ruleset, Table
from k8s_service_lab.proxy import (
    EndpointInfo,
    NodeProxyState,
    ServiceName,
    ServicePortInfo,
    ServicePortName,
    categorize_endpoints,
)

NODE = "test-node"
NODE_IP = ipaddress.ip_address("192.168.0.2")
POD_CIDR = ipaddress.ip_network("10.0.0.0/8")
ip = ipaddress.ip_address
net = ipaddress.ip_network


def port_name(
    ns: str, name: str, port: str | None = "p80", protocol: str = "TCP"
) -> ServicePortName:
    return ServicePortName(ns, name, port, protocol)


def svc(
    ns: str, name: str, cluster_ip: str, port: int = 80, *, port_name_: str = "p80", **kw: object
) -> ServicePortInfo:
    return ServicePortInfo(
        port_name(ns, name, port_name_),
        ip(cluster_ip),
        port,
        "TCP",
        **kw,  # type: ignore[arg-type]
    )


def ep(address: str, port: int = 80, *, local: bool = False, **kw: object) -> EndpointInfo:
    return EndpointInfo(address, port, is_local=local, **kw)  # type: ignore[arg-type]


def make_state(
    services: Iterable[ServicePortInfo],
    endpoints: Mapping[ServicePortName, Iterable[EndpointInfo]],
    *,
    updated: Iterable[ServiceName] = (),
    full: bool = True,
) -> NodeProxyState:
    """A test-node state; endpoint lists are sorted by endpoint string as upstream's are."""
    service_map = {s.name: s for s in services}
    endpoint_map = {
        name: tuple(sorted(eps, key=lambda e: e.endpoint)) for name, eps in endpoints.items()
    }
    categorized = {
        name: categorize_endpoints(endpoint_map.get(name, ()), info, NODE, {})
        for name, info in service_map.items()
    }
    return NodeProxyState(
        node_name=NODE,
        family="IPv4",
        # upstream's fake interfaces: the node IP first, then its other local addresses.
        node_ips=(NODE_IP, ip("192.168.1.2"), ip("192.168.99.11")),
        node_pod_cidrs=(),
        node_labels=MappingProxyType({}),
        cluster_cidr=POD_CIDR,
        service_cidr=net("172.30.0.0/16"),
        services=MappingProxyType(service_map),
        endpoints=MappingProxyType(endpoint_map),
        categorized=MappingProxyType(categorized),
        updated_services=frozenset(updated),
        needs_full_sync=full,
    )


def fake_backend(**kw: object) -> IptablesBackend:
    """``NewFakeProxier``: mark 0x4000, no --random-fully, localhost NodePorts, nfacct."""
    return IptablesBackend(
        ClusterConfig.default(),
        NODE,
        masquerade_mark="0x4000",
        random_fully=False,
        **kw,  # type: ignore[arg-type]
    )


def overall_state() -> NodeProxyState:
    """``TestOverallIPTablesRules`` (reference §2.4)."""
    services = [
        svc("ns1", "svc1", "172.30.0.41"),
        svc(
            "ns2", "svc2", "172.30.0.42", node_port=3001, load_balancer_vips=(ip("1.2.3.4"),),
            external_ips=(ip("192.168.99.22"),), health_check_node_port=30000,
            external_policy_local=True,
        ),
        svc("ns3", "svc3", "172.30.0.43", node_port=3003),
        svc("ns4", "svc4", "172.30.0.44", external_ips=(ip("192.168.99.33"),)),
        # healthCheckNodePort 30000 is set upstream but ignored: eTP is Cluster.
        svc(
            "ns5", "svc5", "172.30.0.45", node_port=3002, load_balancer_vips=(ip("5.6.7.8"),),
            load_balancer_source_ranges=(net("203.0.113.0/25"),),
            session_affinity="ClientIP", sticky_max_age_seconds=10800,
        ),
        svc("ns6", "svc6", "172.30.0.46"),
    ]  # fmt: skip
    endpoints = {
        port_name("ns1", "svc1"): [ep("10.180.0.1")],
        port_name("ns2", "svc2"): [ep("10.180.0.2")],
        port_name("ns3", "svc3"): [ep("10.180.0.3")],
        port_name("ns4", "svc4"): [ep("10.180.0.4"), ep("10.180.0.5", local=True)],
        port_name("ns5", "svc5"): [ep("10.180.0.3")],
    }
    return make_state(services, endpoints)


class FakeKernel:
    """What ``iptables-restore --noflush`` leaves behind, payload after payload.

    A declared chain is created or flushed, ``-A`` appends, ``-X`` deletes; chains the payload
    does not mention keep their rules — the basis of partial syncs. (netfilter has no
    restore-applier yet; this is the minimum the tests need.)
    """

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, list[Rule]]] = {}

    def restore(self, payload: Ruleset) -> None:
        for table in payload.tables:
            chains = self.tables.setdefault(table.name, {})
            for chain in table.chains:
                chains[chain.name] = []
            for st in table.statements:
                if isinstance(st, Rule):
                    chains.setdefault(st.chain, []).append(st)
                elif isinstance(st, DeleteChain):
                    del chains[st.name]

    def ruleset(self, family: int = 4) -> Ruleset:
        return Ruleset(
            family,
            tuple(
                Table(
                    name,
                    tuple(Chain(c) for c in chains),
                    tuple(r for rules in chains.values() for r in rules),
                )
                for name, chains in sorted(self.tables.items())
            ),
        )
