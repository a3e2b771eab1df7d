"""Decoding manifests: files, directories, documents, Lists, dicts, client objects — and every
error kubectl or the apiserver would print, with its file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from k8s_service_lab.api import (
    Deployment,
    Endpoints,
    EndpointSlice,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Service,
)
from k8s_service_lab.api.decode import (
    Manifest,
    decode_dict,
    decode_dict_entries,
    decode_object,
    decode_objects,
    decode_text,
    decode_text_entries,
    load_manifest_entries,
    load_manifests,
)
from k8s_service_lab.errors import DecodeError
from k8s_service_lab.labels import LabelSelector, LabelSelectorRequirement

DATA = Path(__file__).parent / "data" / "manifests"

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
"""


def _decode(text: str) -> list[object]:
    return list(decode_text(textwrap.dedent(text)))


def _error(text: str, source: str = "svc.yaml") -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_text(textwrap.dedent(text), source)
    return info.value


# -- what decodes ---------------------------------------------------------------------------


def test_a_service_decodes_without_defaults() -> None:
    [svc] = decode_text(SERVICE)
    assert isinstance(svc, Service)
    assert svc.metadata.name == "web"
    assert svc.metadata.namespace is None
    assert svc.spec.selector == {"app": "web"}
    port = svc.spec.ports[0]
    assert (port.port, port.target_port, port.protocol, port.name) == (80, 8080, None, None)
    assert svc.spec.type is None  # defaulting is a later step


@pytest.mark.parametrize(
    ("written", "decoded"),
    [("8080", 8080), ('"8080"', "8080"), ("http", "http"), ('""', ""), ("0", None)],
)
def test_int_or_string_keeps_what_was_written(written: str, decoded: object) -> None:
    [svc] = decode_text(SERVICE.replace("targetPort: 8080", f"targetPort: {written}"))
    assert svc.spec.ports[0].target_port == decoded
    assert type(svc.spec.ports[0].target_port) is type(decoded)


