"""Service updates through the APIServer: sheet §2.6 (upgrade/downgrade), §3.4–§3.5, §4.3.

Every transition asserts what the allocators hold afterwards, and every rejected update
asserts that nothing changed: not the stored object, not one IP or port.
"""

from __future__ import annotations

import ipaddress
import textwrap
from dataclasses import replace

import pytest

from k8s_service_lab.api import Service
from k8s_service_lab.api.decode import decode_text
from k8s_service_lab.api.service import IPFamily
from k8s_service_lab.config import ClusterConfig, parse_config
from k8s_service_lab.controlplane.apiserver import APIServer
from k8s_service_lab.errors import AllocationError, ServiceLabError, ValidationError

DUAL = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {ipFamily: dual}\n"


def manifest(spec: str, name: str = "s", annotations: str = "") -> Service:
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    meta = f"metadata:\n  name: {name}\n{annotations}"
    obj = decode_text(f"apiVersion: v1\nkind: Service\n{meta}spec:\n{body}\n")[0]
    assert isinstance(obj, Service)
    return obj


def server(config: ClusterConfig | None = None) -> APIServer:
    api = APIServer(config or ClusterConfig.default(), seed=3)
    api.ensure_system_namespaces()
    return api


def held(api: APIServer) -> tuple[set[str], set[int]]:
    ips = {str(ip) for a in api.allocations.ip_allocators.values() for ip in a.used()}
    return ips, set(api.allocations.node_ports.used())


def holds(svc: Service) -> tuple[set[str], set[int]]:
    """What a stored Service should hold: its IPs, nodePorts and health-check port."""
    ips = {ip for ip in svc.spec.cluster_ips if ip != "None"}
    ports = {p.node_port for p in svc.spec.ports if p.node_port}
    if svc.spec.type == "LoadBalancer" and svc.spec.external_traffic_policy == "Local":
        ports.add(svc.spec.health_check_node_port or 0)
    return ips, ports


def rejected(api: APIServer, obj: Service) -> ServiceLabError:
    """Update must fail and change nothing; return the error."""
    before_obj = api.get(Service, "default", obj.metadata.name or "")
    before = held(api)
    events = len(api.store.events())
    with pytest.raises(ServiceLabError) as info:
        api.update(obj)
    assert api.get(Service, "default", obj.metadata.name or "") == before_obj
    assert held(api) == before
    assert len(api.store.events()) == events
    return info.value


def edit(svc: Service, **spec: object) -> Service:
    return replace(svc, spec=replace(svc.spec, **spec))  # type: ignore[arg-type]


NODE_PORT = "type: NodePort\nselector: {app: s}\nports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]"


# -- re-applying and patchAllocatedValues -------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "selector: {app: s}\nports: [{port: 80}]",
        NODE_PORT,
        "type: LoadBalancer\nexternalTrafficPolicy: Local\nports: [{port: 80}]",
        "clusterIP: None\nselector: {app: s}\nports: [{port: 80}]",
        "type: ExternalName\nexternalName: example.com",
    ],
)
def test_reapplying_the_original_manifest_keeps_everything(spec: str) -> None:
    api = server()
    created = api.create(manifest(spec))
    before = held(api)
    again = api.update(manifest(spec))
    assert again.spec == created.spec
    assert held(api) == before


def test_node_ports_are_patched_by_port_name() -> None:
    api = server()
    created = api.create(manifest(NODE_PORT))
    by_name = {p.name: p.node_port for p in created.spec.ports}
    # Reordered ports, still without nodePort: each gets its own old value back.
    swapped = manifest(
        "type: NodePort\nselector: {app: s}\n"
        "ports: [{name: dns, port: 53, protocol: UDP}, {name: http, port: 80}]"
    )
    updated = api.update(swapped)
    assert {p.name: p.node_port for p in updated.spec.ports} == by_name
    assert held(api)[1] == set(by_name.values())


