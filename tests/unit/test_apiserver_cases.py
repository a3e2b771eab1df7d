"""The 32 common mistakes of reference §4.4, each answered in the apiserver's exact words.

Every case goes through the whole create pipeline of a fresh kind cluster (:mod:`dryrun`):
defaulting, the allocation step (whose errors come alone) and validation (all errors at once).
A rejected object must change nothing: no IP or port stays held.
"""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from k8s_service_lab.api.validation import validate_update
from k8s_service_lab.config import parse_config
from k8s_service_lab.dryrun import DryRun
from k8s_service_lab.errors import ValidationError
from tests.unit.upstream_messages import DNS1035 as DNS_1035
from tests.unit.upstream_messages import DNS1123_LABEL as RFC_1123_LABEL
from tests.unit.upstream_messages import LABEL_VALUE
from tests.unit.upstream_messages import SUBDOMAIN as RFC_1123_SUBDOMAIN


def service(spec: str, name: str = "s") -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    return f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n{body}\n"


def rejected(*docs: str, config: str | None = None) -> str:
    """Create the documents in order; return the message of the last one, which must fail."""
    dry = DryRun(parse_config(config) if config else None)
    results = dry.apply_text("---\n".join(docs))
    assert all(r.ok for r in results[:-1]), [r.message() for r in results[:-1]]
    last = results[-1]
    assert last.error is not None, f"{last.reference} was accepted"
    return str(last.error)


def held(dry: DryRun) -> tuple[set[str], set[int]]:
    ips = {ip for alloc in dry.allocations.ip_allocators.values() for ip in alloc.used()}
    return ips, set(dry.allocations.node_ports.used())


CASES = [
    pytest.param(
        service("ports: [{port: 0, targetPort: 8080}]"),
        'Service "s" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
        id="01-port-0",
    ),
    pytest.param(
        service("ports: [{port: 70000, targetPort: 8080}]"),
        'Service "s" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive',
        id="02-port-70000",
    ),
    pytest.param(
        service("ports: [{port: 80}, {port: 443}]"),
        'Service "s" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]',
        id="03-two-ports-no-names",
    ),
    pytest.param(
        service("ports: [{name: http, port: 80}, {name: http, port: 8080}]"),
        'Service "s" is invalid: spec.ports[1].name: Duplicate value: "http"',
        id="04-duplicate-port-name",
    ),
    pytest.param(
        service("ports: [{name: HTTP, port: 80}]"),
        f'Service "s" is invalid: spec.ports[0].name: Invalid value: "HTTP": {RFC_1123_LABEL}',
        id="05-uppercase-port-name",
    ),
    pytest.param(
        service("ports: [{port: 80, protocol: HTTP}]"),
        'Service "s" is invalid: spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        id="06-protocol-http",
    ),
    pytest.param(
        service("ports: [{port: 80, targetPort: web_http}]"),
        'Service "s" is invalid: spec.ports[0].targetPort: Invalid value: "web_http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
        id="07-targetport-underscore",
    ),
    pytest.param(
        service("ports: [{port: 80, targetPort: verylongportname1}]"),
        'Service "s" is invalid: spec.ports[0].targetPort: Invalid value: "verylongportname1": must be no more than 15 characters',
        id="08-targetport-too-long",
    ),
    pytest.param(
        service("ports: [{port: 80, targetPort: '12345'}]"),
        'Service "s" is invalid: spec.ports[0].targetPort: Invalid value: "12345": must contain at least one letter (a-z)',
        id="09-targetport-numeric-string",
    ),
    pytest.param(
        service("ports: [{port: 80, nodePort: 30080}]"),
        "Service \"s\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
        id="10-nodeport-on-clusterip",
    ),
    pytest.param(
        service("type: NodePort\nports: [{port: 80, nodePort: 80}]"),
        'Service "s" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767',
        id="11-nodeport-out-of-range",
    ),
    pytest.param(
        service("clusterIP: 10.96.0.10\nports: [{port: 53}]"),
        'Service "s" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.10"]: failed to allocate IP 10.96.0.10: provided IP is already allocated',
        id="13-clusterip-taken-by-kube-dns",
    ),
    pytest.param(
        service("clusterIP: 10.96.0.300\nports: [{port: 80}]"),
        'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        id="16-invalid-clusterip",
    ),
    pytest.param(
        service("type: NodePort\nclusterIP: None\nports: [{port: 80}]"),
        'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for NodePort services',
        id="17-headless-nodeport",
    ),
    pytest.param(
        service("type: ExternalName"),
        'Service "s" is invalid: spec.externalName: Required value',
        id="18-externalname-missing",
    ),
    pytest.param(
        service("type: ExternalName\nexternalName: example.com\nclusterIP: 10.96.5.5"),
        'Service "s" is invalid: spec.clusterIPs: Forbidden: may not be set for ExternalName services',
        id="19-externalname-with-clusterip",
    ),
    pytest.param(
        service("type: ExternalName\nexternalName: My_Host"),
        f'Service "s" is invalid: spec.externalName: Invalid value: "My_Host": {RFC_1123_SUBDOMAIN}',
        id="20-externalname-invalid",
    ),
    pytest.param(
        service("ports: [{port: 80}]", name="1web"),
        f'Service "1web" is invalid: metadata.name: Invalid value: "1web": {DNS_1035}',
        id="21-service-name-1web",
    ),
    pytest.param(
        service("externalTrafficPolicy: Local\nports: [{port: 80}]"),
        'Service "s" is invalid: spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services',
        id="22-etp-on-clusterip",
    ),
    pytest.param(
        service("type: NodePort\nhealthCheckNodePort: 32000\nports: [{port: 80}]"),
        "Service \"s\" is invalid: spec.healthCheckNodePort: Invalid value: 32000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        id="23-healthchecknodeport-on-nodeport",
    ),
    pytest.param(
        service("sessionAffinity: Sticky\nports: [{port: 80}]"),
        'Service "s" is invalid: spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"',
        id="24-affinity-sticky",
    ),
    pytest.param(
        service(
            "sessionAffinity: ClientIP\n"
            "sessionAffinityConfig: {clientIP: {timeoutSeconds: 86401}}\n"
            "ports: [{port: 80}]"
        ),
        'Service "s" is invalid: spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400',
        id="25-affinity-timeout",
    ),
    pytest.param(
        service("loadBalancerClass: example.com/lb\nports: [{port: 80}]"),
        "Service \"s\" is invalid: spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'",
        id="26-lbclass-on-clusterip",
    ),
    pytest.param(
        service("type: NodePort\nallocateLoadBalancerNodePorts: false\nports: [{port: 80}]"),
        "Service \"s\" is invalid: spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'",
        id="27-alloc-lb-nodeports-on-nodeport",
    ),
    pytest.param(
        service("selector: {app: 'a b'}\nports: [{port: 80}]"),
        f'Service "s" is invalid: spec.selector: Invalid value: "a b": {LABEL_VALUE}',
        id="28-bad-selector-value",
    ),
    pytest.param(
        service("type: Foo\nports: [{port: 80}]"),
        'Service "s" is invalid: spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
        id="29-type-foo",
    ),
    pytest.param(
        service("ipFamilyPolicy: RequireDualStack\nports: [{port: 80}]"),
        'Service "s" is invalid: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
        id="30-require-dual-stack-on-ipv4",
    ),
    pytest.param(
        service("ipFamilies: [IPv6]\nports: [{port: 80}]"),
        'Service "s" is invalid: spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster',
        id="31-ipv6-on-ipv4",
    ),
    pytest.param(
        service("externalIPs: [127.0.0.1]\nports: [{port: 80}]"),
        'Service "s" is invalid: spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
        id="32-externalip-loopback",
    ),
]