def test_status_is_decoded() -> None:
    [pod, svc] = _decode("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        status:
          phase: Running
          podIP: 10.244.1.5
          podIPs: [{ip: 10.244.1.5}, {ip: "fd00::5"}]
          conditions: [{type: Ready, status: "True", lastProbeTime: null}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: lb}
        spec: {type: LoadBalancer, ports: [{port: 80}]}
        status:
          loadBalancer:
            ingress: [{ip: 172.18.0.5, ipMode: Proxy, ports: [{port: 80, protocol: TCP}]}]
    """)
    assert isinstance(pod, Pod)
    assert isinstance(svc, Service)
    assert pod.status.ready
    assert pod.status.pod_ips == ("10.244.1.5", "fd00::5")
    [ingress] = svc.status.load_balancer_ingress
    assert (ingress.ip, ingress.ip_mode, ingress.ports[0].port) == ("172.18.0.5", "Proxy", 80)


def test_every_kind_decodes_from_the_fixtures() -> None:
    resources = load_manifests(DATA)
    kinds = [type(r).__name__ for r in resources]
    # Directory order is by file name: cluster-objects.json, kube-dns-*.yaml, web.yaml.
    assert kinds == [
        "Namespace",
        "Node",
        "Pod",
        "EndpointSlice",
        "Service",
        "Deployment",
        "Service",
    ]
    node = resources[1]
    assert isinstance(node, Node)
    assert node.internal_ips == ("172.18.0.3",)
    assert node.spec.pod_cidr == "10.244.1.0/24"


def test_real_fields_we_do_not_model_are_accepted() -> None:
    [deployment, _] = load_manifests(DATA / "web.yaml")
    assert isinstance(deployment, Deployment)
    spec = deployment.spec
    assert spec.selector == LabelSelector({"app": "web"})
    assert spec.strategy is not None
    assert (spec.strategy.type, spec.strategy.max_surge, spec.strategy.max_unavailable) == (
        "RollingUpdate",
        1,
        0,
    )
    [container] = spec.template.spec.containers
    assert container.args == ("netexec", "--http-port=8080")
    assert container.ports[0].name == "http"


def test_label_selector_expressions_and_replica_sets() -> None:
    [rs] = _decode("""
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: web-5d8f}
        spec:
          replicas: 2
          selector:
            matchExpressions:
            - {key: tier, operator: In, values: [fe, be]}
          template: {metadata: {labels: {tier: fe}}}
        status: {replicas: 2, readyReplicas: 1}
    """)
    assert isinstance(rs, ReplicaSet)
    assert rs.spec.selector == LabelSelector(
        None, (LabelSelectorRequirement("tier", "In", ("fe", "be")),)
    )
    assert (rs.status.replicas, rs.status.ready_replicas) == (2, 1)


def test_endpoints_and_endpoint_slices() -> None:
    [ep, eps] = _decode("""
        apiVersion: v1
        kind: Endpoints
        metadata: {name: web}
        subsets:
        - addresses: [{ip: 10.244.1.5, nodeName: kind-worker}]
          notReadyAddresses: [{ip: 10.244.2.7}]
          ports: [{port: 8080, name: http}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: web-abc12}
        addressType: IPv4
        endpoints:
        - addresses: [10.244.1.5]
          conditions: {ready: true}
          hints: {forZones: [{name: zone-a}]}
        ports: [{port: 8080, name: ""}]
    """)
    assert isinstance(ep, Endpoints)
    assert isinstance(eps, EndpointSlice)
    assert ep.subsets[0].addresses[0].node_name == "kind-worker"
    assert ep.subsets[0].ports[0].port == 8080
    assert eps.endpoints[0].conditions.ready is True
    assert eps.endpoints[0].conditions.serving is None
    assert eps.endpoints[0].hints is not None
    assert eps.endpoints[0].hints.for_zones == ("zone-a",)
    assert eps.ports[0].name == ""  # a pointer: "" is a value, not "unset"


def test_go_zero_values_read_as_unset() -> None:
    [svc] = _decode("""
        apiVersion: v1
        kind: Service
        metadata: {name: web, generation: 0}
        spec:
          selector: {}
          type: ""
          publishNotReadyAddresses: false
          allocateLoadBalancerNodePorts: false
          ports: [{port: 80, name: "", nodePort: 0}]
    """)
    assert svc.metadata.generation is None
    assert svc.spec.selector is None  # an empty selector is no selector (kubernetes#25836)
    assert svc.spec.type is None
    assert svc.spec.publish_not_ready_addresses is None
    assert svc.spec.allocate_load_balancer_node_ports is False  # a pointer keeps false
    assert (svc.spec.ports[0].name, svc.spec.ports[0].node_port) == (None, None)


def test_yaml_is_read_as_kubectl_reads_it() -> None:
    [svc] = _decode("""
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          annotations:
            stamp: 2025-09-01T10:00:00Z
            ratio: 1:30
            empty:
        spec:
          ports: [{port: 8_080, targetPort: 0x1F90}, {port: 80.0}]
    """)
    assert svc.metadata.annotations == {
        "stamp": "2025-09-01T10:00:00Z",
        "ratio": "1:30",
        "empty": "",
    }
    assert [p.port for p in svc.spec.ports] == [8080, 80]
    assert svc.spec.ports[0].target_port == 8080


def test_documents_lists_and_empty_documents(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(
        "---\n# only a comment\n---\n"
        + SERVICE
        + "---\nnull\n---\n"
        + "apiVersion: v1\nkind: ServiceList\nitems:\n"
        + "- {apiVersion: v1, kind: Service, metadata: {name: a}}\n"
        + "- apiVersion: v1\n  kind: List\n  items:\n"
        + "  - {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n"
    )
    entries = load_manifest_entries(path)
    assert [(e.resource.metadata.name, e.line, e.index) for e in entries] == [
        ("web", 4, 0),
        ("a", 20, 1),
        ("b", 24, 2),
    ]
    assert all(e.source == str(path) for e in entries)
    assert isinstance(entries[2], Manifest)
    assert isinstance(entries[2].resource, Namespace)


def test_directories_are_read_like_kubectl_without_recursion(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(SERVICE.replace("name: web", "name: b"))
    (tmp_path / "a.yaml").write_text(SERVICE.replace("name: web", "name: a"))
    (tmp_path / "c.json").write_text(
        '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}}'
    )
    (tmp_path / "notes.txt").write_text("not a manifest: [")
    (tmp_path / "upper.YAML").write_text("not read either: [")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.yaml").write_text(SERVICE)
    entries = load_manifest_entries(tmp_path)
    assert [e.resource.metadata.name for e in entries] == ["a", "b", "c"]
    assert entries[0].source == str(tmp_path / "a.yaml")
    # A file named on its own is read whatever its extension, and several paths add up.
    (tmp_path / "svc.txt").write_text(SERVICE)
    assert len(load_manifests(tmp_path / "svc.txt", tmp_path)) == 4


def test_byte_order_marks_are_honoured(tmp_path: Path) -> None:
    (tmp_path / "bom8.yaml").write_bytes(b"\xef\xbb\xbf" + SERVICE.encode())
    (tmp_path / "bom16.yaml").write_bytes(SERVICE.encode("utf-16"))
    assert [r.metadata.name for r in load_manifests(tmp_path)] == ["web", "web"]


def test_a_missing_path() -> None:
    with pytest.raises(DecodeError, match=r'^the path "nope.yaml" does not exist$'):
        load_manifests("nope.yaml")


def test_dicts() -> None:
    svc = decode_dict({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}})
    assert isinstance(svc, Service)
    assert svc.metadata.name == "x"
    items = {"apiVersion": "v1", "kind": "List", "items": [_namespace("a"), _namespace("b")]}
    assert [e.resource.metadata.name for e in decode_dict_entries(items)] == ["a", "b"]
    with pytest.raises(DecodeError, match="use decode_dict_entries"):
        decode_dict(items)
    # Non-string keys become strings as on kubectl's way to JSON.
    labelled = _namespace("n") | {"metadata": {"name": "n", "labels": {7: "x", True: "y"}}}
    assert decode_dict(labelled).metadata.labels == {"7": "x", "true": "y"}


def _namespace(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


# -- kubernetes client objects --------------------------------------------------------------


def test_kubernetes_client_objects() -> None:
    from kubernetes import client as k

    meta = k.V1ObjectMeta(name="web", namespace="demo", labels={"app": "web"})
    svc = k.V1Service(
        metadata=meta,
        spec=k.V1ServiceSpec(
            selector={"app": "web"},
            ports=[k.V1ServicePort(port=80, target_port="http", name="http")],
            session_affinity="ClientIP",
            session_affinity_config=k.V1SessionAffinityConfig(
                client_ip=k.V1ClientIPConfig(timeout_seconds=60)
            ),
        ),
    )
    template = k.V1PodTemplateSpec(
        metadata=k.V1ObjectMeta(labels={"app": "web"}),
        spec=k.V1PodSpec(
            containers=[
                k.V1Container(
                    name="web",
                    image="nginx",
                    ports=[k.V1ContainerPort(container_port=8080, name="http")],
                    liveness_probe=k.V1Probe(tcp_socket=k.V1TCPSocketAction(port="http")),
                )
            ]
        ),
    )
    selector = k.V1LabelSelector(match_labels={"app": "web"})
    deployment = k.V1Deployment(
        metadata=meta,
        spec=k.V1DeploymentSpec(
            selector=selector,
            template=template,
            strategy=k.V1DeploymentStrategy(
                rolling_update=k.V1RollingUpdateDeployment(max_surge="50%")
            ),
        ),
    )
    rs = k.V1ReplicaSet(
        metadata=meta, spec=k.V1ReplicaSetSpec(selector=selector, template=template)
    )
    pod = k.V1Pod(
        metadata=meta,
        spec=template.spec,
        status=k.V1PodStatus(
            pod_ip="10.244.1.5",
            conditions=[k.V1PodCondition(type="Ready", status="True")],
        ),
    )
    node = k.V1Node(
        metadata=k.V1ObjectMeta(name="kind-worker"),
        spec=k.V1NodeSpec(taints=[k.V1Taint(key="k", effect="NoSchedule")]),
        status=k.V1NodeStatus(addresses=[k.V1NodeAddress(type="InternalIP", address="172.18.0.3")]),
    )
    namespace = k.V1Namespace(metadata=k.V1ObjectMeta(name="demo"))
    eps = k.V1EndpointSlice(
        address_type="IPv4",
        metadata=k.V1ObjectMeta(name="web-abc12"),
        endpoints=[
            k.V1Endpoint(addresses=["10.244.1.5"], conditions=k.V1EndpointConditions(ready=True))
        ],
        ports=[k.DiscoveryV1EndpointPort(port=8080, name="http", protocol="TCP")],
    )
    ep = k.V1Endpoints(
        metadata=k.V1ObjectMeta(name="web"),
        subsets=[
            k.V1EndpointSubset(
                addresses=[k.V1EndpointAddress(ip="10.244.1.5")],
                ports=[k.CoreV1EndpointPort(port=8080)],
            )
        ],
    )
    got = decode_objects(svc, deployment, rs, pod, node, namespace, eps, ep)
    assert [type(r) for r in got] == [
        Service,
        Deployment,
        ReplicaSet,
        Pod,
        Node,
        Namespace,
        EndpointSlice,
        Endpoints,
    ]
    decoded_svc = got[0]
    assert isinstance(decoded_svc, Service)
    assert decoded_svc.spec.client_ip_timeout_seconds == 60
    assert decoded_svc.spec.ports[0].target_port == "http"
    [expected] = _decode("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: demo, labels: {app: web}}
        spec:
          selector: {matchLabels: {app: web}}
          strategy: {rollingUpdate: {maxSurge: 50%}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: nginx, ports: [{containerPort: 8080, name: http}]}]
    """)
    assert got[1] == expected
    assert isinstance(got[3], Pod)
    assert got[3].status.ready
    assert decode_object(node) == got[4]


