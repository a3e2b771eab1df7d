"""kube-proxy's nftables mode: the table it writes on a node, as netfilter nftables objects.

:mod:`.names` (readable, hashed chain names), :mod:`.options` (flags, local-traffic detector,
NodePort addresses), :mod:`.static` (table, base chains, fixed rules, sets and maps),
:mod:`.pieces` (names and endpoint rules built once per proxier), :mod:`.service` (one Service
port), :mod:`.store` (the element store behind partial syncs) and :mod:`.proxier` (full and
partial syncs). See ``README.md`` for what each chain is for.

    >>> from k8s_service_lab.backends.nftables import service_port_names
    >>> service_port_names("kube-system", "kube-dns", "dns", "UDP").cluster
    'service-FY5PMXPG-kube-system/kube-dns/udp/dns'
"""

from __future__ import annotations

from k8s_service_lab.backends.nftables.names import (
    EndpointNames,
    ServicePortNames,
    endpoint_names,
    hash_and_truncate,
    is_service_chain_name,
    service_port_names,
)
from k8s_service_lab.backends.nftables.options import NftOptions
from k8s_service_lab.backends.nftables.proxier import (
    STALE_CHAIN_DELAY,
    NftablesBackend,
    NftSyncStats,
)
from k8s_service_lab.backends.nftables.static import BASE_CHAINS, TABLE

__all__ = [
    "BASE_CHAINS",
    "STALE_CHAIN_DELAY",
    "TABLE",
    "EndpointNames",
    "NftOptions",
    "NftSyncStats",
    "NftablesBackend",
    "ServicePortNames",
    "endpoint_names",
    "hash_and_truncate",
    "is_service_chain_name",
    "service_port_names",
]
