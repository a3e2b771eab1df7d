"""The v1 field tables: every struct we model, field by field, as its Go type declares it.

Decoding (:mod:`~k8s_service_lab.api.unmarshal`) and encoding
(:mod:`~k8s_service_lab.api.encode`) both read these tables, so a manifest is checked and
written back with the same facts: JSON key, Go type, pointer or not, ``omitempty`` or not,
and the model attribute it lands in. Real v1 fields we do not model are listed as ``ignored``:
they are accepted and dropped (a Deployment may carry probes and resources), while a field
that does not exist in the API is an ``unknown field``, as the apiserver's strict decoding
says. The lists follow ``k8s.io/api`` (core/v1, apps/v1, discovery/v1, meta/v1).

    >>> from k8s_service_lab.api.schema import STRUCTS
    >>> port = STRUCTS["ServicePort"].by_key["port"]
    >>> (port.attr, port.type.go, port.omitempty)
    ('port', 'int32', False)
    >>> "livenessProbe" in STRUCTS["Container"].ignored
    True
"""

from __future__ import annotations

from collections.abc import Mapping

from k8s_service_lab.api.discovery import (
    Endpoint,
    EndpointAddress,
    EndpointConditions,
    EndpointHints,
    EndpointPort,
    Endpoints,
    EndpointSlice,
    EndpointSubset,
    ObjectReference,
)
from k8s_service_lab.api.gotypes import (
    BOOL,
    INT32,
    INT64,
    INT_OR_STRING,
    POINTER,
    STRING,
    TIME,
    UID,
    WRITTEN,
    Field,
    ListOf,
    MapOf,
    Ref,
    Struct,
    entry,
    named,
)
from k8s_service_lab.api.meta import ObjectMeta, OwnerReference
from k8s_service_lab.api.node import Namespace, Node
from k8s_service_lab.api.pod import Pod
from k8s_service_lab.api.schema_core import CORE
from k8s_service_lab.api.service import Service
from k8s_service_lab.api.workloads import (
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    ReplicaSet,
    ReplicaSetSpec,
    WorkloadStatus,
)
from k8s_service_lab.labels import LabelSelector, LabelSelectorRequirement

__all__ = ["ROOTS", "STRUCTS", "UNMODELLED_KINDS"]


_STRS = ListOf(STRING)
_PROTOCOL = named("v1.Protocol")
_META = Field("metadata", Ref("ObjectMeta"), "metadata")
_TYPE_META = "apiVersion kind"