def test_kubernetes_client_lists() -> None:
    from kubernetes import client as k

    pods = k.V1PodList(
        items=[k.V1Pod(metadata=k.V1ObjectMeta(name=n)) for n in ("a", "b")],
    )
    assert [p.metadata.name for p in decode_objects(pods)] == ["a", "b"]
    with pytest.raises(DecodeError, match="holds 2 objects: use decode_objects"):
        decode_object(pods)


def test_kubernetes_client_timestamps_parse() -> None:
    import datetime

    from kubernetes import client as k

    when = datetime.datetime(2025, 9, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC)
    ns = decode_object(k.V1Namespace(metadata=k.V1ObjectMeta(name="x", creation_timestamp=when)))
    assert ns.metadata.creation_timestamp == "2025-09-01T10:00:00.123456+00:00"


# -- errors: kubectl's and the apiserver's words, with file and line ------------------------


def test_malformed_yaml() -> None:
    err = _error("""\
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          labels: app: web
    """)
    assert err.message == (
        "error converting YAML to JSON: yaml: line 5: mapping values are not allowed in this context"
    )
    assert (err.source, err.line) == ("svc.yaml", 5)
    assert str(err).startswith("svc.yaml:5: error converting YAML to JSON: yaml: line 5:")
    assert err.reason is None  # kubectl's own error, not the server's


