"""kube-proxy's iptables mode: the rules it writes on a node, as netfilter objects.

:mod:`.names` (chain-name hashing), :mod:`.options` (flags and host probes), :mod:`.static`
(jump rules and per-sync fixed rules), :mod:`.service` (one Service port's rules),
:mod:`.proxier` (full and partial syncs), :mod:`.sysctls`, :mod:`.normalise` (upstream's
``sortIPTablesRules`` for golden diffs). See ``README.md`` for what each chain is for.

    >>> from k8s_service_lab.backends.iptables import service_port_chains
    >>> service_port_chains("kube-system/kube-dns:dns", "UDP").svc
    'KUBE-SVC-TCOU7JCQXEZGVUNU'
"""

from __future__ import annotations

from k8s_service_lab.backends.iptables.names import (
    ServicePortChains,
    endpoint_chain_name,
    is_service_chain_name,
    port_proto_hash,
    service_port_chains,
)
from k8s_service_lab.backends.iptables.normalise import TOP_LEVEL_CHAINS, sort_rules
from k8s_service_lab.backends.iptables.options import ProxierOptions
from k8s_service_lab.backends.iptables.proxier import (
    LARGE_CLUSTER_ENDPOINTS_THRESHOLD,
    IptablesBackend,
    SyncStats,
)
from k8s_service_lab.backends.iptables.sysctls import Sysctl

__all__ = [
    "LARGE_CLUSTER_ENDPOINTS_THRESHOLD",
    "TOP_LEVEL_CHAINS",
    "IptablesBackend",
    "ProxierOptions",
    "ServicePortChains",
    "SyncStats",
    "Sysctl",
    "endpoint_chain_name",
    "is_service_chain_name",
    "port_proto_hash",
    "service_port_chains",
    "sort_rules",
]