_TABLE: tuple[tuple[str, Struct], ...] = (
    *CORE,
    # meta/v1 ---------------------------------------------------------------------------
    entry(
        "ObjectMeta",
        ObjectMeta,
        Field("name", STRING, "name"),
        Field("generateName", STRING, "generate_name"),
        Field("namespace", STRING, "namespace"),
        Field("uid", UID, "uid"),
        Field("resourceVersion", STRING, "resource_version"),
        Field("generation", INT64, "generation"),
        # A plain metav1.Time, but tagged omitzero since v1.33: left out when unset.
        Field("creationTimestamp", TIME, "creation_timestamp"),
        Field("deletionTimestamp", TIME, "deletion_timestamp", **POINTER),
        Field("deletionGracePeriodSeconds", INT64, "deletion_grace_period_seconds", **POINTER),
        Field("labels", MapOf(), "labels"),
        Field("annotations", MapOf(), "annotations"),
        Field("ownerReferences", ListOf(Ref("OwnerReference")), "owner_references"),
        Field("finalizers", _STRS, "finalizers"),
        ignored="selfLink managedFields",
    ),
    entry(
        "OwnerReference",
        OwnerReference,
        Field("apiVersion", STRING, "api_version", **WRITTEN),
        Field("kind", STRING, "kind", **WRITTEN),
        Field("name", STRING, "name", **WRITTEN),
        Field("uid", UID, "uid", **WRITTEN),
        Field("controller", BOOL, "controller", **POINTER),
        Field("blockOwnerDeletion", BOOL, "block_owner_deletion", **POINTER),
    ),
    entry(
        "LabelSelector",
        LabelSelector,
        Field("matchLabels", MapOf(), "match_labels", nullable=True),
        Field("matchExpressions", ListOf(Ref("LabelSelectorRequirement")), "match_expressions"),
    ),
    entry(
        "LabelSelectorRequirement",
        LabelSelectorRequirement,
        Field("key", STRING, "key", **WRITTEN),
        Field("operator", named("v1.LabelSelectorOperator"), "operator", **WRITTEN),
        Field("values", _STRS, "values"),
    ),
    # apps/v1 -----------------------------------------------------------------------------
    entry(
        "Deployment",
        Deployment,
        _META,
        Field("spec", Ref("DeploymentSpec"), "spec"),
        Field("status", Ref("DeploymentStatus"), "status"),
        ignored=_TYPE_META,
    ),
    entry(
        "DeploymentSpec",
        DeploymentSpec,
        Field("replicas", INT32, "replicas", **POINTER),
        Field("selector", Ref("LabelSelector"), "selector", omitempty=False, pointer=True),
        Field("template", Ref("PodTemplateSpec"), "template", **WRITTEN),
        Field("strategy", Ref("DeploymentStrategy"), "strategy", nullable=True),
        Field("minReadySeconds", INT32, "min_ready_seconds"),
        Field("revisionHistoryLimit", INT32, "revision_history_limit", **POINTER),
        ignored="paused progressDeadlineSeconds",
    ),
    entry(
        "DeploymentStrategy",
        DeploymentStrategy,
        Field("type", named("v1.DeploymentStrategyType"), "type"),
        Field("rollingUpdate", Ref("RollingUpdateDeployment"), inline=True, pointer=True),
    ),
    entry(
        "RollingUpdateDeployment",
        None,
        Field("maxUnavailable", INT_OR_STRING, "max_unavailable", **POINTER),
        Field("maxSurge", INT_OR_STRING, "max_surge", **POINTER),
    ),
    entry(
        "DeploymentStatus",
        WorkloadStatus,
        Field("observedGeneration", INT64, "observed_generation"),
        Field("replicas", INT32, "replicas"),
        Field("updatedReplicas", INT32, "updated_replicas"),
        Field("readyReplicas", INT32, "ready_replicas"),
        Field("availableReplicas", INT32, "available_replicas"),
        ignored="unavailableReplicas terminatingReplicas conditions collisionCount",
    ),
    entry(
        "ReplicaSet",
        ReplicaSet,
        _META,
        Field("spec", Ref("ReplicaSetSpec"), "spec"),
        Field("status", Ref("ReplicaSetStatus"), "status"),
        ignored=_TYPE_META,
    ),
    entry(
        "ReplicaSetSpec",
        ReplicaSetSpec,
        Field("replicas", INT32, "replicas", **POINTER),
        Field("minReadySeconds", INT32, "min_ready_seconds"),
        Field("selector", Ref("LabelSelector"), "selector", omitempty=False, pointer=True),
        Field("template", Ref("PodTemplateSpec"), "template"),
    ),
    entry(
        "ReplicaSetStatus",
        WorkloadStatus,
        # The one status counter without omitempty: a ReplicaSet always shows replicas: 0.
        Field("replicas", INT32, "replicas", **WRITTEN),
        Field("readyReplicas", INT32, "ready_replicas"),
        Field("availableReplicas", INT32, "available_replicas"),
        Field("observedGeneration", INT64, "observed_generation"),
        ignored="fullyLabeledReplicas terminatingReplicas conditions",
    ),
    # discovery/v1 and core/v1 Endpoints ----------------------------------------------------
    entry(
        "EndpointSlice",
        EndpointSlice,
        _META,
        Field("addressType", named("v1.AddressType"), "address_type", **WRITTEN),
        # No omitempty: a slice with no endpoints shows "endpoints: null", as kubectl does.
        Field("endpoints", ListOf(Ref("Endpoint")), "endpoints", **WRITTEN),
        Field("ports", ListOf(Ref("discovery.EndpointPort")), "ports", **WRITTEN),
        ignored=_TYPE_META,
    ),
    entry(
        "Endpoint",
        Endpoint,
        Field("addresses", _STRS, "addresses", **WRITTEN),
        Field("conditions", Ref("EndpointConditions"), "conditions"),
        Field("hostname", STRING, "hostname", **POINTER),
        Field("targetRef", Ref("ObjectReference"), "target_ref", **POINTER),
        Field("deprecatedTopology", MapOf(), "deprecated_topology"),
        Field("nodeName", STRING, "node_name", **POINTER),
        Field("zone", STRING, "zone", **POINTER),
        Field("hints", Ref("EndpointHints"), "hints", **POINTER),
    ),
    entry(
        "EndpointConditions",
        EndpointConditions,
        Field("ready", BOOL, "ready", **POINTER),
        Field("serving", BOOL, "serving", **POINTER),
        Field("terminating", BOOL, "terminating", **POINTER),
    ),
    entry(
        "EndpointHints",
        EndpointHints,
        Field("forZones", ListOf(Ref("ForZone")), "for_zones"),
        Field("forNodes", ListOf(Ref("ForNode")), "for_nodes"),
    ),
    entry("ForZone", None, Field("name", STRING, "name", **WRITTEN), unwrap="name"),
    entry("ForNode", None, Field("name", STRING, "name", **WRITTEN), unwrap="name"),
    entry(
        "discovery.EndpointPort",
        EndpointPort,
        Field("name", STRING, "name", **POINTER),
        Field("protocol", _PROTOCOL, "protocol", **POINTER),
        Field("port", INT32, "port", **POINTER),
        Field("appProtocol", STRING, "app_protocol", **POINTER),
    ),
    entry(
        "ObjectReference",
        ObjectReference,
        Field("kind", STRING, "kind"),
        Field("namespace", STRING, "namespace"),
        Field("name", STRING, "name"),
        Field("uid", UID, "uid"),
        Field("apiVersion", STRING, "api_version"),
        Field("resourceVersion", STRING, "resource_version"),
        ignored="fieldPath",
    ),
    entry(
        "Endpoints",
        Endpoints,
        _META,
        Field("subsets", ListOf(Ref("EndpointSubset")), "subsets"),
        ignored=_TYPE_META,
    ),
    entry(
        "EndpointSubset",
        EndpointSubset,
        Field("addresses", ListOf(Ref("EndpointAddress")), "addresses"),
        Field("notReadyAddresses", ListOf(Ref("EndpointAddress")), "not_ready_addresses"),
        Field("ports", ListOf(Ref("core.EndpointPort")), "ports"),
    ),
    entry(
        "EndpointAddress",
        EndpointAddress,
        Field("ip", STRING, "ip", **WRITTEN),
        Field("hostname", STRING, "hostname"),
        Field("nodeName", STRING, "node_name", **POINTER),
        Field("targetRef", Ref("ObjectReference"), "target_ref", **POINTER),
    ),
    # The legacy EndpointPort: plain name and port, where the discovery one has pointers.
    entry(
        "core.EndpointPort",
        EndpointPort,
        Field("name", STRING, "name"),
        Field("port", INT32, "port", **WRITTEN),
        Field("protocol", _PROTOCOL, "protocol"),
        Field("appProtocol", STRING, "app_protocol", **POINTER),
    ),
)