def test_yaml_lines_count_from_the_document_as_go_yaml_does() -> None:
    err = _error(SERVICE + "---\napiVersion: v1\nkind: Service\nmetadata: {name: x\n")
    # go-yaml sees only the second document; the file line is kept in DecodeError.line.
    assert (
        err.message
        == "error converting YAML to JSON: yaml: line 3: did not find expected ',' or '}'"
    )
    assert err.line == 15


def test_a_bad_document_separator() -> None:
    err = _error(SERVICE + "--- apiVersion: v1\n")
    assert (err.message, err.line) == ("invalid Yaml document separator: apiVersion: v1", 11)


def test_missing_kind_and_api_version() -> None:
    err = _error("apiVersion: v1\nmetadata:\n  name: web\n")
    assert (
        err.message
        == """Object 'Kind' is missing in '{"apiVersion":"v1","metadata":{"name":"web"}}'"""
    )
    assert err.line == 1
    err = _error('kind: Service\nmetadata: {name: web, labels: {a: "<b>"}}\n')
    assert err.message == (
        "Object 'apiVersion' is missing in "
        """'{"kind":"Service","metadata":{"labels":{"a":"\\u003cb\\u003e"},"name":"web"}}'"""
    )


def test_not_an_object() -> None:
    err = _error("- a\n- b\n")
    assert err.message == (
        "json: cannot unmarshal array into Go value of type struct { "
        'APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
    )