def test_a_renamed_port_gets_a_new_node_port_and_the_old_one_is_released() -> None:
    api = server()
    created = api.create(manifest("type: NodePort\nports: [{name: a, port: 80}]"))
    old_port = created.spec.ports[0].node_port
    updated = api.update(manifest("type: NodePort\nports: [{name: b, port: 80}]"))
    new_port = updated.spec.ports[0].node_port
    assert new_port not in (None, old_port)
    assert held(api)[1] == {new_port}


# -- §4.3 type transitions -----------------------------------------------------------------


def test_cluster_ip_to_node_port_keeps_ip_and_allocates_ports() -> None:
    api = server()
    created = api.create(manifest("selector: {app: s}\nports: [{port: 80}]"))
    updated = api.update(manifest("type: NodePort\nselector: {app: s}\nports: [{port: 80}]"))
    assert updated.spec.cluster_ips == created.spec.cluster_ips
    assert updated.spec.external_traffic_policy == "Cluster"
    port = updated.spec.ports[0].node_port
    assert port is not None
    assert 30086 <= port <= 32767
    assert held(api) == holds(updated)


def test_node_port_to_cluster_ip_zeroes_and_releases_ports() -> None:
    api = server()
    created = api.create(manifest(NODE_PORT))
    assert held(api)[1] == holds(created)[1] != set()
    # Editing the stored object (kubectl edit): the nodePorts are still in it.
    updated = api.update(edit(created, type="ClusterIP", external_traffic_policy=None))
    assert [p.node_port for p in updated.spec.ports] == [None, None]
    assert updated.spec.external_traffic_policy is None
    assert updated.spec.cluster_ips == created.spec.cluster_ips
    assert held(api) == holds(updated)


def test_node_port_to_cluster_ip_with_a_new_node_port_is_forbidden() -> None:
    api = server()
    created = api.create(manifest("type: NodePort\nports: [{port: 80, nodePort: 30080}]"))
    assert created.spec.ports[0].node_port == 30080
    change = edit(
        created,
        type="ClusterIP",
        external_traffic_policy=None,
        ports=(replace(created.spec.ports[0], node_port=30081),),
    )
    err = rejected(api, change)
    assert str(err) == (
        'Service "s" is invalid: spec.ports[0].nodePort: Forbidden: '
        "may not be used when `type` is 'ClusterIP'"
    )


def test_node_port_to_cluster_ip_keeping_etp_is_refused() -> None:
    api = server()
    created = api.create(manifest("type: NodePort\nports: [{port: 80}]"))
    err = rejected(api, edit(created, type="ClusterIP", external_traffic_policy="Local"))
    assert str(err) == (
        'Service "s" is invalid: spec.externalTrafficPolicy: Invalid value: "Local": '
        "may only be set for externally-accessible services"
    )


def test_node_port_to_load_balancer_keeps_ports_and_allocates_health_check() -> None:
    api = server()
    created = api.create(manifest(NODE_PORT))
    updated = api.update(
        manifest(NODE_PORT.replace("NodePort", "LoadBalancer") + "\nexternalTrafficPolicy: Local")
    )
    assert updated.spec.ports == created.spec.ports
    assert updated.spec.allocate_load_balancer_node_ports is True
    hc = updated.spec.health_check_node_port
    assert hc is not None
    assert hc not in held(api)[1] - {hc}
    assert held(api) == holds(updated)


def test_load_balancer_to_cluster_ip_releases_ports_and_health_check() -> None:
    api = server()
    lb = api.create(
        manifest(
            "type: LoadBalancer\nexternalTrafficPolicy: Local\nloadBalancerClass: x.io/lb\n"
            "ports: [{port: 80}]"
        )
    )
    assert len(held(api)[1]) == 2  # a nodePort and the health check
    updated = api.update(edit(lb, type="ClusterIP", external_traffic_policy=None))
    assert updated.spec.health_check_node_port is None
    assert updated.spec.allocate_load_balancer_node_ports is None
    assert updated.spec.load_balancer_class is None
    assert updated.spec.ports[0].node_port is None
    assert held(api) == (set(lb.spec.cluster_ips), set())