@pytest.mark.parametrize(("manifest", "message"), CASES)
def test_common_mistake(manifest: str, message: str) -> None:
    assert rejected(manifest) == message


@pytest.mark.parametrize(("manifest", "message"), CASES)
def test_a_rejected_create_holds_nothing(manifest: str, message: str) -> None:
    dry = DryRun()
    before = held(dry)
    (result,) = dry.apply_text(manifest)
    assert not result.ok
    assert held(dry) == before


def test_12_nodeport_already_allocated() -> None:
    first = service("type: NodePort\nports: [{port: 80, nodePort: 30080}]", name="first")
    second = service("type: NodePort\nports: [{port: 8080, nodePort: 30080}]", name="second")
    assert rejected(first, second) == (
        'Service "second" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
        "provided port is already allocated"
    )


def test_14_clusterip_outside_the_service_range() -> None:
    message = rejected(service("clusterIP: 1.1.1.1\nports: [{port: 80}]"))
    prefix = (
        'Service "s" is invalid: spec.clusterIPs: Invalid value: ["1.1.1.1"]: '
        "failed to allocate IP 1.1.1.1: "
    )
    assert message.startswith(prefix)
    assert message[len(prefix) :] in {
        "the provided network does not match the current range",
        "the provided IP (1.1.1.1) is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/16",
    }


def test_15_changing_the_cluster_ip() -> None:
    (old,) = DryRun().apply_text(service("clusterIP: 10.96.0.20\nports: [{port: 80}]"))
    assert old.ok
    new = replace(
        old.resource,
        spec=replace(old.resource.spec, cluster_ip="10.96.0.21", cluster_ips=("10.96.0.21",)),
    )
    errors = validate_update(new, old.resource)
    assert str(ValidationError("Service", "s", errors)) == (
        'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.0.21"]: '
        "may not change once set"
    )


def test_port_0_without_target_port_reports_both_fields() -> None:
    # Defaulting copies port into targetPort before validation, so upstream names both.
    assert rejected(service("ports: [{port: 0}]")) == (
        'Service "s" is invalid: [spec.ports[0].port: Invalid value: 0: must be between 1 and '
        "65535, inclusive, spec.ports[0].targetPort: Invalid value: 0: must be between 1 and "
        "65535, inclusive]"
    )


def test_allocation_errors_come_alone() -> None:
    # A bad port *and* an out-of-range node port: the allocation step speaks first, alone.
    message = rejected(service("type: NodePort\nports: [{port: 0, targetPort: 80, nodePort: 80}]"))
    assert message == (
        'Service "s" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is '
        "not in the valid range. The range of valid ports is 30000-32767"
    )


def test_dual_stack_cluster_accepts_require_dual_stack() -> None:
    config = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  ipFamily: dual\n"
    dry = DryRun(parse_config(config))
    (result,) = dry.apply_text(service("ipFamilyPolicy: RequireDualStack\nports: [{port: 80}]"))
    assert result.ok, result.message()
    spec = result.resource.spec
    assert spec.ip_families == ("IPv4", "IPv6")
    assert len(spec.cluster_ips) == 2
    assert spec.cluster_ip == spec.cluster_ips[0]
