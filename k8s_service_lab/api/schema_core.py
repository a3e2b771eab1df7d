"""The core/v1 field tables: Service, Pod, Node and Namespace, as ``k8s.io/api`` declares them.

Part of :mod:`~k8s_service_lab.api.schema` (which adds meta/v1, apps/v1 and discovery/v1 and
indexes them all); split out only to keep each table readable in one sitting.

    >>> from k8s_service_lab.api.schema_core import CORE
    >>> dict(CORE)["ServiceSpec"].by_key["selector"].nullable
    True
"""

from __future__ import annotations

from k8s_service_lab.api.gotypes import (
    BOOL,
    INT32,
    INT64,
    INT_OR_STRING,
    POINTER,
    STRING,
    WRITTEN,
    Field,
    ListOf,
    MapOf,
    Ref,
    Struct,
    entry,
    named,
)
from k8s_service_lab.api.node import (
    Namespace,
    Node,
    NodeAddress,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    Taint,
)
from k8s_service_lab.api.pod import (
    Container,
    ContainerPort,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    Toleration,
)
from k8s_service_lab.api.service import (
    LoadBalancerIngress,
    PortStatus,
    Service,
    ServicePort,
    ServiceSpec,
    ServiceStatus,
)

__all__ = ["CORE"]

_STRS = ListOf(STRING)
_PROTOCOL = named("v1.Protocol")
_STATUS = named("v1.ConditionStatus")
_META = Field("metadata", Ref("ObjectMeta"), "metadata")
_TYPE_META = "apiVersion kind"
#: NodeSystemInfo: plain strings, without omitempty.
_NODE_INFO = (
    "architecture",
    "bootID",
    "containerRuntimeVersion",
    "kernelVersion",
    "kubeProxyVersion",
    "kubeletVersion",
    "machineID",
    "operatingSystem",
    "osImage",
    "systemUUID",
)

