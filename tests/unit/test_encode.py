"""Encoding: the shape kubectl prints, and decode(encode(x)) == x for random valid objects."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_service_lab.api import (
    Deployment,
    Endpoints,
    EndpointSlice,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Resource,
    Service,
)
from k8s_service_lab.api.decode import decode_dict, decode_text
from k8s_service_lab.api.defaults import default_object
from k8s_service_lab.api.discovery import (
    Endpoint,
    EndpointAddress,
    EndpointConditions,
    EndpointHints,
    EndpointPort,
    EndpointSubset,
    ObjectReference,
)
from k8s_service_lab.api.encode import to_dict, to_json, to_yaml
from k8s_service_lab.api.meta import ObjectMeta, OwnerReference
from k8s_service_lab.api.node import NodeAddress, NodeCondition, NodeSpec, NodeStatus, Taint
from k8s_service_lab.api.pod import (
    Container,
    ContainerPort,
    PodCondition,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    Toleration,
)
from k8s_service_lab.api.service import (
    LoadBalancerIngress,
    PortStatus,
    ServicePort,
    ServiceSpec,
    ServiceStatus,
)
from k8s_service_lab.api.workloads import (
    DeploymentSpec,
    DeploymentStrategy,
    ReplicaSetSpec,
    WorkloadStatus,
)
from k8s_service_lab.labels import LabelSelector, LabelSelectorRequirement

DATA = Path(__file__).parent / "data" / "manifests"


def _one(text: str) -> Resource:
    [resource] = decode_text(textwrap.dedent(text))
    return resource


# -- the shape kubectl prints ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["kube-dns-service.yaml", "kube-dns-endpointslice.yaml"])
def test_objects_from_a_kind_cluster_print_back_byte_for_byte(name: str) -> None:
    text = (DATA / name).read_text()
    [resource] = decode_text(text)
    assert to_yaml(resource) == text


def test_a_minimal_service() -> None:
    svc = _one("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
    assert list(to_dict(svc)) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert to_dict(svc) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {},
        "status": {"loadBalancer": {}},
    }


def test_service_fields_in_their_go_shape() -> None:
    svc = default_object(
        _one("""
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          type: LoadBalancer
          sessionAffinity: ClientIP
          ports: [{port: 80, targetPort: "8080", name: a}, {port: 81, targetPort: 8081, name: b}]
        status: {loadBalancer: {ingress: [{ip: 172.18.0.5}]}}
    """)
    )
    assert to_yaml(svc) == textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          allocateLoadBalancerNodePorts: true
          externalTrafficPolicy: Cluster
          internalTrafficPolicy: Cluster
          ports:
          - name: a
            port: 80
            protocol: TCP
            targetPort: "8080"
          - name: b
            port: 81
            protocol: TCP
            targetPort: 8081
          sessionAffinity: ClientIP
          sessionAffinityConfig:
            clientIP:
              timeoutSeconds: 10800
          type: LoadBalancer
        status:
          loadBalancer:
            ingress:
            - ip: 172.18.0.5
              ipMode: VIP
        """)


def test_fields_without_omitempty_are_always_written() -> None:
    eps = _one("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n")
    assert to_dict(eps) == {
        "addressType": "",
        "apiVersion": "discovery.k8s.io/v1",
        "endpoints": None,
        "kind": "EndpointSlice",
        "metadata": {"name": "e"},
        "ports": None,
    }
    rs = _one("apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r}\n")
    assert to_dict(rs)["status"] == {"replicas": 0}
    assert to_dict(rs)["spec"] == {
        "selector": None,
        "template": {"metadata": {}, "spec": {"containers": None}},
    }


def test_plain_structs_are_always_written() -> None:
    pod = _one("""
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec: {containers: [{name: web, image: nginx}]}
        status: {conditions: [{type: Ready, status: "True"}]}
    """)
    assert to_dict(pod)["spec"] == {
        "containers": [{"image": "nginx", "name": "web", "resources": {}}]
    }
    assert to_dict(pod)["status"] == {
        "conditions": [
            {"lastProbeTime": None, "lastTransitionTime": None, "status": "True", "type": "Ready"}
        ]
    }
    deployment = _one("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n")
    assert to_dict(deployment)["spec"] == {
        "selector": None,
        "strategy": {},
        "template": {"metadata": {}, "spec": {"containers": None}},
    }
    assert to_dict(deployment)["status"] == {}
    ns = _one("apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\nstatus: {phase: Active}\n")
    assert to_dict(ns) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo"},
        "spec": {},
        "status": {"phase": "Active"},
    }


