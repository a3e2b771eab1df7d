"""v1 defaulting, row by row of reference §4.1 (SetDefaults_Service) and the other kinds."""

from __future__ import annotations

import textwrap

import pytest

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
from k8s_service_lab.api.decode import decode_text
from k8s_service_lab.api.defaults import (
    default_deployment,
    default_endpoint_slice,
    default_endpoints,
    default_namespace,
    default_object,
    default_pod,
    default_replica_set,
    default_service,
    with_namespace,
)
from k8s_service_lab.api.encode import to_dict
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.service import LoadBalancerIngress, ServiceStatus


def _one(text: str) -> Resource:
    [resource] = decode_text(textwrap.dedent(text))
    return resource


def _service(spec: str, status: str = "") -> Service:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: " + spec + "\n"
    if status:
        text += "status: " + status + "\n"
    svc = _one(text)
    assert isinstance(svc, Service)
    return default_service(svc)


def test_the_worked_example_of_reference_4_1() -> None:
    svc = _service("{selector: {app: web}, ports: [{port: 80}]}")
    stored = to_dict(svc)
    # clusterIP(s), ipFamilies and ipFamilyPolicy come from the registry, not from defaulting.
    assert stored["spec"] == {
        "internalTrafficPolicy": "Cluster",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "selector": {"app": "web"},
        "sessionAffinity": "None",
        "type": "ClusterIP",
    }
    assert stored["status"] == {"loadBalancer": {}}


def test_the_worked_example_as_node_port_and_load_balancer() -> None:
    node_port = _service("{type: NodePort, selector: {app: web}, ports: [{port: 80}]}").spec
    assert node_port.external_traffic_policy == "Cluster"
    assert node_port.allocate_load_balancer_node_ports is None
    lb = _service("{type: LoadBalancer, selector: {app: web}, ports: [{port: 80}]}").spec
    assert (lb.external_traffic_policy, lb.allocate_load_balancer_node_ports) == ("Cluster", True)
    assert lb.health_check_node_port is None  # allocated by the registry, and only for Local


# -- spec.type ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("{}", "ClusterIP"), ('{type: ""}', "ClusterIP"), ("{type: NodePort}", "NodePort")],
)
def test_type(spec: str, expected: str) -> None:
    assert _service(spec).spec.type == expected


# -- sessionAffinity and its config --------------------------------------------------------


def test_session_affinity_defaults_to_none_and_drops_the_config() -> None:
    spec = _service("{sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}}").spec
    assert (spec.session_affinity, spec.client_ip_timeout_seconds) == ("None", None)
    spec = _service(
        "{sessionAffinity: None, sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}}"
    ).spec
    assert spec.client_ip_timeout_seconds is None


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("", 10800),
        (", sessionAffinityConfig: {}", 10800),
        (", sessionAffinityConfig: {clientIP: {}}", 10800),
        (", sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}", 60),
        (", sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}", 0),  # validation's job
    ],
)
def test_client_ip_timeout(config: str, expected: int) -> None:
    spec = _service("{sessionAffinity: ClientIP" + config + "}").spec
    assert (spec.session_affinity, spec.client_ip_timeout_seconds) == ("ClientIP", expected)


def test_an_unknown_affinity_is_left_to_validation() -> None:
    spec = _service(
        "{sessionAffinity: Sticky, sessionAffinityConfig: {clientIP: {timeoutSeconds: 5}}}"
    ).spec
    assert (spec.session_affinity, spec.client_ip_timeout_seconds) == ("Sticky", 5)


# -- ports ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "protocol", "target"),
    [
        ("{port: 80}", "TCP", 80),
        ("{port: 80, protocol: UDP}", "UDP", 80),
        ("{port: 80, protocol: HTTP}", "HTTP", 80),  # refused later, by validation
        ("{port: 80, targetPort: 0}", "TCP", 80),
        ('{port: 80, targetPort: ""}', "TCP", 80),
        ("{port: 80, targetPort: 8080}", "TCP", 8080),
        ("{port: 80, targetPort: http}", "TCP", "http"),
        ('{port: 80, targetPort: "8080"}', "TCP", "8080"),  # a string stays a string
    ],
)
def test_ports(port: str, protocol: str, target: object) -> None:
    [p] = _service("{ports: [" + port + "]}").spec.ports
    assert (p.protocol, p.target_port) == (protocol, target)