#: Every struct, by its table key (``"ServicePort"``, ``"core.EndpointPort"`` ...).
STRUCTS: Mapping[str, Struct] = dict(_TABLE)

#: The root struct of each resource class.
ROOTS: Mapping[type, Struct] = {
    cls: STRUCTS[cls.__name__]
    for cls in (Service, Pod, Node, Namespace, Deployment, ReplicaSet, EndpointSlice, Endpoints)
}

#: Real kinds a manifest may hold that this library does not model. Meeting one is not a typo
#: ("no matches for kind"), so the decoder says that it is out of scope instead.
UNMODELLED_KINDS: frozenset[tuple[str, str]] = frozenset(
    (version, kind)
    for version, kinds in (
        (
            "v1",
            "ConfigMap Secret ServiceAccount PersistentVolumeClaim PersistentVolume "
            "ReplicationController LimitRange ResourceQuota Event PodTemplate Binding",
        ),
        ("apps/v1", "StatefulSet DaemonSet ControllerRevision"),
        ("batch/v1", "Job CronJob"),
        ("networking.k8s.io/v1", "Ingress IngressClass NetworkPolicy IPAddress ServiceCIDR"),
        ("policy/v1", "PodDisruptionBudget"),
        ("rbac.authorization.k8s.io/v1", "Role RoleBinding ClusterRole ClusterRoleBinding"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("autoscaling/v1", "HorizontalPodAutoscaler"),
        ("coordination.k8s.io/v1", "Lease"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    )
    for kind in kinds.split()
)
