"""The Service resource (``v1``), field for field as the apiserver knows it.

    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> svc = Service(ObjectMeta(name="web", namespace="default"),
    ...               ServiceSpec(selector={"app": "web"}, ports=(ServicePort(port=80),)))
    >>> svc.spec.ports[0].port
    80

Enum-like fields hold plain strings, as the Go API does, so that a manifest with
``protocol: HTTP`` can be decoded and then *rejected by validation* with the apiserver's own
words; the ``StrEnum`` classes below name the values Kubernetes accepts. ``None`` always means
"not set"; defaulting (:mod:`k8s_service_lab.api.defaults`) fills what the apiserver fills.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from k8s_service_lab.api.meta import ObjectMeta

__all__ = [
    "IPFamily",
    "IPFamilyPolicy",
    "LoadBalancerIPMode",
    "LoadBalancerIngress",
    "PortStatus",
    "Protocol",
    "Service",
    "ServiceAffinity",
    "ServicePort",
    "ServiceSpec",
    "ServiceStatus",
    "ServiceType",
    "TrafficDistribution",
    "TrafficPolicy",
]


class ServiceType(enum.StrEnum):
    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"
    EXTERNAL_NAME = "ExternalName"


class Protocol(enum.StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


class ServiceAffinity(enum.StrEnum):
    NONE = "None"
    CLIENT_IP = "ClientIP"


class TrafficPolicy(enum.StrEnum):
    """``externalTrafficPolicy`` and ``internalTrafficPolicy`` share these two values."""

    CLUSTER = "Cluster"
    LOCAL = "Local"


class IPFamily(enum.StrEnum):
    IPV4 = "IPv4"
    IPV6 = "IPv6"


class IPFamilyPolicy(enum.StrEnum):
    SINGLE_STACK = "SingleStack"
    PREFER_DUAL_STACK = "PreferDualStack"
    REQUIRE_DUAL_STACK = "RequireDualStack"


class LoadBalancerIPMode(enum.StrEnum):
    VIP = "VIP"
    PROXY = "Proxy"


class TrafficDistribution(enum.StrEnum):
    PREFER_CLOSE = "PreferClose"
    PREFER_SAME_ZONE = "PreferSameZone"
    PREFER_SAME_NODE = "PreferSameNode"


#: ``clusterIP: None`` marks a headless Service.
CLUSTER_IP_NONE = "None"
#: ClientIP affinity's default timeout (3 hours), and the largest one validation accepts.
DEFAULT_CLIENT_IP_TIMEOUT = 10800
MAX_CLIENT_IP_TIMEOUT = 86400


@dataclass(frozen=True, slots=True)
class ServicePort:
    """``spec.ports[]``. ``target_port`` is an int, a named container port, or ``None``."""

    port: int
    name: str | None = None
    protocol: str | None = None
    target_port: int | str | None = None
    node_port: int | None = None
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """``spec`` of a Service."""

    type: str | None = None
    selector: Mapping[str, str] | None = None
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: str | None = None
    cluster_ips: tuple[str, ...] = ()
    ip_families: tuple[str, ...] = ()
    ip_family_policy: str | None = None
    external_ips: tuple[str, ...] = ()
    external_name: str | None = None
    external_traffic_policy: str | None = None
    internal_traffic_policy: str | None = None
    health_check_node_port: int | None = None
    session_affinity: str | None = None
    #: ``sessionAffinityConfig.clientIP.timeoutSeconds``; the only field of that struct.
    client_ip_timeout_seconds: int | None = None
    load_balancer_ip: str | None = None
    load_balancer_source_ranges: tuple[str, ...] = ()
    load_balancer_class: str | None = None
    allocate_load_balancer_node_ports: bool | None = None
    publish_not_ready_addresses: bool | None = None
    traffic_distribution: str | None = None

    @property
    def headless(self) -> bool:
        return self.cluster_ip == CLUSTER_IP_NONE or (
            bool(self.cluster_ips) and self.cluster_ips[0] == CLUSTER_IP_NONE
        )


@dataclass(frozen=True, slots=True)
class PortStatus:
    port: int
    protocol: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LoadBalancerIngress:
    """``status.loadBalancer.ingress[]``: where a load balancer answers for the Service."""

    ip: str | None = None
    hostname: str | None = None
    ip_mode: str | None = None
    ports: tuple[PortStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    load_balancer_ingress: tuple[LoadBalancerIngress, ...] = ()


@dataclass(frozen=True, slots=True)
class Service:
    """A ``v1`` Service: metadata, spec and status."""

    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Service"
    #: How the apiserver names the kind in errors (``Service "web" is invalid: ...``).
    GROUP_KIND: ClassVar[str] = "Service"
    RESOURCE: ClassVar[str] = "services"
    NAMESPACED: ClassVar[bool] = True

    metadata: ObjectMeta
    spec: ServiceSpec = field(default_factory=ServiceSpec)
    status: ServiceStatus = field(default_factory=ServiceStatus)
