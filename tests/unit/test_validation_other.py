"""Validation of Pods, Deployments, ReplicaSets, EndpointSlices, Endpoints, Namespaces, Nodes
and ``metadata``, with upstream's messages written out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k8s_service_lab.api.discovery import (
    Endpoint,
    EndpointAddress,
    EndpointHints,
    EndpointPort,
    Endpoints,
    EndpointSlice,
    EndpointSubset,
)
from k8s_service_lab.api.meta import ObjectMeta, OwnerReference
from k8s_service_lab.api.node import Namespace, Node, NodeSpec
from k8s_service_lab.api.pod import Container, ContainerPort, Pod, PodSpec, PodTemplateSpec
from k8s_service_lab.api.validation import check, validate, validate_update
from k8s_service_lab.api.validation.meta import NAME_RULES, validate_object_meta
from k8s_service_lab.api.validation.names import name_is_dns_subdomain
from k8s_service_lab.api.workloads import Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec
from k8s_service_lab.errors import ValidationError
from k8s_service_lab.field import FieldError
from k8s_service_lab.labels import LabelSelector, LabelSelectorRequirement
from tests.unit.upstream_messages import DNS1123_LABEL, IP, LABEL_VALUE, NAME_PART, SUBDOMAIN


def errors_of(resource: Any) -> list[str]:
    return [str(e) for e in validate(resource)]


# -- Pods ------------------------------------------------------------------------------------


def cport(number: int = 8080, **overrides: Any) -> ContainerPort:
    fields: dict[str, Any] = {"container_port": number, "protocol": "TCP"}
    fields.update(overrides)
    return ContainerPort(**fields)


def container(name: str = "web", *ports: ContainerPort, image: str | None = "nginx") -> Container:
    return Container(name, image=image, ports=ports)


def pod(*containers: Container, name: str = "web-0", **spec: Any) -> Pod:
    return Pod(
        ObjectMeta(name=name, namespace="default", labels={"app": "web"}),
        PodSpec(containers=containers or (container("web", cport(name="http")),), **spec),
    )


POD_FAILING = [
    pytest.param(
        pod(container("web", cport(8080, name="http"), cport(8081, name="http"))),
        ['spec.containers[0].ports[1].name: Duplicate value: "http"'],
        id="duplicate-port-name",
    ),
    pytest.param(
        Pod(ObjectMeta(name="p", namespace="default")),
        ["spec.containers: Required value"],
        id="no-containers",
    ),
    pytest.param(
        pod(container("Web")),
        ['spec.containers[0].name: Invalid value: "Web": ' + DNS1123_LABEL],
        id="container-name-not-label",
    ),
    pytest.param(
        pod(container(""), container("")),
        [
            "spec.containers[0].name: Required value",
            "spec.containers[1].name: Required value",
            'spec.containers[1].name: Duplicate value: ""',
        ],
        id="container-names-missing",
    ),
    pytest.param(
        pod(container("web"), container("web")),
        ['spec.containers[1].name: Duplicate value: "web"'],
        id="container-names-duplicate",
    ),
    pytest.param(
        pod(container("web", image=None)),
        ["spec.containers[0].image: Required value"],
        id="image-missing",
    ),
    pytest.param(
        pod(container("web", cport(0))),
        ["spec.containers[0].ports[0].containerPort: Required value"],
        id="container-port-missing",
    ),
    pytest.param(
        pod(container("web", cport(70000, host_port=70001))),
        [
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[0].hostPort: Invalid value: 70001: must be between 1 and 65535, inclusive",
        ],
        id="port-numbers",
    ),
    pytest.param(
        pod(container("web", cport(name="web_http"))),
        [
            'spec.containers[0].ports[0].name: Invalid value: "web_http": '
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
        ],
        id="port-name-iana",
    ),
    pytest.param(
        pod(container("web", cport(protocol="HTTP"))),
        [
            'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'
        ],
        id="port-protocol",
    ),
    pytest.param(
        pod(container("web", cport(protocol=None))),
        ["spec.containers[0].ports[0].protocol: Required value"],
        id="port-protocol-missing",
    ),
    pytest.param(
        pod(container("a", cport(80, host_port=8080)), container("b", cport(81, host_port=8080))),
        ['spec.containers[1].ports[0].hostPort: Duplicate value: "/TCP/8080"'],
        id="host-port-conflict",
    ),
    pytest.param(
        pod(container("web", cport(80, host_port=8080)), host_network=True),
        [
            "spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true"
        ],
        id="host-network-port-mismatch",
    ),
    pytest.param(
        pod(node_name="Node_1"),
        ['spec.nodeName: Invalid value: "Node_1": ' + SUBDOMAIN],
        id="node-name",
    ),
    pytest.param(
        pod(hostname="web.0"),
        ['spec.hostname: Invalid value: "web.0": must not contain dots'],
        id="hostname",
    ),
    pytest.param(
        pod(subdomain="Web"),
        ['spec.subdomain: Invalid value: "Web": ' + DNS1123_LABEL],
        id="subdomain",
    ),
    pytest.param(
        pod(node_selector={"zone": "a b"}),
        ['spec.nodeSelector: Invalid value: "a b": ' + LABEL_VALUE],
        id="node-selector",
    ),
    pytest.param(
        pod(name="Web-0"), ['metadata.name: Invalid value: "Web-0": ' + SUBDOMAIN], id="pod-name"
    ),
]


@pytest.mark.parametrize(("resource", "expected"), POD_FAILING)
def test_pod_rejects(resource: Pod, expected: list[str]) -> None:
    assert errors_of(resource) == expected


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param(pod(), id="plain"),
        pytest.param(pod(name="web.default.0"), id="subdomain-name"),
        pytest.param(
            pod(container("a", cport(name="http")), container("b", cport(name="http"))),
            id="same-port-name-two-containers",
        ),
        pytest.param(
            pod(container("web", cport(8080, host_port=8080)), host_network=True), id="host-network"
        ),
        pytest.param(
            pod(hostname="web-0", subdomain="web", node_name="kind-worker"), id="dns-names"
        ),
        pytest.param(
            pod(
                container("a", cport(80, host_port=8080)),
                container("b", cport(80, host_port=8080, protocol="UDP")),
            ),
            id="host-port-two-protocols",
        ),
    ],
)
def test_pod_accepts(resource: Pod) -> None:
    assert errors_of(resource) == []


def test_pod_message() -> None:
    with pytest.raises(ValidationError) as info:
        check(pod(container("web", cport(8080, name="http"), cport(8081, name="http"))))
    assert (
        str(info.value)
        == 'Pod "web-0" is invalid: spec.containers[0].ports[1].name: Duplicate value: "http"'
    )


# -- Deployments and ReplicaSets --------------------------------------------------------------


def template(labels: dict[str, str] | None = None, *containers: Container) -> PodTemplateSpec:
    return PodTemplateSpec(
        ObjectMeta(labels={"app": "x"} if labels is None else labels),
        PodSpec(containers=containers or (container("web", cport(name="http")),)),
    )


def deployment(**spec: Any) -> Deployment:
    fields: dict[str, Any] = {
        "replicas": 3,
        "selector": LabelSelector({"app": "x"}),
        "template": template(),
    }
    fields.update(spec)
    return Deployment(ObjectMeta(name="web", namespace="default"), DeploymentSpec(**fields))


def replica_set(**spec: Any) -> ReplicaSet:
    fields: dict[str, Any] = {
        "replicas": 3,
        "selector": LabelSelector({"app": "x"}),
        "template": template(),
    }
    fields.update(spec)
    return ReplicaSet(ObjectMeta(name="web-5d9c7", namespace="default"), ReplicaSetSpec(**fields))


MISMATCH = 'spec.template.metadata.labels: Invalid value: {"app":"x"}: `selector` does not match template `labels`'

DEPLOYMENT_FAILING = [
    pytest.param(
        deployment(selector=None),
        ["spec.selector: Required value", MISMATCH],
        id="selector-missing",
    ),
    pytest.param(
        deployment(selector=LabelSelector({"app": "y"})), [MISMATCH], id="selector-mismatch"
    ),
    pytest.param(
        deployment(replicas=-1),
        ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
        id="replicas",
    ),
    pytest.param(
        deployment(selector=LabelSelector({})),
        ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"],
        id="empty-selector",
    ),
    pytest.param(
        deployment(selector=LabelSelector({"app": "a b"})),
        [
            'spec.selector.matchLabels: Invalid value: "a b": ' + LABEL_VALUE,
            # LabelSelectorAsSelector re-validates values, so the conversion fails too.
            'spec.selector: Invalid value: {"matchLabels":{"app":"a b"}}: invalid label selector',
        ],
        id="selector-bad-value",
    ),
    pytest.param(
        deployment(
            selector=LabelSelector({"app": "x"}, (LabelSelectorRequirement("tier", "Foo", ("a",)),))
        ),
        [
            'spec.selector.matchExpressions[0].operator: Invalid value: "Foo": not a valid selector operator',
            'spec.selector: Invalid value: {"matchLabels":{"app":"x"},"matchExpressions":[{"key":"tier","operator":"Foo","values":["a"]}]}: invalid label selector',
        ],
        id="selector-bad-operator",
    ),
    pytest.param(
        deployment(template=template({"app": "x", "bad key": "v"})),
        ['spec.template.labels: Invalid value: "bad key": ' + NAME_PART],
        id="template-labels",
    ),
    pytest.param(
        deployment(template=template({}, container("web"))),
        [
            "spec.template.metadata.labels: Invalid value: null: `selector` does not match template `labels`"
        ],
        id="template-without-labels",
    ),
    pytest.param(
        deployment(template=template(None, container("Web"))),
        ['spec.template.spec.containers[0].name: Invalid value: "Web": ' + DNS1123_LABEL],
        id="template-spec",
    ),
    pytest.param(
        deployment(min_ready_seconds=-1, revision_history_limit=-2),
        [
            "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0",
            "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
        ],
        id="counters",
    ),
]


@pytest.mark.parametrize(("resource", "expected"), DEPLOYMENT_FAILING)
def test_deployment_rejects(resource: Deployment, expected: list[str]) -> None:
    assert errors_of(resource) == expected


def test_deployment_message() -> None:
    with pytest.raises(ValidationError) as info:
        check(deployment(selector=LabelSelector({"app": "y"})))
    assert str(info.value) == 'Deployment.apps "web" is invalid: ' + MISMATCH


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param(deployment(), id="plain"),
        pytest.param(deployment(replicas=0), id="zero-replicas"),
        pytest.param(
            deployment(
                selector=LabelSelector(None, (LabelSelectorRequirement("app", "In", ("x", "y")),))
            ),
            id="expression",
        ),
        pytest.param(
            deployment(template=template({"app": "x", "pod-template-hash": "5d9c7"})),
            id="extra-template-labels",
        ),
    ],
)
def test_deployment_accepts(resource: Deployment) -> None:
    assert errors_of(resource) == []


def test_replica_set_checks_min_ready_before_selector() -> None:
    assert errors_of(replica_set(selector=None, min_ready_seconds=-1)) == [
        "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0",
        "spec.selector: Required value",
        MISMATCH,
    ]
    assert errors_of(replica_set()) == []
    with pytest.raises(ValidationError) as info:
        check(replica_set(replicas=-1))
    assert str(info.value) == (
        'ReplicaSet.apps "web-5d9c7" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )


def test_workload_selector_is_immutable() -> None:
    old = deployment()
    new = deployment(
        selector=LabelSelector({"app": "x", "tier": "fe"}),
        template=template({"app": "x", "tier": "fe"}),
    )
    assert [str(e) for e in validate_update(new, old)] == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"x","tier":"fe"}}: field is immutable'
    ]
    assert validate_update(deployment(replicas=5), old) == []
    rs_old = replica_set()
    assert [
        str(e) for e in validate_update(replica_set(selector=LabelSelector({"a": "b"})), rs_old)
    ] == [
        MISMATCH,
        'spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: field is immutable',
    ]


# -- EndpointSlices and Endpoints ---------------------------------------------------------------


def eslice(
    address_type: str = "IPv4", *endpoints: Endpoint, ports: tuple[EndpointPort, ...] | None = None
) -> EndpointSlice:
    return EndpointSlice(
        ObjectMeta(
            name="web-abc12", namespace="default", labels={"kubernetes.io/service-name": "web"}
        ),
        address_type,
        endpoints or (Endpoint(("10.244.1.3",)),),
        (EndpointPort("http", "TCP", 8080),) if ports is None else ports,
    )


SLICE_FAILING = [
    pytest.param(
        eslice("IP"),
        ['addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"'],
        id="address-type-ip",
    ),
    pytest.param(eslice(""), ["addressType: Required value"], id="address-type-missing"),
    pytest.param(
        eslice("IPv4", Endpoint(())),
        ["endpoints[0].addresses: Required value: must contain at least 1 address"],
        id="no-address",
    ),
    pytest.param(
        eslice("IPv4", Endpoint(("10.0.0.1",) * 101)),
        ["endpoints[0].addresses: Too many: 101: must have at most 100 items"],
        id="too-many-addresses",
    ),
    pytest.param(
        eslice("IPv4", *([Endpoint(("10.0.0.1",))] * 1001)),
        ["endpoints: Too many: 1001: must have at most 1000 items"],
        id="too-many-endpoints",
    ),
    pytest.param(
        eslice("IPv4", Endpoint(("10.0.0.300",))),
        ['endpoints[0].addresses[0]: Invalid value: "10.0.0.300": ' + IP],
        id="bad-ipv4",
    ),
    pytest.param(
        eslice("IPv4", Endpoint(("fd00::1",))),
        ['endpoints[0].addresses: Invalid value: "fd00::1": must be an IPv4 address'],
        id="ipv6-in-ipv4-slice",
    ),
    pytest.param(
        eslice("IPv6", Endpoint(("10.0.0.1",))),
        ['endpoints[0].addresses: Invalid value: "10.0.0.1": must be an IPv6 address'],
        id="ipv4-in-ipv6-slice",
    ),
    pytest.param(
        eslice("IPv6", Endpoint(("FD00::1",))),
        [
            'endpoints[0].addresses[0]: Invalid value: "FD00::1": must be in canonical form ("fd00::1")'
        ],
        id="ipv6-not-canonical",
    ),
    pytest.param(
        eslice("IPv6", Endpoint(("fe80::1",))),
        [
            'endpoints[0].addresses[0]: Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'
        ],
        id="ipv6-link-local",
    ),
    pytest.param(
        eslice("FQDN", Endpoint(("localhost",))),
        [
            'endpoints[0].addresses[0]: Invalid value: "localhost": should be a domain with at least two segments separated by dots'
        ],
        id="fqdn-one-label",
    ),
    pytest.param(
        eslice("IPv4", Endpoint(("10.0.0.1",), node_name="Node_1", hostname="web.0")),
        [
            'endpoints[0].nodeName: Invalid value: "Node_1": ' + SUBDOMAIN,
            'endpoints[0].hostname: Invalid value: "web.0": must not contain dots',
        ],
        id="node-and-host-names",
    ),
    pytest.param(
        eslice(
            "IPv4",
            Endpoint(("10.0.0.1",), deprecated_topology={"topology.kubernetes.io/zone": "a"}),
        ),
        [
            "endpoints[0].deprecatedTopology[topology.kubernetes.io/zone]: Internal error: reserved key was not removed in conversion"
        ],
        id="reserved-topology-key",
    ),
    pytest.param(
        eslice(
            "IPv4", Endpoint(("10.0.0.1",), hints=EndpointHints(("a", "a", "b c"), ("n1", "N2")))
        ),
        [
            'endpoints[0].hints.forZones[1].name: Duplicate value: "a"',
            'endpoints[0].hints.forZones[2].name: Invalid value: "b c": ' + LABEL_VALUE,
            'endpoints[0].hints.forNodes[1].name: Invalid value: "N2": ' + SUBDOMAIN,
        ],
        id="hints",
    ),
    pytest.param(
        eslice(ports=(EndpointPort("http", "TCP", 80), EndpointPort("http", "UDP", 80))),
        ['ports[1].name: Duplicate value: "http"'],
        id="duplicate-port-name",
    ),
    pytest.param(
        eslice(ports=(EndpointPort(None, "TCP", 80), EndpointPort("", "TCP", 81))),
        ['ports[1].name: Duplicate value: ""'],
        id="two-unnamed-ports",
    ),
    pytest.param(
        eslice(ports=(EndpointPort("HTTP", "HTTP", 80, app_protocol="a b"),)),
        [
            'ports[0].name: Invalid value: "HTTP": ' + DNS1123_LABEL,
            'ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
            'ports[0].appProtocol: Invalid value: "a b": ' + NAME_PART,
        ],
        id="port-fields",
    ),
    pytest.param(
        eslice(ports=(EndpointPort("http", None, 80),)),
        ["ports[0].protocol: Required value"],
        id="port-protocol-missing",
    ),
]


@pytest.mark.parametrize(("resource", "expected"), SLICE_FAILING)
def test_endpoint_slice_rejects(resource: EndpointSlice, expected: list[str]) -> None:
    assert errors_of(resource) == expected


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param(eslice(), id="plain"),
        pytest.param(eslice("IPv6", Endpoint(("fd00::1",))), id="ipv6"),
        pytest.param(eslice("FQDN", Endpoint(("db.example.com",))), id="fqdn"),
        pytest.param(eslice("IPv4", Endpoint(("010.0.0.1",))), id="leading-zero-ipv4-v134"),
        pytest.param(eslice(ports=()), id="no-ports"),
        pytest.param(
            eslice(ports=tuple(EndpointPort(f"p{i}", "TCP", 1000 + i) for i in range(101))),
            id="101-ports",
        ),
        pytest.param(
            eslice(
                "IPv4", Endpoint(("10.0.0.1",), hints=EndpointHints(("zone-a",), ("kind-worker",)))
            ),
            id="hints",
        ),
    ],
)
def test_endpoint_slice_accepts(resource: EndpointSlice) -> None:
    assert errors_of(resource) == []


def test_endpoint_slice_message_and_update() -> None:
    with pytest.raises(ValidationError) as info:
        check(eslice("IP"))
    assert str(info.value) == (
        'EndpointSlice.discovery.k8s.io "web-abc12" is invalid: '
        'addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"'
    )
    old = eslice("IPv4", Endpoint(("127.0.0.1",)))
    # Untouched endpoints are not re-judged on update; the address type may never change.
    assert validate_update(replace(old, ports=()), old) == []
    assert [str(e) for e in validate_update(replace(old, address_type="IPv6"), old)] == [
        'addressType: Invalid value: "IPv6": field is immutable'
    ]


def test_legacy_endpoints() -> None:
    good = Endpoints(
        ObjectMeta(name="web", namespace="default"),
        (
            EndpointSubset(
                (EndpointAddress("10.244.1.3"),), (), (EndpointPort("http", "TCP", 8080),)
            ),
        ),
    )
    assert errors_of(good) == []
    bad = Endpoints(
        ObjectMeta(name="web", namespace="default"),
        (
            EndpointSubset(),
            EndpointSubset(
                (EndpointAddress("127.0.0.1", hostname="A"),),
                (),
                (EndpointPort(None, "TCP", 80), EndpointPort("b", "TCP", 0)),
            ),
        ),
    )
    assert errors_of(bad) == [
        "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`",
        'subsets[1].addresses[0].hostname: Invalid value: "A": ' + DNS1123_LABEL,
        'subsets[1].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
        "subsets[1].ports[0].name: Required value",
        "subsets[1].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
    ]


# -- Namespaces and Nodes -------------------------------------------------------------------


def test_namespace() -> None:
    assert errors_of(Namespace(ObjectMeta(name="team-a"))) == []
    assert errors_of(Namespace(ObjectMeta(name="team.a"))) == [
        'metadata.name: Invalid value: "team.a": must not contain dots'
    ]
    assert errors_of(Namespace(ObjectMeta(name="Team"))) == [
        'metadata.name: Invalid value: "Team": ' + DNS1123_LABEL
    ]
    # The apiserver clears a cluster-scoped object's namespace before validating it.
    assert errors_of(Namespace(ObjectMeta(name="team-a", namespace="default"))) == []
    with pytest.raises(ValidationError) as info:
        check(Namespace(ObjectMeta(name="Team")))
    assert str(info.value).startswith(
        'Namespace "Team" is invalid: metadata.name: Invalid value: "Team": '
    )


def test_node() -> None:
    assert errors_of(Node(ObjectMeta(name="kind-worker"), NodeSpec(pod_cidr="10.244.1.0/24"))) == []
    assert (
        errors_of(
            Node(
                ObjectMeta(name="kind-worker"),
                NodeSpec(pod_cidrs=("10.244.1.0/24", "fd00:10:244:1::/64")),
            )
        )
        == []
    )
    assert errors_of(Node(ObjectMeta(name="Kind_Worker"))) == [
        'metadata.name: Invalid value: "Kind_Worker": ' + SUBDOMAIN
    ]
    assert errors_of(
        Node(
            ObjectMeta(name="n"),
            NodeSpec(pod_cidrs=("10.244.1.0/24", "10.244.2.0/24", "10.244.1.0/24")),
        )
    ) == [
        'spec.podCIDRs: Invalid value: ["10.244.1.0/24","10.244.2.0/24","10.244.1.0/24"]: may specify no more than one CIDR for each IP family',
        'spec.podCIDRs[2]: Duplicate value: "10.244.1.0/24"',
    ]
    assert errors_of(Node(ObjectMeta(name="n"), NodeSpec(pod_cidr="10.244.1.0"))) == [
        'spec.podCIDRs[0]: Invalid value: "10.244.1.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'
    ]


# -- metadata ---------------------------------------------------------------------------------


def meta_errors(meta: ObjectMeta, namespaced: bool = True) -> list[str]:
    return [
        str(e)
        for e in validate_object_meta(meta, namespaced=namespaced, name_fn=name_is_dns_subdomain)
    ]


def test_object_meta_rules() -> None:
    ok = ObjectMeta(name="web", namespace="default")
    assert meta_errors(ok) == []
    assert meta_errors(ObjectMeta(namespace="default")) == [
        "metadata.name: Required value: name or generateName is required"
    ]
    assert meta_errors(ObjectMeta(name="web")) == ["metadata.namespace: Required value"]
    assert meta_errors(ObjectMeta(name="web", namespace="Default")) == [
        'metadata.namespace: Invalid value: "Default": ' + DNS1123_LABEL
    ]
    assert meta_errors(ObjectMeta(name="web", namespace="default"), namespaced=False) == [
        "metadata.namespace: Forbidden: not allowed on this type"
    ]
    assert meta_errors(replace(ok, generate_name="web-")) == []
    assert meta_errors(replace(ok, generate_name="Web-")) == [
        'metadata.generateName: Invalid value: "Web-": ' + SUBDOMAIN
    ]
    assert meta_errors(replace(ok, generation=-1)) == [
        "metadata.generation: Invalid value: -1: must be greater than or equal to 0"
    ]
    assert meta_errors(replace(ok, labels={"app": "a b"})) == [
        'metadata.labels: Invalid value: "a b": ' + LABEL_VALUE
    ]


def test_annotations() -> None:
    ok = ObjectMeta(name="web", namespace="default")
    # Annotation keys are checked lower-cased: a capitalised prefix is fine.
    assert meta_errors(replace(ok, annotations={"Example.COM/Note": "x"})) == []
    assert meta_errors(replace(ok, annotations={"bad key": "x"})) == [
        'metadata.annotations: Invalid value: "bad key": ' + NAME_PART
    ]
    big = {"a": "x" * (256 * 1024)}
    assert meta_errors(replace(ok, annotations=big)) == [
        "metadata.annotations: Too long: may not be more than 262144 bytes"
    ]
    assert meta_errors(replace(ok, annotations={"a": "x" * (256 * 1024 - 1)})) == []


def test_owner_references_and_finalizers() -> None:
    ok = ObjectMeta(name="web", namespace="default")
    owner = OwnerReference("apps/v1", "ReplicaSet", "web-5d9c7", "uid-1", controller=True)
    assert meta_errors(replace(ok, owner_references=(owner,))) == []
    assert meta_errors(replace(ok, owner_references=(OwnerReference("", "", "", ""),))) == [
        'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
        'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
        'metadata.ownerReferences.name: Invalid value: "": must not be empty',
        'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
    ]
    second = OwnerReference("apps/v1", "ReplicaSet", "other", "uid-2", controller=True)
    assert meta_errors(replace(ok, owner_references=(owner, second))) == [
        "metadata.ownerReferences: Invalid value: "
        '[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d9c7","uid":"uid-1","controller":true},'
        '{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"other","uid":"uid-2","controller":true}]: '
        'Only one reference can have Controller set to true. Found "true" in references for ReplicaSet/web-5d9c7 and ReplicaSet/other'
    ]
    assert meta_errors(replace(ok, finalizers=("example.com/cleanup", "kubernetes"))) == []
    assert meta_errors(replace(ok, finalizers=("cleanup",))) == [
        'metadata.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified'
    ]
    assert meta_errors(replace(ok, finalizers=("orphan", "foregroundDeletion"))) == [
        'metadata.finalizers: Invalid value: ["orphan","foregroundDeletion"]: finalizer orphan and foregroundDeletion cannot be both set'
    ]


def test_name_rules_per_kind() -> None:
    assert NAME_RULES["Service"]("1web", False) != []
    assert NAME_RULES["Pod"]("1web.x", False) == []
    assert NAME_RULES["Namespace"]("a.b", False) == ["must not contain dots"]


# -- dispatch ---------------------------------------------------------------------------------


def test_dispatch_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        validate("not a resource")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        validate_update(pod(), Namespace(ObjectMeta(name="a")))  # type: ignore[arg-type]


def test_generic_updates() -> None:
    old = pod()
    assert validate_update(pod(hostname="web-0"), old) == []
    assert [str(e) for e in validate_update(pod(name="other"), old)] == [
        'metadata.name: Invalid value: "other": field is immutable'
    ]
    ns = Namespace(ObjectMeta(name="a"))
    assert [
        str(e) for e in validate_update(Namespace(ObjectMeta(name="a", labels={"x": "a b"})), ns)
    ] == ['metadata.labels: Invalid value: "a b": ' + LABEL_VALUE]


@given(
    name=st.text(max_size=30),
    port_name=st.none() | st.text(max_size=20),
    number=st.integers(min_value=-5, max_value=70000),
    address=st.text(max_size=20),
    address_type=st.sampled_from(["IPv4", "IPv6", "FQDN", "IP", ""]),
)
def test_random_objects_never_crash(
    name: str, port_name: str | None, number: int, address: str, address_type: str
) -> None:
    resources: list[Any] = [
        pod(container(name, cport(number, name=port_name)), hostname=name),
        deployment(template=template({"app": name})),
        eslice(
            address_type,
            Endpoint((address,), hostname=name),
            ports=(EndpointPort(port_name, "TCP", number),),
        ),
        Namespace(ObjectMeta(name=name)),
        Node(ObjectMeta(name=name), NodeSpec(pod_cidrs=(address,))),
    ]
    for resource in resources:
        assert all(isinstance(e, FieldError) for e in validate(resource))