def test_load_balancer_to_node_port_releases_only_the_health_check() -> None:
    api = server()
    lb = api.create(
        manifest("type: LoadBalancer\nexternalTrafficPolicy: Local\nports: [{port: 80}]")
    )
    updated = api.update(edit(lb, type="NodePort", external_traffic_policy="Cluster"))
    assert updated.spec.ports == lb.spec.ports
    assert updated.spec.health_check_node_port is None
    assert held(api) == (set(lb.spec.cluster_ips), {lb.spec.ports[0].node_port})


def test_etp_local_to_cluster_releases_the_health_check() -> None:
    api = server()
    lb = api.create(
        manifest("type: LoadBalancer\nexternalTrafficPolicy: Local\nports: [{port: 80}]")
    )
    updated = api.update(edit(lb, external_traffic_policy="Cluster"))
    assert updated.spec.health_check_node_port is None
    assert held(api) == holds(updated)


@pytest.mark.parametrize("kind", ["ClusterIP", "NodePort", "LoadBalancer"])
def test_any_type_to_external_name_releases_everything(kind: str) -> None:
    api = server()
    created = api.create(manifest(f"type: {kind}\nselector: {{app: s}}\nports: [{{port: 80}}]"))
    assert held(api) == holds(created)
    to_name = edit(
        created, type="ExternalName", external_name="example.com", external_traffic_policy=None
    )
    updated = api.update(to_name)
    assert updated.spec.cluster_ip is None
    assert updated.spec.cluster_ips == ()
    assert updated.spec.ip_families == ()
    assert updated.spec.ip_family_policy is None
    assert held(api) == (set(), set())


def test_external_name_to_cluster_ip_with_a_changed_ip_is_refused() -> None:
    api = server()
    created = api.create(manifest("selector: {app: s}\nports: [{port: 80}]"))
    change = edit(
        created,
        type="ExternalName",
        external_name="example.com",
        cluster_ip="10.96.0.99",
        cluster_ips=("10.96.0.99",),
    )
    err = rejected(api, change)
    assert "spec.clusterIPs: Forbidden: may not be set for ExternalName services" in str(err)


@pytest.mark.parametrize("kind", ["ClusterIP", "NodePort", "LoadBalancer"])
def test_external_name_to_other_types_allocates_fresh(kind: str) -> None:
    api = server()
    api.create(manifest("type: ExternalName\nexternalName: example.com"))
    assert held(api) == (set(), set())
    updated = api.update(manifest(f"type: {kind}\nselector: {{app: s}}\nports: [{{port: 80}}]"))
    assert updated.spec.ip_families == ("IPv4",)
    assert updated.spec.ip_family_policy == "SingleStack"
    assert len(updated.spec.cluster_ips) == 1
    assert held(api) == holds(updated)
    assert (kind == "ClusterIP") == (updated.spec.ports[0].node_port is None)


def test_external_name_to_cluster_ip_with_a_taken_ip_fails_alone() -> None:
    api = server()
    api.create(manifest("clusterIP: 10.96.0.50\nports: [{port: 80}]", name="other"))
    api.create(manifest("type: ExternalName\nexternalName: example.com"))
    err = rejected(api, manifest("clusterIP: 10.96.0.50\nports: [{port: 0}]"))
    assert str(err) == (
        'Service "s" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.50"]: '
        "failed to allocate IP 10.96.0.50: provided IP is already allocated"
    )


def test_headless_to_headful_is_refused() -> None:
    api = server()
    created = api.create(manifest("clusterIP: None\nselector: {app: s}\nports: [{port: 80}]"))
    err = rejected(api, edit(created, cluster_ip="10.96.0.20", cluster_ips=("10.96.0.20",)))
    assert 'spec.clusterIPs[0]: Invalid value: ["10.96.0.20"]: may not change once set' in str(err)


def test_changing_the_cluster_ip_is_refused() -> None:
    api = server()
    api.create(manifest("clusterIP: 10.96.0.30\nports: [{port: 80}]"))
    err = rejected(api, manifest("clusterIP: 10.96.0.20\nports: [{port: 80}]"))
    assert str(err) == (
        'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.0.20"]: '
        "may not change once set"
    )