# -- traffic policies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "external", "internal"),
    [
        ("{}", None, "Cluster"),
        ("{type: ClusterIP, externalIPs: [203.0.113.7]}", "Cluster", "Cluster"),
        ("{type: NodePort}", "Cluster", "Cluster"),
        ("{type: LoadBalancer}", "Cluster", "Cluster"),
        ("{type: ExternalName, externalName: example.com}", None, None),
        ("{type: LoadBalancer, externalTrafficPolicy: Local}", "Local", "Cluster"),
        ("{type: NodePort, internalTrafficPolicy: Local}", "Cluster", "Local"),
        ("{type: ExternalName, internalTrafficPolicy: Local}", None, "Local"),
        ("{externalTrafficPolicy: Local}", "Local", "Cluster"),  # refused later, by validation
    ],
)
def test_traffic_policies(spec: str, external: str | None, internal: str | None) -> None:
    s = _service(spec).spec
    assert (s.external_traffic_policy, s.internal_traffic_policy) == (external, internal)


# -- allocateLoadBalancerNodePorts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("{type: LoadBalancer}", True),
        ("{type: LoadBalancer, allocateLoadBalancerNodePorts: false}", False),
        ("{type: NodePort}", None),
        ("{}", None),
    ],
)
def test_allocate_load_balancer_node_ports(spec: str, expected: bool | None) -> None:
    assert _service(spec).spec.allocate_load_balancer_node_ports is expected


# -- status.loadBalancer.ingress[].ipMode --------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "ingress", "expected"),
    [
        ("{type: LoadBalancer}", "{ip: 172.18.0.5}", "VIP"),
        ("{type: LoadBalancer}", "{ip: 172.18.0.5, ipMode: Proxy}", "Proxy"),
        ("{type: LoadBalancer}", "{hostname: lb.example.com}", None),
        ("{type: NodePort}", "{ip: 172.18.0.5}", None),
    ],
)
def test_ingress_ip_mode(spec: str, ingress: str, expected: str | None) -> None:
    svc = _service(spec, "{loadBalancer: {ingress: [" + ingress + "]}}")
    assert svc.status.load_balancer_ingress[0].ip_mode == expected


# -- what defaulting leaves alone -----------------------------------------------------------


def test_registry_fields_are_not_defaulted() -> None:
    spec = _service("{type: NodePort, ports: [{port: 80}]}").spec
    assert (spec.cluster_ip, spec.cluster_ips, spec.ip_families, spec.ip_family_policy) == (
        None,
        (),
        (),
        None,
    )
    assert spec.ports[0].node_port is None


def test_defaulting_is_pure_and_idempotent() -> None:
    raw = _one(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"
    )
    assert isinstance(raw, Service)
    once = default_service(raw)
    assert raw.spec.type is None
    assert raw.spec.ports[0].protocol is None
    assert default_service(once) == once
    status = ServiceStatus((LoadBalancerIngress(ip="1.2.3.4"),))
    lb = default_service(Service(ObjectMeta(name="x"), once.spec, status))
    assert default_service(lb) == lb


# -- the other kinds ------------------------------------------------------------------------

POD = """
apiVersion: v1
kind: Pod
metadata: {name: web-0}
spec:
  hostNetwork: HOST
  containers:
  - name: web
    ports: [{containerPort: 8080}, {containerPort: 9090, protocol: UDP, hostPort: 19090}]
"""


def test_pod() -> None:
    pod = _one(POD.replace("HOST", "false"))
    assert isinstance(pod, Pod)
    spec = default_pod(pod).spec
    assert [(p.protocol, p.host_port) for p in spec.containers[0].ports] == [
        ("TCP", None),
        ("UDP", 19090),
    ]
    assert spec.termination_grace_period_seconds == 30


def test_host_network_pods_get_host_ports() -> None:
    pod = _one(POD.replace("HOST", "true"))
    assert isinstance(pod, Pod)
    ports = default_pod(pod).spec.containers[0].ports
    assert [p.host_port for p in ports] == [8080, 19090]


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      hostNetwork: true
      containers: [{name: web, ports: [{containerPort: 8080}]}]