def test_endpoint_conditions_are_always_written() -> None:
    eps = _one("""
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: e}
        addressType: IPv4
        endpoints: [{addresses: [10.0.0.1]}]
        ports: [{name: "", port: 80}]
    """)
    body = to_dict(eps)
    assert body["endpoints"] == [{"addresses": ["10.0.0.1"], "conditions": {}}]
    assert body["ports"] == [{"name": "", "port": 80}]


def test_yaml_quotes_what_would_read_back_as_something_else() -> None:
    ns = Namespace(
        ObjectMeta(
            name="n",
            labels={
                "port": "80",
                "on": "true",
                "short": "y",
                "empty": "",
                "date": "2025-09-01",
                "float": "1e3",
                "colon": "a: b",
                "plain": "web",
                "ratio": "1:30",
            },
            annotations={"multi": "line one\nline two\n"},
        )
    )
    assert to_yaml(ns) == textwrap.dedent("""\
        apiVersion: v1
        kind: Namespace
        metadata:
          annotations:
            multi: |
              line one
              line two
          labels:
            colon: 'a: b'
            date: "2025-09-01"
            empty: ""
            float: "1e3"
            "on": "true"
            plain: web
            port: "80"
            ratio: 1:30
            short: "y"
          name: "n"
        spec: {}
        status: {}
        """)
    assert decode_text(to_yaml(ns)) == [ns]


def test_several_objects() -> None:
    a = Namespace(ObjectMeta(name="a"))
    b = Namespace(ObjectMeta(name="b"))
    assert to_yaml([a, b]) == to_yaml(a) + "---\n" + to_yaml(b)
    listed = to_yaml([a, b], as_list=True)
    assert listed.startswith("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Namespace\n")
    assert listed.endswith('kind: List\nmetadata:\n  resourceVersion: ""\n')
    assert decode_text(listed) == [a, b]


def test_json_is_printed_like_kubectl() -> None:
    ns = Namespace(ObjectMeta(name="n", annotations={"html": "<a&b>"}))
    assert to_json(ns) == textwrap.dedent("""\
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "annotations": {
                    "html": "\\u003ca\\u0026b\\u003e"
                },
                "name": "n"
            },
            "spec": {},
            "status": {}
        }
        """)
    assert json.loads(to_json([ns]))["kind"] == "List"
    assert json.loads(to_json(ns, as_list=True))["items"] == [to_dict(ns)]


# -- round trip: hypothesis builds random valid objects of every kind -----------------------


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _tuples(strategy: st.SearchStrategy[Any], size: int = 2) -> st.SearchStrategy[Any]:
    return st.lists(strategy, max_size=size).map(tuple)


# Go cannot tell a plain field's zero value from "unset", so a valid object holds None there:
# non-empty words, non-zero numbers and True for those fields; anything for pointers.
TEXT = st.text(max_size=5)
WORD = st.text(min_size=1, max_size=5)
I32 = st.integers(-(2**31), 2**31 - 1)
NZ32 = I32.filter(bool)
I64 = st.integers(-(2**63), 2**63 - 1)
NZ64 = I64.filter(bool)
TRUE = st.none() | st.just(True)
BOOL = _opt(st.booleans())
MAP = st.dictionaries(TEXT, TEXT, max_size=2)
NONEMPTY_MAP = st.dictionaries(TEXT, TEXT, min_size=1, max_size=2)
TIME = st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
)
INT_OR_STRING = I32 | TEXT