def test_selector_survives_type_changes() -> None:
    api = server()
    created = api.create(manifest("type: NodePort\nselector: {app: s}\nports: [{port: 80}]"))
    updated = api.update(edit(created, type="ClusterIP", external_traffic_policy=None))
    assert updated.spec.selector == {"app": "s"}


# -- node ports on update (§3.5) ----------------------------------------------------------


def test_requesting_a_taken_node_port_on_update_fails_alone() -> None:
    api = server()
    api.create(manifest("type: NodePort\nports: [{port: 80, nodePort: 30080}]", name="a"))
    api.create(manifest("type: NodePort\nports: [{port: 80}]"))
    err = rejected(api, manifest("type: NodePort\nports: [{port: 0, nodePort: 30080}]"))
    assert str(err) == (
        'Service "s" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
        "provided port is already allocated"
    )


def test_changing_a_node_port_releases_the_old_one_on_commit_only() -> None:
    api = server()
    api.create(manifest("type: NodePort\nports: [{port: 80, nodePort: 30080}]"))
    api.update(manifest("type: NodePort\nports: [{port: 80, nodePort: 30090}]"))
    assert held(api)[1] == {30090}


def test_duplicate_node_port_on_update_is_upstreams_bare_error() -> None:
    api = server()
    api.create(manifest("type: NodePort\nports: [{name: a, port: 80}, {name: b, port: 81}]"))
    err = rejected(
        api,
        manifest(
            "type: NodePort\n"
            "ports: [{name: a, port: 80, nodePort: 30100}, {name: b, port: 81, nodePort: 30100}]"
        ),
    )
    assert str(err) == "duplicate nodePort: {TCP 30100}"


def test_allocate_lb_node_ports_false_keeps_existing_ports() -> None:
    api = server()
    lb = api.create(manifest("type: LoadBalancer\nports: [{name: http, port: 80}]"))
    updated = api.update(
        manifest(
            "type: LoadBalancer\nallocateLoadBalancerNodePorts: false\nports: [{name: http, port: 80}]"
        )
    )
    assert updated.spec.ports[0].node_port == lb.spec.ports[0].node_port
    assert held(api) == holds(updated)


# -- health check (§3.4) ------------------------------------------------------------------


def test_health_check_port_is_immutable_while_needed() -> None:
    api = server()
    lb = api.create(
        manifest("type: LoadBalancer\nexternalTrafficPolicy: Local\nports: [{port: 80}]")
    )
    other = 30099 if lb.spec.health_check_node_port != 30099 else 30098
    err = rejected(api, edit(lb, health_check_node_port=other))
    assert (
        str(err)
        == 'Service "s" is invalid: spec.healthCheckNodePort: Forbidden: field is immutable'
    )


def test_requested_health_check_taken_on_transition_is_a_500() -> None:
    api = server()
    api.create(manifest("type: NodePort\nports: [{port: 80, nodePort: 30000}]", name="a"))
    lb = api.create(manifest("type: LoadBalancer\nports: [{port: 80}]"))
    err = rejected(api, edit(lb, external_traffic_policy="Local", health_check_node_port=30000))
    assert isinstance(err, AllocationError)
    assert str(err) == (
        "Internal error occurred: failed to allocate requested HealthCheck NodePort 30000: "
        "provided port is already allocated"
    )


def test_health_check_on_node_port_is_refused() -> None:
    api = server()
    created = api.create(manifest("type: NodePort\nports: [{port: 80}]"))
    err = rejected(api, edit(created, health_check_node_port=32000))
    assert str(err) == (
        'Service "s" is invalid: spec.healthCheckNodePort: Invalid value: 32000: may only be '
        "set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"
    )


# -- dual-stack upgrade / downgrade (§2.6) ------------------------------------------------