def test_unknown_kinds() -> None:
    err = _error("apiVersion: v1\n\nkind: Servce\n")
    assert (err.message, err.line) == ('no matches for kind "Servce" in version "v1"', 3)
    err = _error("apiVersion: extensions/v1beta1\nkind: Deployment\n")
    assert err.message == 'no matches for kind "Deployment" in version "extensions/v1beta1"'
    err = _error("apiVersion: v1\nkind: ConfigMap\n")
    assert err.message.startswith('kind "ConfigMap" in version "v1" is real but not modelled')
    err = _error("apiVersion: a/b/c\nkind: Service\n")
    assert err.message == "unexpected GroupVersion string: a/b/c"
    err = _error("apiVersion: v1\nkind: 5\n")
    assert err.message == "json: cannot unmarshal number into Go struct field .kind of type string"


def test_unknown_fields_are_strict_decoding_errors() -> None:
    err = _error("""\
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          selector: {app: web, anything: goes}
          prots:
          - port: 80
    """)
    assert err.message == (
        'Service in version "v1" cannot be handled as a Service: '
        'strict decoding error: unknown field "spec.prots"'
    )
    assert (err.line, err.reason) == (7, "BadRequest")


def test_all_unknown_fields_are_listed_in_key_order() -> None:
    err = _error("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            metadata:
              containers: []
            spec:
              containers:
              - name: web
                imagePullPolice: Always
                livenessProbe: {httpGet: {path: /}}
          selector: {matchLabels: {app: web}, matchFields: {}}
    """)
    assert err.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.selector.matchFields", '
        'unknown field "spec.template.metadata.containers", '
        'unknown field "spec.template.spec.containers[0].imagePullPolice"'
    )
    assert err.line == 13  # the first one reported


@pytest.mark.parametrize(
    ("port", "message"),
    [
        (
            '"abc"',
            "cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32",
        ),
        (
            "true",
            "cannot unmarshal bool into Go struct field ServicePort.spec.ports.port of type int32",
        ),
        (
            "1.5",
            "cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.port of type int32",
        ),
        (
            "4294967296",
            "cannot unmarshal number 4294967296 into Go struct field ServicePort.spec.ports.port of type int32",
        ),
        (
            "[80]",
            "cannot unmarshal array into Go struct field ServicePort.spec.ports.port of type int32",
        ),
    ],
)
def test_wrong_types(port: str, message: str) -> None:
    err = _error(
        SERVICE.replace("- port: 80\n    targetPort: 8080", f"- targetPort: 8080\n    port: {port}")
    )
    assert err.message == 'Service in version "v1" cannot be handled as a Service: json: ' + message
    assert (err.line, err.reason) == (10, "BadRequest")


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "metadata: {name: web, labels: {version: 1.0}}",
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
        ),
        (
            "metadata: {name: n}",  # go-yaml reads n as false
            "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.name of type string",
        ),
        (
            "spec: {ports: {port: 80}}",
            "json: cannot unmarshal object into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort",
        ),
        (
            "spec: {ports: [{port: 80, protocol: 6}]}",
            "json: cannot unmarshal number into Go struct field ServicePort.spec.ports.protocol of type v1.Protocol",
        ),
        (
            "spec: {ipFamilies: [4]}",
            "json: cannot unmarshal number into Go struct field ServiceSpec.spec.ipFamilies of type v1.IPFamily",
        ),
        (
            "spec: {sessionAffinityConfig: {clientIP: {timeoutSeconds: soon}}}",
            "json: cannot unmarshal string into Go struct field ClientIPConfig.spec.sessionAffinityConfig.clientIP.timeoutSeconds of type int32",
        ),
        (
            "spec: web",
            "json: cannot unmarshal string into Go struct field Service.spec of type v1.ServiceSpec",
        ),
        (
            "spec: {ports: [{port: 80, targetPort: true}]}",
            "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32",
        ),
        (
            "metadata: {creationTimestamp: yesterday}",
            'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"',
        ),
        (
            "metadata: {creationTimestamp: 1}",
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string",
        ),
    ],
)
def test_more_wrong_types(yaml_text: str, message: str) -> None:
    err = _error("apiVersion: v1\nkind: Service\n" + yaml_text + "\n")
    assert err.message == 'Service in version "v1" cannot be handled as a Service: ' + message
    assert err.line == 3


def test_the_first_type_error_wins_over_unknown_fields() -> None:
    err = _error(
        "apiVersion: v1\nkind: Service\nspec:\n  bogus: 1\n  type: 5\n  ports: [{port: x}]\n"
    )
    assert "ServicePort.spec.ports.port of type int32" in err.message  # "ports" < "type"
    assert err.line == 6


def test_a_decoder_of_its_own_stops_at_once() -> None:
    # IntOrString decodes itself: its error is reported even though "port" comes first.
    err = _error("apiVersion: v1\nkind: Service\nspec:\n  ports: [{port: x, targetPort: 1.5}]\n")
    assert err.message.endswith(
        "json: cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.targetPort of type int32"
    )


def test_errors_inside_lists_point_at_the_item(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n"
        "  metadata: {name: ok}\n- apiVersion: v1\n  kind: Nope\n"
    )
    with pytest.raises(DecodeError) as info:
        load_manifests(path)
    assert str(info.value) == f'{path}:8: no matches for kind "Nope" in version "v1"'


def test_yaml_to_json_limits() -> None:
    err = _error("apiVersion: v1\nkind: Service\nspec: {healthCheckNodePort: .nan}\n")
    assert (err.message, err.line) == (
        "error converting YAML to JSON: json: unsupported value: NaN",
        3,
    )
    err = _error("a: &x [*x]\n")
    assert err.message.startswith("error converting YAML to JSON: yaml:")
    err = _error("a: *nowhere\n")
    assert err.message == "error converting YAML to JSON: yaml: unknown anchor 'nowhere' referenced"
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(7)
    )
    err = _error(laughs)
    assert (
        err.message == "error converting YAML to JSON: yaml: document contains excessive aliasing"
    )


def test_dicts_are_checked_like_json() -> None:
    with pytest.raises(DecodeError, match="json: unsupported value: NaN"):
        decode_dict({"apiVersion": "v1", "kind": "Service", "spec": {"x": float("nan")}})
    with pytest.raises(DecodeError, match="json: unsupported type: set"):
        decode_dict({"apiVersion": "v1", "kind": "Service", "spec": {1, 2}})
    with pytest.raises(DecodeError) as info:
        decode_dict({"apiVersion": "v1", "kind": "Service", "spec": {"portz": []}}, "api", 7)
    assert (info.value.source, info.value.line) == ("api", 7)


def test_entries_keep_their_lines_for_later_errors() -> None:
    entries = decode_text_entries("\n\n" + SERVICE + "---\n" + SERVICE, "x.yaml")
    assert [(e.line, e.index) for e in entries] == [(3, 0), (14, 1)]


def test_yaml_tags_as_go_yaml_reads_them() -> None:
    [ns] = decode_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: !custom demo\n"
        "  labels: {a: !!str 12, b: !!binary d2Vi}\n"
    )
    assert ns.metadata.name == "demo"
    assert ns.metadata.labels == {"a": "12", "b": "web"}
    err = _error("apiVersion: v1\nkind: Service\nspec:\n  healthCheckNodePort: !!int abc\n")
    assert (err.message, err.line) == (
        "error converting YAML to JSON: yaml: cannot decode !!str `abc` as a !!int",
        4,
    )
