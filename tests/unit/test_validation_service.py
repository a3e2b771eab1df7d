"""Service validation against the apiserver's exact words (control-plane sheet §4.2, §4.4, §2.6).

Every Service here is built in the shape the apiserver validates: after v1 defaulting and
after allocation (``clusterIPs``/``ipFamilies``/``ipFamilyPolicy`` filled, node ports set).
Expected messages are written out in full, from upstream, never computed by the code under
test.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.service import (
    LoadBalancerIngress,
    Service,
    ServicePort,
    ServiceSpec,
    ServiceStatus,
)
from k8s_service_lab.api.validation import (
    check,
    check_update,
    validate,
    validate_service_status,
    validate_update,
)
from k8s_service_lab.api.validation.service import validate_service, validate_service_port
from k8s_service_lab.errors import ValidationError
from k8s_service_lab.field import FieldError, FieldPath
from tests.unit.upstream_messages import (
    CIDR,
    DNS1035,
    DNS1123_LABEL,
    IP,
    LABEL_VALUE,
    NAME_PART,
    SUBDOMAIN,
)

RANGE = "must be between 1 and 65535, inclusive"
ONLY_LB = "may only be used when `type` is 'LoadBalancer'"


# -- factories: defaulted + allocated Services ----------------------------------------------


def port(number: int = 80, **overrides: Any) -> ServicePort:
    fields: dict[str, Any] = {"port": number, "protocol": "TCP", "target_port": number}
    fields.update(overrides)
    return ServicePort(**fields)


def svc(name: str = "s", *, annotations: dict[str, str] | None = None, **spec: Any) -> Service:
    """A ClusterIP Service as stored: IPv4 single-stack, one TCP port, selector app=web."""
    fields: dict[str, Any] = {
        "type": "ClusterIP",
        "selector": {"app": "web"},
        "ports": (port(),),
        "cluster_ip": "10.96.0.10",
        "cluster_ips": ("10.96.0.10",),
        "ip_families": ("IPv4",),
        "ip_family_policy": "SingleStack",
        "session_affinity": "None",
        "internal_traffic_policy": "Cluster",
    }
    fields.update(spec)
    meta = ObjectMeta(name=name, namespace="default", annotations=annotations or {})
    return Service(meta, ServiceSpec(**fields))


def node_port_svc(**spec: Any) -> Service:
    fields: dict[str, Any] = {
        "type": "NodePort",
        "external_traffic_policy": "Cluster",
        "ports": (port(node_port=30080),),
    }
    fields.update(spec)
    return svc(**fields)


def lb_svc(**spec: Any) -> Service:
    fields: dict[str, Any] = {"type": "LoadBalancer", "allocate_load_balancer_node_ports": True}
    fields.update(spec)
    return node_port_svc(**fields)


def external_name_svc(**spec: Any) -> Service:
    fields: dict[str, Any] = {
        "type": "ExternalName",
        "external_name": "db.example.com",
        "selector": None,
        "cluster_ip": None,
        "cluster_ips": (),
        "ip_families": (),
        "ip_family_policy": None,
        "internal_traffic_policy": None,
    }
    fields.update(spec)
    return svc(**fields)


def headless_svc(**spec: Any) -> Service:
    fields: dict[str, Any] = {"cluster_ip": "None", "cluster_ips": ("None",)}
    fields.update(spec)
    return svc(**fields)


def dual_svc(**spec: Any) -> Service:
    fields: dict[str, Any] = {
        "cluster_ip": "10.96.0.10",
        "cluster_ips": ("10.96.0.10", "fd00::10"),
        "ip_families": ("IPv4", "IPv6"),
        "ip_family_policy": "RequireDualStack",
    }
    fields.update(spec)
    return svc(**fields)


def message(service: Service) -> str:
    with pytest.raises(ValidationError) as info:
        check(service)
    return str(info.value)


def update_message(new: Service, old: Service) -> str:
    with pytest.raises(ValidationError) as info:
        check_update(new, old)
    return str(info.value)


def with_spec(service: Service, **spec: Any) -> Service:
    return replace(service, spec=replace(service.spec, **spec))


def test_factories_build_valid_services() -> None:
    for service in (
        svc(),
        node_port_svc(),
        lb_svc(),
        external_name_svc(),
        headless_svc(),
        dual_svc(),
        headless_svc(
            selector=None, ip_families=("IPv4", "IPv6"), ip_family_policy="RequireDualStack"
        ),
    ):
        assert validate(service) == []
        check(service)


# -- §4.4: the common mistakes, as the whole apiserver message ------------------------------

CASES = [
    pytest.param(
        svc(ports=(port(0, target_port=8080),)),
        'Service "s" is invalid: spec.ports[0].port: Invalid value: 0: ' + RANGE,
        id="01-port-0",
    ),
    pytest.param(
        svc(ports=(port(70000, target_port=8080),)),
        'Service "s" is invalid: spec.ports[0].port: Invalid value: 70000: ' + RANGE,
        id="02-port-70000",
    ),
    pytest.param(
        svc(ports=(port(80), port(443))),
        'Service "s" is invalid: [spec.ports[0].name: Required value, '
        "spec.ports[1].name: Required value]",
        id="03-two-ports-no-names",
    ),
    pytest.param(
        svc(ports=(port(80, name="http"), port(81, name="http"))),
        'Service "s" is invalid: spec.ports[1].name: Duplicate value: "http"',
        id="04-duplicate-port-name",
    ),
    pytest.param(
        svc(ports=(port(name="HTTP"),)),
        'Service "s" is invalid: spec.ports[0].name: Invalid value: "HTTP": ' + DNS1123_LABEL,
        id="05-upper-case-port-name",
    ),
    pytest.param(
        svc(ports=(port(protocol="HTTP"),)),
        'Service "s" is invalid: spec.ports[0].protocol: Unsupported value: "HTTP": '
        'supported values: "SCTP", "TCP", "UDP"',
        id="06-protocol-http",
    ),
    pytest.param(
        svc(ports=(port(target_port="web_http"),)),
        'Service "s" is invalid: spec.ports[0].targetPort: Invalid value: "web_http": '
        "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        id="07-target-port-underscore",
    ),
    pytest.param(
        svc(ports=(port(target_port="verylongportname1"),)),
        'Service "s" is invalid: spec.ports[0].targetPort: Invalid value: "verylongportname1": '
        "must be no more than 15 characters",
        id="08-target-port-17-chars",
    ),
    pytest.param(
        svc(ports=(port(target_port="12345"),)),
        'Service "s" is invalid: spec.ports[0].targetPort: Invalid value: "12345": '
        "must contain at least one letter (a-z)",
        id="09-target-port-digit-string",
    ),
    pytest.param(
        svc(ports=(port(node_port=30080),)),
        'Service "s" is invalid: spec.ports[0].nodePort: Forbidden: '
        "may not be used when `type` is 'ClusterIP'",
        id="10-cluster-ip-with-node-port",
    ),
    pytest.param(
        svc(cluster_ip="10.96.0.300", cluster_ips=("10.96.0.300",)),
        'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: "10.96.0.300": ' + IP,
        id="16-invalid-cluster-ip",
    ),
    pytest.param(
        node_port_svc(cluster_ip="None", cluster_ips=("None",)),
        'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: "None": '
        "may not be set to 'None' for NodePort services",
        id="17-headless-node-port",
    ),
    pytest.param(
        external_name_svc(external_name=None),
        'Service "s" is invalid: spec.externalName: Required value',
        id="18-external-name-missing",
    ),
    pytest.param(
        external_name_svc(cluster_ip="10.96.0.10", cluster_ips=("10.96.0.10",)),
        'Service "s" is invalid: spec.clusterIPs: Forbidden: '
        "may not be set for ExternalName services",
        id="19-external-name-with-cluster-ip",
    ),
    pytest.param(
        external_name_svc(external_name="My_Host"),
        'Service "s" is invalid: spec.externalName: Invalid value: "My_Host": ' + SUBDOMAIN,
        id="20-external-name-not-dns",
    ),
    pytest.param(
        svc(name="1web"),
        'Service "1web" is invalid: metadata.name: Invalid value: "1web": ' + DNS1035,
        id="21-name-starts-with-digit",
    ),
    pytest.param(
        svc(external_traffic_policy="Local"),
        'Service "s" is invalid: spec.externalTrafficPolicy: Invalid value: "Local": '
        "may only be set for externally-accessible services",
        id="22-etp-on-cluster-ip",
    ),
    pytest.param(
        node_port_svc(health_check_node_port=32000),
        'Service "s" is invalid: spec.healthCheckNodePort: Invalid value: 32000: '
        "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        id="23-health-check-port-on-node-port",
    ),
    pytest.param(
        svc(session_affinity="Sticky"),
        'Service "s" is invalid: spec.sessionAffinity: Unsupported value: "Sticky": '
        'supported values: "ClientIP", "None"',
        id="24-session-affinity-sticky",
    ),
    pytest.param(
        svc(session_affinity="ClientIP", client_ip_timeout_seconds=86401),
        'Service "s" is invalid: spec.sessionAffinityConfig.clientIP.timeoutSeconds: '
        "Invalid value: 86401: must be greater than 0 and less than 86400",
        id="25-client-ip-timeout-86401",
    ),
    pytest.param(
        svc(session_affinity="ClientIP", client_ip_timeout_seconds=0),
        'Service "s" is invalid: spec.sessionAffinityConfig.clientIP.timeoutSeconds: '
        "Invalid value: 0: must be greater than 0 and less than 86400",
        id="25-client-ip-timeout-0",
    ),
    pytest.param(
        svc(load_balancer_class="example.com/lb"),
        'Service "s" is invalid: spec.loadBalancerClass: Forbidden: ' + ONLY_LB,
        id="26-lb-class-on-cluster-ip",
    ),
    pytest.param(
        node_port_svc(allocate_load_balancer_node_ports=True),
        'Service "s" is invalid: spec.allocateLoadBalancerNodePorts: Forbidden: ' + ONLY_LB,
        id="27-allocate-node-ports-on-node-port",
    ),
    pytest.param(
        svc(selector={"app": "a b"}),
        'Service "s" is invalid: spec.selector: Invalid value: "a b": ' + LABEL_VALUE,
        id="28-bad-selector-value",
    ),
    pytest.param(
        svc(type="Foo"),
        'Service "s" is invalid: spec.type: Unsupported value: "Foo": '
        'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
        id="29-type-foo",
    ),
    pytest.param(
        svc(external_ips=("127.0.0.1",), external_traffic_policy="Cluster"),
        'Service "s" is invalid: spec.externalIPs[0]: Invalid value: "127.0.0.1": '
        "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        id="32-external-ip-loopback",
    ),
]


@pytest.mark.parametrize(("service", "expected"), CASES)
def test_common_mistakes(service: Service, expected: str) -> None:
    assert message(service) == expected


def test_15_changing_cluster_ip() -> None:
    old = svc()
    new = svc(cluster_ip="10.96.0.20", cluster_ips=("10.96.0.20",))
    assert update_message(new, old) == (
        'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.0.20"]: '
        "may not change once set"
    )


def test_port_0_with_defaulted_target_port_reports_both() -> None:
    # v1 defaulting copies port into an unset targetPort, so 0 is reported twice.
    service = svc(ports=(port(0),))
    assert message(service) == (
        'Service "s" is invalid: [spec.ports[0].port: Invalid value: 0: ' + RANGE + ", "
        "spec.ports[0].targetPort: Invalid value: 0: " + RANGE + "]"
    )


def test_kubectl_rendering_of_several_errors() -> None:
    with pytest.raises(ValidationError) as info:
        check(svc(ports=(port(80), port(443))))
    assert info.value.kubectl() == (
        'The Service "s" is invalid: \n'
        "* spec.ports[0].name: Required value\n"
        "* spec.ports[1].name: Required value"
    )


# -- §4.2: every rule, failing and passing ---------------------------------------------------


def errors_of(service: Service) -> list[str]:
    return [str(e) for e in validate(service)]


FAILING = [
    # 1. metadata
    pytest.param(
        svc(name="a" * 64),
        ['metadata.name: Invalid value: "' + "a" * 64 + '": must be no more than 63 characters'],
        id="name-too-long",
    ),
    pytest.param(
        svc(name=""),
        ["metadata.name: Required value: name or generateName is required"],
        id="name-missing",
    ),
    pytest.param(
        replace(svc(), metadata=ObjectMeta(name="s")),
        ["metadata.namespace: Required value"],
        id="namespace-missing",
    ),
    # 2. topology annotations must agree
    pytest.param(
        svc(
            annotations={
                "service.kubernetes.io/topology-mode": "Auto",
                "service.kubernetes.io/topology-aware-hints": "auto",
            }
        ),
        [
            'metadata.annotations[service.kubernetes.io/topology-mode]: Invalid value: "Auto": '
            "must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified"
        ],
        id="topology-annotations-disagree",
    ),
    # 3. ports required
    pytest.param(svc(ports=()), ["spec.ports: Required value"], id="ports-required"),
    # 4. type specific
    pytest.param(
        lb_svc(cluster_ip="None", cluster_ips=("None",)),
        [
            "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services"
        ],
        id="headless-load-balancer",
    ),
    pytest.param(
        external_name_svc(ip_families=("IPv4",)),
        ["spec.ipFamilies: Forbidden: may not be set for ExternalName services"],
        id="external-name-with-families",
    ),
    pytest.param(
        external_name_svc(ip_family_policy="SingleStack"),
        ["spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services"],
        id="external-name-with-policy",
    ),
    pytest.param(
        external_name_svc(external_name="."),
        ["spec.externalName: Required value"],
        id="external-name-only-dot",
    ),
    # 5. ports
    pytest.param(
        svc(ports=(port(protocol=None),)),
        ["spec.ports[0].protocol: Required value"],
        id="protocol-missing",
    ),
    pytest.param(
        svc(ports=(port(name="a.b"),)),
        ['spec.ports[0].name: Invalid value: "a.b": must not contain dots'],
        id="port-name-dots",
    ),
    pytest.param(
        svc(ports=(port(name="p" * 64),)),
        [
            'spec.ports[0].name: Invalid value: "'
            + "p" * 64
            + '": must be no more than 63 characters'
        ],
        id="port-name-too-long",
    ),
    pytest.param(
        svc(ports=(port(target_port=0),)),
        ["spec.ports[0].targetPort: Invalid value: 0: " + RANGE],
        id="target-port-0",
    ),
    pytest.param(
        svc(ports=(port(target_port=70000),)),
        ["spec.ports[0].targetPort: Invalid value: 70000: " + RANGE],
        id="target-port-70000",
    ),
    pytest.param(
        svc(ports=(port(target_port="-a--b-"),)),
        [
            'spec.ports[0].targetPort: Invalid value: "-a--b-": must not contain consecutive hyphens',
            'spec.ports[0].targetPort: Invalid value: "-a--b-": must not begin or end with a hyphen',
        ],
        id="target-port-hyphens",
    ),
    pytest.param(
        svc(ports=(port(target_port="HTTP_PORT_NAME_X"),)),
        [
            'spec.ports[0].targetPort: Invalid value: "HTTP_PORT_NAME_X": must be no more than 15 characters',
            'spec.ports[0].targetPort: Invalid value: "HTTP_PORT_NAME_X": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
            'spec.ports[0].targetPort: Invalid value: "HTTP_PORT_NAME_X": must contain at least one letter (a-z)',
        ],
        id="target-port-every-rule",
    ),
    pytest.param(
        svc(ports=(port(app_protocol="bad proto"),)),
        ['spec.ports[0].appProtocol: Invalid value: "bad proto": ' + NAME_PART],
        id="app-protocol",
    ),
    # 7. session affinity
    pytest.param(
        svc(session_affinity=None), ["spec.sessionAffinity: Required value"], id="affinity-missing"
    ),
    pytest.param(
        svc(session_affinity="ClientIP"),
        ["spec.sessionAffinityConfig: Required value: when session affinity type is ClientIP"],
        id="client-ip-without-config",
    ),
    pytest.param(
        svc(client_ip_timeout_seconds=10800),
        ["spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"],
        id="config-with-affinity-none",
    ),
    # 9. externalIPs (ClusterIP + externalIPs is externally accessible: ETP defaulted)
    pytest.param(
        svc(external_ips=("0.0.0.0",), external_traffic_policy="Cluster"),
        ['spec.externalIPs[0]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'],
        id="external-ip-unspecified-v4",
    ),
    pytest.param(
        svc(external_ips=("::",), external_traffic_policy="Cluster"),
        ['spec.externalIPs[0]: Invalid value: "::": may not be unspecified (::)'],
        id="external-ip-unspecified-v6",
    ),
    pytest.param(
        svc(external_ips=("::1",), external_traffic_policy="Cluster"),
        [
            'spec.externalIPs[0]: Invalid value: "::1": may not be in the loopback range (127.0.0.0/8, ::1/128)'
        ],
        id="external-ip-loopback-v6",
    ),
    pytest.param(
        svc(external_ips=("169.254.169.254",), external_traffic_policy="Cluster"),
        [
            'spec.externalIPs[0]: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)'
        ],
        id="external-ip-link-local",
    ),
    pytest.param(
        svc(external_ips=("fe80::1",), external_traffic_policy="Cluster"),
        [
            'spec.externalIPs[0]: Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'
        ],
        id="external-ip-link-local-v6",
    ),
    pytest.param(
        svc(external_ips=("224.0.0.251",), external_traffic_policy="Cluster"),
        [
            'spec.externalIPs[0]: Invalid value: "224.0.0.251": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'
        ],
        id="external-ip-multicast",
    ),
    pytest.param(
        svc(external_ips=("ff02::fb",), external_traffic_policy="Cluster"),
        [
            'spec.externalIPs[0]: Invalid value: "ff02::fb": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'
        ],
        id="external-ip-multicast-v6",
    ),
    pytest.param(
        svc(external_ips=("1.2.3",), external_traffic_policy="Cluster"),
        ['spec.externalIPs[0]: Invalid value: "1.2.3": ' + IP],
        id="external-ip-invalid",
    ),
    # 10. type
    pytest.param(svc(type=None), ["spec.type: Required value"], id="type-missing"),
    # 11. duplicates
    pytest.param(
        node_port_svc(
            ports=(port(80, name="a", node_port=30080), port(81, name="b", node_port=30080))
        ),
        ["spec.ports[1].nodePort: Duplicate value: 30080"],
        id="duplicate-node-port",
    ),
    pytest.param(
        svc(ports=(port(80, name="a"), port(80, name="b"))),
        [
            'spec.ports[1]: Duplicate value: {"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,"TargetPort":0,"NodePort":0}'
        ],
        id="duplicate-protocol-port",
    ),
    # 12. loadBalancerSourceRanges
    pytest.param(
        svc(load_balancer_source_ranges=("10.0.0.0/8",)),
        ["spec.LoadBalancerSourceRanges: Forbidden: " + ONLY_LB],
        id="source-ranges-on-cluster-ip",
    ),
    pytest.param(
        lb_svc(load_balancer_source_ranges=("10.0.0.0/8", "10.0.0.0/33")),
        ['spec.LoadBalancerSourceRanges[1]: Invalid value: "10.0.0.0/33": ' + CIDR],
        id="source-range-not-cidr",
    ),
    pytest.param(
        lb_svc(
            annotations={
                "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8, bad"
            }
        ),
        [
            'metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: Invalid value: "bad": '
            + CIDR
        ],
        id="source-range-annotation-not-cidr",
    ),
    pytest.param(
        svc(annotations={"service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8"}),
        [
            "metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: Forbidden: "
            + ONLY_LB
        ],
        id="source-range-annotation-on-cluster-ip",
    ),
    # 13. allocateLoadBalancerNodePorts: the path really has no "spec."
    pytest.param(
        lb_svc(allocate_load_balancer_node_ports=None),
        ["allocateLoadBalancerNodePorts: Required value"],
        id="allocate-node-ports-missing",
    ),
    # 14. loadBalancerClass
    pytest.param(
        lb_svc(load_balancer_class="a b"),
        ['spec.loadBalancerClass: Invalid value: "a b": ' + NAME_PART],
        id="lb-class-not-qualified",
    ),
    # 15. externalTrafficPolicy + healthCheckNodePort
    pytest.param(
        svc(external_traffic_policy="Cluster"),
        [
            'spec.externalTrafficPolicy: Invalid value: "Cluster": may only be set for externally-accessible services'
        ],
        id="etp-cluster-on-cluster-ip",
    ),
    pytest.param(
        node_port_svc(external_traffic_policy=None),
        ["spec.externalTrafficPolicy: Required value"],
        id="etp-missing",
    ),
    pytest.param(
        node_port_svc(external_traffic_policy="Foo"),
        [
            'spec.externalTrafficPolicy: Unsupported value: "Foo": supported values: "Cluster", "Local"'
        ],
        id="etp-foo",
    ),
    pytest.param(
        lb_svc(external_traffic_policy="Local"),
        ["spec.healthCheckNodePort: Required value"],
        id="health-port-missing",
    ),
    pytest.param(
        lb_svc(external_traffic_policy="Local", health_check_node_port=70000),
        ["spec.healthCheckNodePort: Invalid value: 70000: " + RANGE],
        id="health-port-out-of-range",
    ),
    # 16. internalTrafficPolicy
    pytest.param(
        svc(internal_traffic_policy=None),
        ["spec.internalTrafficPolicy: Required value"],
        id="itp-missing",
    ),
    pytest.param(
        svc(internal_traffic_policy="Foo"),
        [
            'spec.internalTrafficPolicy: Unsupported value: "Foo": supported values: "Cluster", "Local"'
        ],
        id="itp-foo",
    ),
    # 17. trafficDistribution: upstream lists the values unsorted
    pytest.param(
        svc(traffic_distribution="Nearest"),
        [
            'spec.trafficDistribution: Unsupported value: "Nearest": supported values: "PreferClose", "PreferSameZone", "PreferSameNode"'
        ],
        id="traffic-distribution-unknown",
    ),
]


@pytest.mark.parametrize(("service", "expected"), FAILING)
def test_rule_rejects(service: Service, expected: list[str]) -> None:
    assert errors_of(service) == expected


PASSING = [
    pytest.param(svc(name="web-1"), id="name-dns1035"),
    pytest.param(
        svc(
            annotations={
                "service.kubernetes.io/topology-mode": "Auto",
                "service.kubernetes.io/topology-aware-hints": "Auto",
            }
        ),
        id="topology-annotations-agree",
    ),
    pytest.param(headless_svc(ports=()), id="headless-without-ports"),
    pytest.param(external_name_svc(ports=()), id="external-name-without-ports"),
    pytest.param(
        external_name_svc(external_name="db.example.com."), id="external-name-trailing-dot"
    ),
    pytest.param(external_name_svc(external_name="1.2.3.4"), id="external-name-ip-literal"),
    pytest.param(
        external_name_svc(internal_traffic_policy="Cluster"), id="external-name-itp-ignored"
    ),
    pytest.param(svc(ports=(port(name="http"), port(443, name="https"))), id="two-named-ports"),
    pytest.param(svc(ports=(port(target_port="http8080"),)), id="target-port-name"),
    pytest.param(svc(ports=(port(app_protocol="kubernetes.io/h2c"),)), id="app-protocol-qualified"),
    pytest.param(
        headless_svc(ports=(port(80, target_port=9999),)), id="headless-target-port-tolerated"
    ),
    pytest.param(svc(selector=None), id="no-selector"),
    pytest.param(
        svc(session_affinity="ClientIP", client_ip_timeout_seconds=86400), id="timeout-86400"
    ),
    pytest.param(svc(session_affinity="ClientIP", client_ip_timeout_seconds=1), id="timeout-1"),
    pytest.param(
        svc(external_ips=("203.0.113.10",), external_traffic_policy="Local"), id="external-ip"
    ),
    pytest.param(
        node_port_svc(
            ports=(
                port(53, name="dns", protocol="UDP", node_port=30053),
                port(53, name="dns-tcp", node_port=30053),
            )
        ),
        id="same-node-port-two-protocols",
    ),
    pytest.param(
        svc(ports=(port(53, name="a", protocol="UDP"), port(53, name="b"))),
        id="same-port-two-protocols",
    ),
    pytest.param(
        lb_svc(load_balancer_source_ranges=(" 10.0.0.0/8 ", "2001:db8::/64")),
        id="source-ranges-padded",
    ),
    pytest.param(
        lb_svc(load_balancer_source_ranges=("10.0.0.1/24",)), id="source-range-host-bits-v134"
    ),
    pytest.param(
        lb_svc(
            annotations={
                "service.beta.kubernetes.io/load-balancer-source-ranges": " 10.0.0.0/8 , 192.168.0.0/16 "
            }
        ),
        id="source-range-annotation",
    ),
    pytest.param(lb_svc(allocate_load_balancer_node_ports=False), id="allocate-node-ports-false"),
    pytest.param(lb_svc(load_balancer_class="example.com/lb"), id="lb-class"),
    pytest.param(
        lb_svc(external_traffic_policy="Local", health_check_node_port=30500), id="health-port"
    ),
    pytest.param(node_port_svc(external_traffic_policy="Local"), id="node-port-etp-local"),
    pytest.param(svc(internal_traffic_policy="Local"), id="itp-local"),
    pytest.param(svc(traffic_distribution="PreferClose"), id="prefer-close"),
    pytest.param(svc(traffic_distribution="PreferSameZone"), id="prefer-same-zone"),
    pytest.param(svc(traffic_distribution="PreferSameNode"), id="prefer-same-node"),
]


@pytest.mark.parametrize("service", PASSING)
def test_rule_accepts(service: Service) -> None:
    assert errors_of(service) == []


def test_errors_come_in_upstream_order_all_at_once() -> None:
    service = svc(
        name="Web",
        ports=(port(0, name="HTTP", target_port=8080, protocol="HTTP"),),
        session_affinity="Sticky",
        type="Foo",
        internal_traffic_policy="Foo",
    )
    assert [str(e.path) for e in validate(service)] == [
        "metadata.name",
        "spec.ports[0].name",
        "spec.ports[0].port",
        "spec.ports[0].protocol",
        "spec.sessionAffinity",
        "spec.type",
        "spec.internalTrafficPolicy",
    ]


# -- §2.6 validation half: clusterIPs / ipFamilies / ipFamilyPolicy -------------------------

CLUSTER_IP_FAILING = [
    pytest.param(
        svc(cluster_ips=()), ["spec.clusterIPs: Required value"], id="cluster-ips-required"
    ),
    pytest.param(
        svc(cluster_ips=("10.96.0.11",)),
        ['spec.clusterIPs: Invalid value: ["10.96.0.11"]: first value must match `clusterIP`'],
        id="first-must-match",
    ),
    pytest.param(
        svc(cluster_ip=None),
        [
            'spec.clusterIPs: Invalid value: ["10.96.0.10"]: must be empty when `clusterIP` is not specified'
        ],
        id="cluster-ips-without-cluster-ip",
    ),
    pytest.param(
        svc(ip_families=("IPv5",)),
        ['spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"'],
        id="family-ipv5",
    ),
    pytest.param(
        svc(ip_families=("IPv4", "IPv4"), ip_family_policy="RequireDualStack"),
        ['spec.ipFamilies[1]: Duplicate value: "IPv4"'],
        id="family-duplicate",
    ),
    pytest.param(
        svc(ip_family_policy="Foo"),
        [
            'spec.ipFamilyPolicy: Unsupported value: "Foo": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"'
        ],
        id="policy-foo",
    ),
    pytest.param(
        svc(cluster_ip="None", cluster_ips=("None", "10.96.0.10")),
        [
            'spec.clusterIPs: Invalid value: ["None","10.96.0.10"]: \'None\' must be the first and only value'
        ],
        id="none-not-alone",
    ),
    pytest.param(
        dual_svc(cluster_ips=("10.96.0.10", "fd00::10", "10.96.0.11")),
        [
            'spec.clusterIPs: Invalid value: ["10.96.0.10","fd00::10","10.96.0.11"]: may only hold up to 2 values'
        ],
        id="three-ips",
    ),
    pytest.param(
        dual_svc(cluster_ips=("10.96.0.10", "10.96.0.11")),
        [
            'spec.clusterIPs: Invalid value: ["10.96.0.10","10.96.0.11"]: may specify no more than one IP for each IP family',
            'spec.clusterIPs[1]: Invalid value: "10.96.0.11": expected an IPv6 value as indicated by `ipFamilies[1]`',
        ],
        id="two-ipv4",
    ),
    pytest.param(
        svc(cluster_ip="fd00::1", cluster_ips=("fd00::1",)),
        [
            'spec.clusterIPs[0]: Invalid value: "fd00::1": expected an IPv4 value as indicated by `ipFamilies[0]`'
        ],
        id="v6-ip-v4-family",
    ),
    pytest.param(
        svc(ip_families=("IPv6",)),
        [
            'spec.clusterIPs[0]: Invalid value: "10.96.0.10": expected an IPv6 value as indicated by `ipFamilies[0]`'
        ],
        id="v4-ip-v6-family",
    ),
    pytest.param(
        dual_svc(cluster_ips=("10.96.0.10", "fd00::zz")),
        ['spec.clusterIPs[1]: Invalid value: "fd00::zz": ' + IP],
        id="invalid-ip-stops-family-checks",
    ),
]


@pytest.mark.parametrize(("service", "expected"), CLUSTER_IP_FAILING)
def test_cluster_ip_rules_reject(service: Service, expected: list[str]) -> None:
    assert errors_of(service) == expected


CLUSTER_IP_PASSING = [
    pytest.param(dual_svc(), id="dual-stack"),
    pytest.param(
        dual_svc(
            cluster_ip="fd00::10",
            cluster_ips=("fd00::10", "10.96.0.10"),
            ip_families=("IPv6", "IPv4"),
        ),
        id="dual-stack-v6-first",
    ),
    pytest.param(
        svc(cluster_ip="010.096.000.010", cluster_ips=("010.096.000.010",)), id="leading-zeros-v134"
    ),
    pytest.param(
        svc(cluster_ip="::ffff:10.96.0.10", cluster_ips=("::ffff:10.96.0.10",)),
        id="v4-mapped-is-v4",
    ),
    pytest.param(
        headless_svc(
            selector=None, ip_families=("IPv4", "IPv6"), ip_family_policy="RequireDualStack"
        ),
        id="headless-dual",
    ),
    pytest.param(svc(ip_families=(), ip_family_policy=None), id="families-unset"),
]


@pytest.mark.parametrize("service", CLUSTER_IP_PASSING)
def test_cluster_ip_rules_accept(service: Service) -> None:
    assert errors_of(service) == []


def test_strict_ip_validation_gate_rejects_leading_zeros() -> None:
    service = svc(cluster_ip="010.96.0.10", cluster_ips=("010.96.0.10",))
    assert [str(e) for e in validate_service(service, strict_ip=True)] == [
        'spec.clusterIPs[0]: Invalid value: "010.96.0.10": must not have leading 0s'
    ]


def test_strict_gate_ratchets_old_values() -> None:
    old = svc(cluster_ip="010.96.0.10", cluster_ips=("010.96.0.10",))
    assert validate_service(old, old, strict_ip=True) == []


# -- updates ---------------------------------------------------------------------------------

UPDATE_FAILING = [
    pytest.param(
        svc(),
        svc(cluster_ip="fd00::10", cluster_ips=("fd00::10",), ip_families=("IPv6",)),
        [
            'spec.clusterIPs[0]: Invalid value: ["fd00::10"]: may not change once set',
            'spec.ipFamilies[0]: Invalid value: ["IPv6"]: may not change once set',
        ],
        id="primary-family-change",
    ),
    pytest.param(
        dual_svc(),
        dual_svc(cluster_ips=("10.96.0.10",), ip_families=("IPv4",)),
        [
            "spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": must be set to 'SingleStack' when releasing the secondary clusterIP",
            "spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": must be set to 'SingleStack' when releasing the secondary ipFamily",
        ],
        id="downgrade-without-single-stack",
    ),
    pytest.param(
        headless_svc(),
        svc(),
        ['spec.clusterIPs[0]: Invalid value: ["10.96.0.10"]: may not change once set'],
        id="headless-to-headful",
    ),
    pytest.param(
        svc(),
        headless_svc(),
        ['spec.clusterIPs[0]: Invalid value: ["None"]: may not change once set'],
        id="headful-to-headless",
    ),
    pytest.param(
        lb_svc(external_traffic_policy="Local", health_check_node_port=30500),
        lb_svc(external_traffic_policy="Local", health_check_node_port=30501),
        ["spec.healthCheckNodePort: Forbidden: field is immutable"],
        id="health-check-port-immutable",
    ),
    pytest.param(
        lb_svc(load_balancer_class="example.com/a"),
        lb_svc(load_balancer_class="example.com/b"),
        ['spec.loadBalancerClass: Invalid value: "example.com/b": may not change once set'],
        id="lb-class-change",
    ),
    pytest.param(
        lb_svc(),
        lb_svc(load_balancer_class="example.com/a"),
        ['spec.loadBalancerClass: Invalid value: "example.com/a": may not change once set'],
        id="lb-class-nil-to-value",
    ),
    pytest.param(
        lb_svc(load_balancer_class="example.com/a"),
        lb_svc(),
        ["spec.loadBalancerClass: Invalid value: null: may not change once set"],
        id="lb-class-value-to-nil",
    ),
    pytest.param(
        svc(), svc(name="t"), ['metadata.name: Invalid value: "t": field is immutable'], id="rename"
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), UPDATE_FAILING)
def test_update_rejects(old: Service, new: Service, expected: list[str]) -> None:
    assert [str(e) for e in validate_update(new, old)] == expected


UPDATE_PASSING = [
    pytest.param(svc(), dual_svc(), id="upgrade-to-dual-stack"),
    pytest.param(
        dual_svc(),
        dual_svc(
            cluster_ips=("10.96.0.10",), ip_families=("IPv4",), ip_family_policy="SingleStack"
        ),
        id="downgrade",
    ),
    pytest.param(headless_svc(), headless_svc(ip_families=("IPv6",)), id="headless-changes-family"),
    pytest.param(
        svc(), lb_svc(load_balancer_class="example.com/a"), id="class-set-with-type-change"
    ),
    pytest.param(
        lb_svc(external_traffic_policy="Local", health_check_node_port=30500),
        lb_svc(),
        id="health-port-released",
    ),
    pytest.param(svc(), external_name_svc(), id="to-external-name"),
    pytest.param(external_name_svc(), svc(), id="from-external-name"),
]


@pytest.mark.parametrize(("old", "new"), UPDATE_PASSING)
def test_update_accepts(old: Service, new: Service) -> None:
    assert validate_update(new, old) == []


def test_update_repeats_class_format_error_but_message_drops_it() -> None:
    old = svc()
    new = svc(load_balancer_class="a b")
    errors = [str(e) for e in validate_update(new, old)]
    assert errors == ["spec.loadBalancerClass: Forbidden: " + ONLY_LB] * 2
    assert (
        update_message(new, old)
        == 'Service "s" is invalid: spec.loadBalancerClass: Forbidden: ' + ONLY_LB
    )


# -- status ----------------------------------------------------------------------------------


def with_ingress(service: Service, *ingress: LoadBalancerIngress) -> Service:
    return replace(service, status=ServiceStatus(load_balancer_ingress=ingress))


STATUS_FAILING = [
    pytest.param(
        with_ingress(svc(), LoadBalancerIngress(ip="203.0.113.7", ip_mode="VIP")),
        [
            "status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"
        ],
        id="ingress-on-cluster-ip",
    ),
    pytest.param(
        with_ingress(lb_svc(), LoadBalancerIngress(ip="203.0.113.7")),
        [
            "status.loadBalancer.ingress[0].ipMode: Required value: must be specified when `ip` is set"
        ],
        id="ip-without-mode",
    ),
    pytest.param(
        with_ingress(lb_svc(), LoadBalancerIngress(hostname="lb.example.com", ip_mode="Proxy")),
        [
            "status.loadBalancer.ingress[0].ipMode: Forbidden: may not be specified when `ip` is not set"
        ],
        id="mode-without-ip",
    ),
    pytest.param(
        with_ingress(lb_svc(), LoadBalancerIngress(ip="203.0.113.7", ip_mode="Foo")),
        [
            'status.loadBalancer.ingress[0].ipMode: Unsupported value: "Foo": supported values: "Proxy", "VIP"'
        ],
        id="mode-foo",
    ),
    pytest.param(
        with_ingress(lb_svc(), LoadBalancerIngress(ip="203.0.113", ip_mode="VIP")),
        ['status.loadBalancer.ingress[0].ip: Invalid value: "203.0.113": ' + IP],
        id="bad-ip",
    ),
    pytest.param(
        with_ingress(lb_svc(), LoadBalancerIngress(hostname="1.2.3.4")),
        [
            'status.loadBalancer.ingress[0].hostname: Invalid value: "1.2.3.4": must be a DNS name, not an IP address'
        ],
        id="hostname-is-ip",
    ),
    pytest.param(
        with_ingress(lb_svc(), LoadBalancerIngress(hostname="LB")),
        ['status.loadBalancer.ingress[0].hostname: Invalid value: "LB": ' + SUBDOMAIN],
        id="hostname-not-dns",
    ),
]


@pytest.mark.parametrize(("service", "expected"), STATUS_FAILING)
def test_status_rejects(service: Service, expected: list[str]) -> None:
    assert [str(e) for e in validate_service_status(service)] == expected


@pytest.mark.parametrize(
    "ingress",
    [
        LoadBalancerIngress(ip="203.0.113.7", ip_mode="VIP"),
        LoadBalancerIngress(ip="fd00::7", ip_mode="Proxy"),
        LoadBalancerIngress(hostname="lb.example.com"),
    ],
)
def test_status_accepts(ingress: LoadBalancerIngress) -> None:
    assert validate_service_status(with_ingress(lb_svc(), ingress), lb_svc()) == []


# -- robustness: random input never crashes the validators -----------------------------------

ports_strategy = st.builds(
    ServicePort,
    port=st.integers(min_value=-(2**31), max_value=2**31),
    name=st.none() | st.text(max_size=70),
    protocol=st.none() | st.sampled_from(["TCP", "UDP", "SCTP", "HTTP", ""]) | st.text(max_size=5),
    target_port=st.none() | st.integers(min_value=-10, max_value=70000) | st.text(max_size=20),
    node_port=st.none() | st.integers(min_value=-1, max_value=70000),
    app_protocol=st.none() | st.text(max_size=20),
)


@given(st.lists(ports_strategy, max_size=4))
def test_random_ports_never_crash(ports: list[ServicePort]) -> None:
    errors = validate(svc(ports=tuple(ports)))
    assert all(isinstance(e, FieldError) for e in errors)
    for i, p in enumerate(ports):
        single = validate_service_port(p, True, set(), FieldPath.root("spec", "ports").index(i))
        assert all(isinstance(e, FieldError) for e in single)
        assert all(str(e).startswith(f"spec.ports[{i}]") for e in single)


@given(
    name=st.text(max_size=70),
    kind=st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "", "Foo"]),
    ips=st.lists(
        st.sampled_from(["10.96.0.10", "fd00::1", "None", "", "1.2.3", "::ffff:1.2.3.4"])
        | st.text(max_size=16),
        max_size=3,
    ),
    families=st.lists(st.sampled_from(["IPv4", "IPv6", "IPv5"]), max_size=3),
    external_ips=st.lists(st.text(max_size=20), max_size=2),
    ranges=st.lists(st.text(max_size=20), max_size=2),
)
def test_random_services_never_crash(
    name: str,
    kind: str,
    ips: list[str],
    families: list[str],
    external_ips: list[str],
    ranges: list[str],
) -> None:
    service = svc(
        name=name,
        type=kind,
        cluster_ip=ips[0] if ips else None,
        cluster_ips=tuple(ips),
        ip_families=tuple(families),
        external_ips=tuple(external_ips),
        load_balancer_source_ranges=tuple(ranges),
    )
    for errors in (
        validate(service),
        validate_update(service, svc()),
        validate_service_status(service),
    ):
        assert all(isinstance(e, FieldError) for e in errors)
    str(ValidationError("Service", name, validate(service)))