#: ``(key, Struct)`` rows for the core/v1 kinds this library models (Endpoints aside).
CORE: tuple[tuple[str, Struct], ...] = (
    # core/v1 Service ---------------------------------------------------------------------
    entry(
        "Service",
        Service,
        _META,
        Field("spec", Ref("ServiceSpec"), "spec"),
        Field("status", Ref("ServiceStatus"), "status"),
        ignored=_TYPE_META,
    ),
    entry(
        "ServiceSpec",
        ServiceSpec,
        Field("ports", ListOf(Ref("ServicePort")), "ports"),
        # Empty and absent selectors are one thing to the API (kubernetes#25836): keep None.
        Field("selector", MapOf(), "selector", nullable=True),
        Field("clusterIP", STRING, "cluster_ip"),
        Field("clusterIPs", _STRS, "cluster_ips"),
        Field("type", named("v1.ServiceType"), "type"),
        Field("externalIPs", _STRS, "external_ips"),
        Field("sessionAffinity", named("v1.ServiceAffinity"), "session_affinity"),
        Field("loadBalancerIP", STRING, "load_balancer_ip"),
        Field("loadBalancerSourceRanges", _STRS, "load_balancer_source_ranges"),
        Field("externalName", STRING, "external_name"),
        Field(
            "externalTrafficPolicy",
            named("v1.ServiceExternalTrafficPolicy"),
            "external_traffic_policy",
        ),
        Field("healthCheckNodePort", INT32, "health_check_node_port"),
        Field("publishNotReadyAddresses", BOOL, "publish_not_ready_addresses"),
        Field("sessionAffinityConfig", Ref("SessionAffinityConfig"), inline=True, pointer=True),
        Field("ipFamilies", ListOf(named("v1.IPFamily")), "ip_families"),
        Field("ipFamilyPolicy", named("v1.IPFamilyPolicy"), "ip_family_policy", **POINTER),
        Field(
            "allocateLoadBalancerNodePorts", BOOL, "allocate_load_balancer_node_ports", **POINTER
        ),
        Field("loadBalancerClass", STRING, "load_balancer_class", **POINTER),
        Field(
            "internalTrafficPolicy",
            named("v1.ServiceInternalTrafficPolicy"),
            "internal_traffic_policy",
            **POINTER,
        ),
        Field("trafficDistribution", STRING, "traffic_distribution", **POINTER),
    ),
    entry(
        "SessionAffinityConfig",
        None,
        Field("clientIP", Ref("ClientIPConfig"), inline=True, pointer=True),
    ),
    entry(
        "ClientIPConfig",
        None,
        Field("timeoutSeconds", INT32, "client_ip_timeout_seconds", **POINTER),
    ),
    entry(
        "ServicePort",
        ServicePort,
        Field("name", STRING, "name"),
        Field("protocol", _PROTOCOL, "protocol"),
        Field("appProtocol", STRING, "app_protocol", **POINTER),
        Field("port", INT32, "port", **WRITTEN),
        Field("targetPort", INT_OR_STRING, "target_port"),
        Field("nodePort", INT32, "node_port"),
    ),
    entry(
        "ServiceStatus",
        ServiceStatus,
        Field("loadBalancer", Ref("LoadBalancerStatus"), inline=True),
        ignored="conditions",
    ),
    entry(
        "LoadBalancerStatus",
        None,
        Field("ingress", ListOf(Ref("LoadBalancerIngress")), "load_balancer_ingress"),
    ),
    entry(
        "LoadBalancerIngress",
        LoadBalancerIngress,
        Field("ip", STRING, "ip"),
        Field("hostname", STRING, "hostname"),
        Field("ipMode", named("v1.LoadBalancerIPMode"), "ip_mode", **POINTER),
        Field("ports", ListOf(Ref("PortStatus")), "ports"),
    ),
    entry(
        "PortStatus",
        PortStatus,
        Field("port", INT32, "port", **WRITTEN),
        Field("protocol", _PROTOCOL, "protocol", **WRITTEN),
        Field("error", STRING, "error", **POINTER),
    ),
    # core/v1 Pod -------------------------------------------------------------------------
    entry(
        "Pod",
        Pod,
        _META,
        Field("spec", Ref("PodSpec"), "spec"),
        Field("status", Ref("PodStatus"), "status"),
        ignored=_TYPE_META,
    ),
    entry(
        "PodTemplateSpec",
        PodTemplateSpec,
        _META,
        Field("spec", Ref("PodSpec"), "spec"),
    ),
    entry(
        "PodSpec",
        PodSpec,
        Field("containers", ListOf(Ref("Container")), "containers", **WRITTEN),
        Field("nodeName", STRING, "node_name"),
        Field("nodeSelector", MapOf(), "node_selector"),
        Field("tolerations", ListOf(Ref("Toleration")), "tolerations"),
        Field("hostname", STRING, "hostname"),
        Field("subdomain", STRING, "subdomain"),
        Field("hostNetwork", BOOL, "host_network"),
        Field(
            "terminationGracePeriodSeconds", INT64, "termination_grace_period_seconds", **POINTER
        ),
        ignored="""volumes initContainers ephemeralContainers restartPolicy
        activeDeadlineSeconds dnsPolicy serviceAccountName serviceAccount
        automountServiceAccountToken hostPID hostIPC shareProcessNamespace securityContext
        imagePullSecrets affinity schedulerName hostAliases priorityClassName priority
        dnsConfig readinessGates runtimeClassName enableServiceLinks preemptionPolicy overhead
        topologySpreadConstraints setHostnameAsFQDN os hostUsers schedulingGates
        resourceClaims resources hostnameOverride evictionResponders schedulingGroup""",
    ),
    entry(
        "Container",
        Container,
        Field("name", STRING, "name", **WRITTEN),
        Field("image", STRING, "image"),
        Field("command", _STRS, "command"),
        Field("args", _STRS, "args"),
        Field("ports", ListOf(Ref("ContainerPort")), "ports"),
        ignored="""workingDir envFrom env resources resizePolicy restartPolicy
        restartPolicyRules volumeMounts volumeDevices livenessProbe readinessProbe startupProbe
        lifecycle terminationMessagePath terminationMessagePolicy imagePullPolicy
        securityContext stdin stdinOnce tty""",
        # ResourceRequirements is a plain struct: Go always writes it.
        always=(("resources", {}),),
    ),
    entry(
        "ContainerPort",
        ContainerPort,
        Field("name", STRING, "name"),
        Field("hostPort", INT32, "host_port"),
        Field("containerPort", INT32, "container_port", **WRITTEN),
        Field("protocol", _PROTOCOL, "protocol"),
        ignored="hostIP",
    ),
    entry(
        "Toleration",
        Toleration,
        Field("key", STRING, "key"),
        Field("operator", named("v1.TolerationOperator"), "operator"),
        Field("value", STRING, "value"),
        Field("effect", named("v1.TaintEffect"), "effect"),
        Field("tolerationSeconds", INT64, "toleration_seconds", **POINTER),
    ),
    entry(
        "PodStatus",
        PodStatus,
        Field("phase", named("v1.PodPhase"), "phase"),
        Field("conditions", ListOf(Ref("PodCondition")), "conditions"),
        Field("hostIP", STRING, "host_ip"),
        Field("hostIPs", ListOf(Ref("HostIP")), "host_ips"),
        Field("podIP", STRING, "pod_ip"),
        Field("podIPs", ListOf(Ref("PodIP")), "pod_ips"),
        ignored="""message reason nominatedNodeName startTime initContainerStatuses
        containerStatuses qosClass ephemeralContainerStatuses resize resourceClaimStatuses
        observedGeneration extendedResourceClaimStatus allocatedResources resources
        nodeAllocatableResourceClaimStatuses volumeHealth""",
    ),
    entry(
        "PodCondition",
        PodCondition,
        Field("type", named("v1.PodConditionType"), "type", **WRITTEN),
        Field("status", _STATUS, "status", **WRITTEN),
        ignored="observedGeneration lastProbeTime lastTransitionTime reason message",
        # Plain metav1.Time fields: an unset one is written as null.
        always=(("lastProbeTime", None), ("lastTransitionTime", None)),
    ),
    entry("PodIP", None, Field("ip", STRING, "ip", **WRITTEN), unwrap="ip"),
    entry("HostIP", None, Field("ip", STRING, "ip", **WRITTEN), unwrap="ip"),
    # core/v1 Node and Namespace ----------------------------------------------------------
    entry(
        "Node",
        Node,
        _META,
        Field("spec", Ref("NodeSpec"), "spec"),
        Field("status", Ref("NodeStatus"), "status"),
        ignored=_TYPE_META,
    ),
    entry(
        "NodeSpec",
        NodeSpec,
        Field("podCIDR", STRING, "pod_cidr"),
        Field("podCIDRs", _STRS, "pod_cidrs"),
        Field("providerID", STRING, "provider_id"),
        Field("unschedulable", BOOL, "unschedulable"),
        Field("taints", ListOf(Ref("Taint")), "taints"),
        ignored="configSource externalID podPreemptionPolicy",
    ),
    entry(
        "Taint",
        Taint,
        Field("key", STRING, "key", **WRITTEN),
        Field("value", STRING, "value"),
        Field("effect", named("v1.TaintEffect"), "effect", **WRITTEN),
        ignored="timeAdded",
    ),
    entry(
        "NodeStatus",
        NodeStatus,
        Field("conditions", ListOf(Ref("NodeCondition")), "conditions"),
        Field("addresses", ListOf(Ref("NodeAddress")), "addresses"),
        ignored="""capacity allocatable phase daemonEndpoints nodeInfo images volumesInUse
        volumesAttached config runtimeHandlers features declaredFeatures""",
        # Two plain structs of the real NodeStatus, written even when nothing fills them.
        always=(
            ("daemonEndpoints", {"kubeletEndpoint": {"Port": 0}}),
            (
                "nodeInfo",
                dict.fromkeys(_NODE_INFO, ""),
            ),
        ),
    ),
    entry(
        "NodeAddress",
        NodeAddress,
        Field("type", named("v1.NodeAddressType"), "type", **WRITTEN),
        Field("address", STRING, "address", **WRITTEN),
    ),
    entry(
        "NodeCondition",
        NodeCondition,
        Field("type", named("v1.NodeConditionType"), "type", **WRITTEN),
        Field("status", _STATUS, "status", **WRITTEN),
        ignored="lastHeartbeatTime lastTransitionTime reason message",
        always=(("lastHeartbeatTime", None), ("lastTransitionTime", None)),
    ),
    entry(
        "Namespace",
        Namespace,
        _META,
        Field("spec", Ref("NamespaceSpec"), inline=True),
        Field("status", Ref("NamespaceStatus"), inline=True),
        ignored=_TYPE_META,
    ),
    entry("NamespaceSpec", None, ignored="finalizers"),
    entry(
        "NamespaceStatus",
        None,
        Field("phase", named("v1.NamespacePhase"), "phase"),
        ignored="conditions",
    ),
)