"""


def test_deployment() -> None:
    d = _one(DEPLOYMENT)
    assert isinstance(d, Deployment)
    spec = default_deployment(d).spec
    assert spec.replicas == 1
    assert spec.strategy is not None
    assert (spec.strategy.type, spec.strategy.max_surge, spec.strategy.max_unavailable) == (
        "RollingUpdate",
        "25%",
        "25%",
    )
    assert spec.revision_history_limit == 10
    [port] = spec.template.spec.containers[0].ports
    # Templates get the pod spec's defaults, but not the hostNetwork host ports (a Pod's).
    assert (port.protocol, port.host_port) == ("TCP", None)
    assert spec.template.spec.termination_grace_period_seconds == 30


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("{type: Recreate}", ("Recreate", None, None)),
        ("{rollingUpdate: {maxSurge: 1}}", ("RollingUpdate", 1, "25%")),
        ("{type: RollingUpdate, rollingUpdate: {maxUnavailable: 0}}", ("RollingUpdate", "25%", 0)),
    ],
)
def test_deployment_strategies(strategy: str, expected: tuple[object, ...]) -> None:
    d = _one(
        DEPLOYMENT.replace(
            "spec:\n  selector", f"spec:\n  strategy: {strategy}\n  replicas: 0\n  selector"
        )
    )
    assert isinstance(d, Deployment)
    spec = default_deployment(d).spec
    assert spec.strategy is not None
    assert (spec.strategy.type, spec.strategy.max_surge, spec.strategy.max_unavailable) == expected
    assert spec.replicas == 0  # a pointer: an explicit 0 is kept


def test_replica_set() -> None:
    rs = _one(DEPLOYMENT.replace("Deployment", "ReplicaSet"))
    assert isinstance(rs, ReplicaSet)
    spec = default_replica_set(rs).spec
    assert spec.replicas == 1
    assert spec.template.spec.containers[0].ports[0].protocol == "TCP"


def test_namespace() -> None:
    ns = _one("apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n")
    assert isinstance(ns, Namespace)
    assert default_namespace(ns).phase == "Active"
    terminating = default_namespace(default_namespace(ns).__class__(ns.metadata, "Terminating"))
    assert terminating.phase == "Terminating"


def test_endpoint_slice_ports() -> None:
    eps = _one("""
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc12}
addressType: IPv4
ports: [{port: 8080}, {name: dns, port: 53, protocol: UDP}, {name: "", protocol: ""}]
""")
    assert isinstance(eps, EndpointSlice)
    ports = default_endpoint_slice(eps).ports
    assert [(p.name, p.protocol) for p in ports] == [("", "TCP"), ("dns", "UDP"), ("", "")]


def test_endpoints_ports() -> None:
    ep = _one("""
apiVersion: v1
kind: Endpoints
metadata: {name: web}
subsets: [{addresses: [{ip: 10.244.1.5}], ports: [{port: 8080}, {port: 53, protocol: UDP}]}]
""")
    assert isinstance(ep, Endpoints)
    ports = default_endpoints(ep).subsets[0].ports
    assert [p.protocol for p in ports] == ["TCP", "UDP"]


def test_default_object_dispatches_on_the_kind() -> None:
    svc = _one("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
    node = _one("apiVersion: v1\nkind: Node\nmetadata: {name: kind-worker}\n")
    assert isinstance(svc, Service)
    assert isinstance(node, Node)
    assert default_object(svc) == default_service(svc)
    assert default_object(node) is node
    d = _one(DEPLOYMENT)
    assert isinstance(d, Deployment)
    assert default_object(d) == default_deployment(d)


def test_with_namespace() -> None:
    svc = _one("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
    assert with_namespace(svc).metadata.namespace == "default"
    assert with_namespace(svc, "demo").metadata.namespace == "demo"
    placed = with_namespace(svc, "demo")
    assert with_namespace(placed, "other").metadata.namespace == "demo"  # the manifest wins
    assert svc.metadata.namespace is None  # a new object; the old one is untouched
    node = _one("apiVersion: v1\nkind: Node\nmetadata: {name: n1, namespace: demo}\n")
    assert with_namespace(node, "demo").metadata.namespace is None  # cluster-scoped