META = st.builds(
    ObjectMeta,
    name=_opt(WORD),
    namespace=_opt(WORD),
    generate_name=_opt(WORD),
    labels=MAP,
    annotations=MAP,
    uid=_opt(WORD),
    resource_version=_opt(WORD),
    generation=_opt(NZ64),
    creation_timestamp=_opt(TIME),
    deletion_timestamp=_opt(TIME),
    deletion_grace_period_seconds=_opt(I64),
    owner_references=_tuples(
        st.builds(
            OwnerReference, TEXT, TEXT, TEXT, TEXT, controller=BOOL, block_owner_deletion=BOOL
        ),
        1,
    ),
    finalizers=_tuples(TEXT),
)
SERVICE = st.builds(
    Service,
    META,
    st.builds(
        ServiceSpec,
        type=_opt(WORD),
        selector=_opt(NONEMPTY_MAP),
        ports=_tuples(
            st.builds(
                ServicePort,
                port=I32,
                name=_opt(WORD),
                protocol=_opt(WORD),
                target_port=st.none() | NZ32 | TEXT,
                node_port=_opt(NZ32),
                app_protocol=_opt(TEXT),
            )
        ),
        cluster_ip=_opt(WORD),
        cluster_ips=_tuples(TEXT),
        ip_families=_tuples(TEXT),
        ip_family_policy=_opt(TEXT),
        external_ips=_tuples(TEXT),
        external_name=_opt(WORD),
        external_traffic_policy=_opt(WORD),
        internal_traffic_policy=_opt(TEXT),
        health_check_node_port=_opt(NZ32),
        session_affinity=_opt(WORD),
        client_ip_timeout_seconds=_opt(I32),
        load_balancer_ip=_opt(WORD),
        load_balancer_source_ranges=_tuples(TEXT),
        load_balancer_class=_opt(TEXT),
        allocate_load_balancer_node_ports=BOOL,
        publish_not_ready_addresses=TRUE,
        traffic_distribution=_opt(TEXT),
    ),
    st.builds(
        ServiceStatus,
        _tuples(
            st.builds(
                LoadBalancerIngress,
                ip=_opt(WORD),
                hostname=_opt(WORD),
                ip_mode=_opt(TEXT),
                ports=_tuples(st.builds(PortStatus, I32, TEXT, error=_opt(TEXT))),
            )
        ),
    ),
)
POD_SPEC = st.builds(
    PodSpec,
    containers=_tuples(
        st.builds(
            Container,
            TEXT,
            image=_opt(WORD),
            ports=_tuples(
                st.builds(
                    ContainerPort,
                    I32,
                    name=_opt(WORD),
                    protocol=_opt(WORD),
                    host_port=_opt(NZ32),
                )
            ),
            command=_tuples(TEXT),
            args=_tuples(TEXT),
        )
    ),
    node_name=_opt(WORD),
    node_selector=MAP,
    tolerations=_tuples(
        st.builds(
            Toleration,
            key=_opt(WORD),
            operator=_opt(WORD),
            value=_opt(WORD),
            effect=_opt(WORD),
            toleration_seconds=_opt(I64),
        ),
        1,
    ),
    hostname=_opt(WORD),
    subdomain=_opt(WORD),
    host_network=TRUE,
    termination_grace_period_seconds=_opt(I64),
)
POD = st.builds(
    Pod,
    META,
    POD_SPEC,
    st.builds(
        PodStatus,
        phase=_opt(WORD),
        pod_ip=_opt(WORD),
        pod_ips=_tuples(TEXT),
        host_ip=_opt(WORD),
        host_ips=_tuples(TEXT),
        conditions=_tuples(st.builds(PodCondition, TEXT, TEXT)),
    ),
)
NODE = st.builds(
    Node,
    META,
    st.builds(
        NodeSpec,
        pod_cidr=_opt(WORD),
        pod_cidrs=_tuples(TEXT),
        taints=_tuples(st.builds(Taint, TEXT, TEXT, value=_opt(WORD))),
        unschedulable=TRUE,
        provider_id=_opt(WORD),
    ),
    st.builds(
        NodeStatus,
        addresses=_tuples(st.builds(NodeAddress, TEXT, TEXT)),
        conditions=_tuples(st.builds(NodeCondition, TEXT, TEXT)),
    ),
)
NAMESPACE = st.builds(Namespace, META, _opt(WORD))
SELECTOR = st.builds(
    LabelSelector,
    _opt(NONEMPTY_MAP),
    _tuples(st.builds(LabelSelectorRequirement, TEXT, TEXT, _tuples(TEXT))),
)
TEMPLATE = st.builds(PodTemplateSpec, META, POD_SPEC)
DEPLOYMENT = st.builds(
    Deployment,
    META,
    st.builds(
        DeploymentSpec,
        replicas=_opt(I32),
        selector=_opt(SELECTOR),
        template=TEMPLATE,
        strategy=_opt(
            st.builds(
                DeploymentStrategy,
                type=_opt(WORD),
                max_surge=_opt(INT_OR_STRING),
                max_unavailable=_opt(INT_OR_STRING),
            ).filter(lambda s: s != DeploymentStrategy())
        ),
        min_ready_seconds=_opt(NZ32),
        revision_history_limit=_opt(I32),
    ),
    st.builds(
        WorkloadStatus,
        replicas=_opt(NZ32),
        ready_replicas=_opt(NZ32),
        available_replicas=_opt(NZ32),
        updated_replicas=_opt(NZ32),
        observed_generation=_opt(NZ64),
    ),
)
REPLICA_SET = st.builds(
    ReplicaSet,
    META,
    st.builds(
        ReplicaSetSpec,
        replicas=_opt(I32),
        selector=_opt(SELECTOR),
        template=TEMPLATE,
        min_ready_seconds=_opt(NZ32),
    ),
    # A ReplicaSet's status has no updatedReplicas, and always writes replicas.
    st.builds(
        WorkloadStatus,
        replicas=I32,
        ready_replicas=_opt(NZ32),
        available_replicas=_opt(NZ32),
        observed_generation=_opt(NZ64),
    ),
)
REFERENCE = st.builds(
    ObjectReference,
    kind=_opt(WORD),
    namespace=_opt(WORD),
    name=_opt(WORD),
    uid=_opt(WORD),
    api_version=_opt(WORD),
    resource_version=_opt(WORD),
)
ENDPOINT_SLICE = st.builds(
    EndpointSlice,
    META,
    TEXT,
    _tuples(
        st.builds(
            Endpoint,
            _tuples(TEXT),
            st.builds(EndpointConditions, BOOL, BOOL, BOOL),
            hostname=_opt(TEXT),
            target_ref=_opt(REFERENCE),
            node_name=_opt(TEXT),
            zone=_opt(TEXT),
            hints=_opt(st.builds(EndpointHints, _tuples(TEXT), _tuples(TEXT))),
            deprecated_topology=MAP,
        )
    ),
    _tuples(
        st.builds(
            EndpointPort,
            name=_opt(TEXT),
            protocol=_opt(TEXT),
            port=_opt(I32),
            app_protocol=_opt(TEXT),
        )
    ),
)
ADDRESS = st.builds(
    EndpointAddress, TEXT, hostname=_opt(WORD), node_name=_opt(TEXT), target_ref=_opt(REFERENCE)
)
ENDPOINTS = st.builds(
    Endpoints,
    META,
    _tuples(
        st.builds(
            EndpointSubset,
            _tuples(ADDRESS),
            _tuples(ADDRESS),
            # The legacy port: a plain name and a port that is always written.
            _tuples(
                st.builds(
                    EndpointPort,
                    name=_opt(WORD),
                    protocol=_opt(WORD),
                    port=I32,
                    app_protocol=_opt(TEXT),
                )
            ),
        )
    ),
)
KINDS: dict[str, st.SearchStrategy[Any]] = {
    "Service": SERVICE,
    "Pod": POD,
    "Node": NODE,
    "Namespace": NAMESPACE,
    "Deployment": DEPLOYMENT,
    "ReplicaSet": REPLICA_SET,
    "EndpointSlice": ENDPOINT_SLICE,
    "Endpoints": ENDPOINTS,
}
ROUND_TRIP = settings(
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _round_trip_test(kind: str) -> Callable[[], None]:
    @ROUND_TRIP
    @given(KINDS[kind])
    def test(resource: Resource) -> None:
        data = to_dict(resource)
        assert decode_dict(data) == resource
        assert decode_dict(json.loads(to_json(resource))) == resource
        assert data["kind"] == kind

    test.__name__ = f"test_round_trip_{kind.lower()}"
    return test


for _kind in KINDS:
    globals()[f"test_round_trip_{_kind.lower()}"] = _round_trip_test(_kind)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.one_of(*KINDS.values()))
def test_round_trip_through_yaml_text(resource: Resource) -> None:
    assert decode_text(to_yaml(resource)) == [resource]