def test_upgrade_to_dual_stack_allocates_the_secondary() -> None:
    api = server(parse_config(DUAL))
    created = api.create(manifest("selector: {app: s}\nports: [{port: 80}]"))
    assert created.spec.ip_families == ("IPv4",)
    updated = api.update(edit(created, ip_family_policy="RequireDualStack", ip_families=()))
    assert updated.spec.ip_families == ("IPv4", "IPv6")
    assert updated.spec.cluster_ips[0] == created.spec.cluster_ips[0]
    assert ipaddress.ip_address(updated.spec.cluster_ips[1]).version == 6
    assert held(api) == holds(updated)


def test_downgrade_by_policy_alone_cuts_and_releases_the_secondary() -> None:
    api = server(parse_config(DUAL))
    created = api.create(manifest("ipFamilyPolicy: RequireDualStack\nports: [{port: 80}]"))
    assert len(created.spec.cluster_ips) == 2
    updated = api.update(edit(created, ip_family_policy="SingleStack"))
    assert updated.spec.cluster_ips == created.spec.cluster_ips[:1]
    assert updated.spec.ip_families == ("IPv4",)
    assert held(api) == holds(updated)


def test_shrinking_without_single_stack_is_refused_alone() -> None:
    api = server(parse_config(DUAL))
    created = api.create(manifest("ipFamilyPolicy: PreferDualStack\nports: [{port: 80}]"))
    err = rejected(
        api, edit(created, cluster_ips=created.spec.cluster_ips[:1], ip_families=("IPv4",))
    )
    assert str(err) == (
        'Service "s" is invalid: [spec.ipFamilyPolicy: Invalid value: "PreferDualStack": '
        "must be 'SingleStack' to release the secondary cluster IP, "
        'spec.ipFamilyPolicy: Invalid value: "PreferDualStack": '
        "must be 'SingleStack' to release the secondary IP family]"
    )


def test_require_dual_stack_on_single_stack_cluster_is_refused() -> None:
    api = server()
    created = api.create(manifest("ports: [{port: 80}]"))
    err = rejected(api, edit(created, ip_family_policy="RequireDualStack"))
    assert str(err) == (
        'Service "s" is invalid: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": '
        "this cluster is not configured for dual-stack services"
    )


def test_prefer_dual_stack_is_not_upgraded_by_an_unrelated_update() -> None:
    # Created on a single-stack cluster, read back on a dual-stack one: left alone.
    api = server(parse_config(DUAL))
    created = api.create(manifest("ipFamilyPolicy: PreferDualStack\nports: [{port: 80}]"))
    single = edit(created, cluster_ips=created.spec.cluster_ips[:1], ip_families=("IPv4",))
    api.store.update(single)  # as if the cluster had been single-stack when it was created
    for ip in created.spec.cluster_ips[1:]:
        api.allocations.ip_allocators[IPFamily.IPV6].release(ipaddress.ip_address(ip))
    relabelled = replace(single, metadata=replace(single.metadata, labels={"x": "y"}))
    updated = api.update(relabelled)
    assert updated.spec.cluster_ips == single.spec.cluster_ips
    assert held(api) == holds(updated)


def test_changing_the_primary_family_fails_the_pre_check_alone() -> None:
    api = server(parse_config(DUAL))
    created = api.create(manifest("clusterIP: 10.96.0.40\nports: [{port: 80}]"))
    err = rejected(api, edit(created, ip_families=("IPv6",), ports=()))
    assert isinstance(err, ValidationError)
    assert str(err) == (
        'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: "10.96.0.40": '
        "expected an IPv6 value as indicated by `ipFamilies[0]`"
    )


# -- status is not the spec's business ------------------------------------------------------


def test_spec_update_keeps_the_stored_status() -> None:
    api = server()
    lb = api.create(manifest("type: LoadBalancer\nports: [{port: 80}]"))
    from k8s_service_lab.api.service import LoadBalancerIngress, ServiceStatus

    with_status = api.update_status(
        replace(lb, status=ServiceStatus((LoadBalancerIngress(ip="1.2.3.4"),)))
    )
    assert with_status.status.load_balancer_ingress[0].ip_mode == "VIP"
    updated = api.update(
        replace(manifest("type: LoadBalancer\nports: [{port: 80}]"), status=ServiceStatus())
    )
    assert updated.status == with_status.status
