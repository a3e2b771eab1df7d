"""Proxy backends: what each kube-proxy mode writes on a node, from one shared model.

Every backend wraps the front end's :class:`~k8s_service_lab.proxy.NodeProxyState` (it never
adds fields to it) and turns it into rules. They are chosen by name from :data:`BACKENDS`,
an explicit registry — importing a module never registers anything::

    >>> from k8s_service_lab.config import ClusterConfig
    >>> config = ClusterConfig.default()
    >>> backend = BACKENDS[config.networking.kube_proxy_mode](config, "kind-worker")
    >>> isinstance(backend, Backend), backend.name
    (True, 'iptables')
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from k8s_service_lab.backends.iptables import IptablesBackend
from k8s_service_lab.backends.nftables import NftablesBackend
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.netfilter import NftTransaction, Ruleset
from k8s_service_lab.proxy import NodeProxyState

__all__ = ["BACKENDS", "Backend", "BackendFactory", "Payload"]

#: What a backend hands the kernel: an ``iptables-restore`` payload or an ``nft -f`` transaction.
Payload = Ruleset | NftTransaction


@runtime_checkable
class Backend(Protocol):
    """One node's proxier for one IP family.

    ``sync`` returns this sync's payload (full, or partial when the state allows it);
    ``render`` always the full one; ``jump_rules`` what is installed outside the payload;
    ``sysctls`` the kernel settings it needs.
    """

    name: str

    def sync(self, state: NodeProxyState) -> Payload: ...

    def render(self, state: NodeProxyState) -> Payload: ...

    def jump_rules(self) -> Payload: ...

    def sysctls(self) -> tuple[Any, ...]: ...

    def force_full_sync(self) -> None: ...


class BackendFactory(Protocol):
    """How a backend is built: ``Factory(config, node_name, family=4)``."""

    def __call__(self, config: ClusterConfig, node_name: str, family: int = 4) -> Backend: ...


#: kube-proxy mode name → backend class (``networking.kubeProxyMode`` in the kind config).
BACKENDS: Mapping[str, BackendFactory] = MappingProxyType(
    {"iptables": IptablesBackend, "nftables": NftablesBackend}
)
