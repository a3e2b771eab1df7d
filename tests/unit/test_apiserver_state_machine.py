"""Random Service creates, updates and deletes against the APIServer: the books always balance.

Small ranges (a /28 and a /124 of ClusterIPs, 20 NodePorts) make collisions and exhaustion
common. After every step:

- no IP or NodePort is held by two Services (nor twice by one, health check included);
- the allocators hold exactly what the stored Services hold — nothing leaked, nothing lost;
- a rejected write changed nothing.

Deleting every Service gives everything back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from k8s_service_lab.api import ObjectMeta, Service
from k8s_service_lab.api.service import ServicePort, ServiceSpec
from k8s_service_lab.config import PortRange, parse_config
from k8s_service_lab.controlplane.apiserver import APIServer
from k8s_service_lab.errors import ServiceLabError

NAMES = ("a", "b", "c", "d")
TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
POLICIES = (None, "SingleStack", "PreferDualStack", "RequireDualStack")
V4_IPS = (None, None, "10.96.0.3", "10.96.0.9", "None")
V6_IPS = ("fd00:10:96::3", "fd00:10:96::a")
NODE_PORTS = (None, None, 30001, 30002, 30017)
CONFIG = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {{{net}}}\n"
SINGLE = "serviceSubnet: 10.96.0.0/28"
DUAL = 'ipFamily: dual, serviceSubnet: "10.96.0.0/28,fd00:10:96::/124"'


@st.composite
def specs(draw: st.DrawFn) -> ServiceSpec:
    kind = draw(st.sampled_from(TYPES))
    if kind == "ExternalName":
        return ServiceSpec(type=kind, external_name="example.com")
    ip = draw(st.sampled_from(V4_IPS))
    cluster_ips: tuple[str, ...] = ()
    if ip is not None and ip != "None" and draw(st.booleans()):
        cluster_ips = (ip, draw(st.sampled_from(V6_IPS)))
    local = kind == "LoadBalancer" and draw(st.booleans())
    ports: tuple[ServicePort, ...] = (
        ServicePort(80, name="http", protocol="TCP", node_port=draw(st.sampled_from(NODE_PORTS))),
        ServicePort(53, name="dns", protocol="UDP", node_port=draw(st.sampled_from(NODE_PORTS))),
    )
    if kind == "ClusterIP":
        ports = tuple(replace(p, node_port=None) for p in ports)
    return ServiceSpec(
        type=kind,
        selector={"app": "x"} if draw(st.booleans()) else None,
        ports=ports,
        cluster_ip=ip,
        cluster_ips=cluster_ips,
        ip_family_policy=draw(st.sampled_from(POLICIES)),
        external_traffic_policy="Local" if local else None,
        health_check_node_port=draw(st.sampled_from((None, 30018))) if local else None,
        allocate_load_balancer_node_ports=draw(st.sampled_from((None, False)))
        if kind == "LoadBalancer"
        else None,
    )


def held_by(svc: Service) -> tuple[list[str], list[int]]:
    """What a stored Service holds: each IP once, each distinct NodePort once, the health check."""
    ips = [ip for ip in svc.spec.cluster_ips if ip != "None"]
    ports = sorted({p.node_port for p in svc.spec.ports if p.node_port})
    if svc.spec.type == "LoadBalancer" and svc.spec.external_traffic_policy == "Local":
        assert svc.spec.health_check_node_port
        ports.append(svc.spec.health_check_node_port)
    return ips, ports


class ServiceBooks(RuleBasedStateMachine):
    api: APIServer

    @initialize(dual=st.booleans(), seed=st.integers(0, 1000))
    def start(self, dual: bool, seed: int) -> None:
        config = parse_config(
            CONFIG.format(net=DUAL if dual else SINGLE), node_port_range=PortRange(30000, 20)
        )
        self.api = APIServer(config, seed=seed)
        self.api.ensure_system_namespaces()

    def _attempt(self, action: str, svc: Service) -> None:
        before = (self._snapshot(), len(self.api.store.events()))
        try:
            getattr(self.api, action)(svc)
        except ServiceLabError:
            assert (self._snapshot(), len(self.api.store.events())) == before

    def _snapshot(self) -> tuple[object, ...]:
        return (
            tuple(self.api.list(Service)),
            {f: a.used() for f, a in self.api.allocations.ip_allocators.items()},
            self.api.allocations.node_ports.used(),
        )

    @rule(name=st.sampled_from(NAMES), spec=specs())
    def apply(self, name: str, spec: ServiceSpec) -> None:
        """``kubectl apply`` of a manifest: a create, or a PUT leaving allocated values out."""
        exists = self.api.find(Service, "default", name) is not None
        action = "update" if exists else "create"
        self._attempt(action, Service(ObjectMeta(name=name, namespace="default"), spec))

    @rule(
        name=st.sampled_from(NAMES), kind=st.sampled_from(TYPES), policy=st.sampled_from(POLICIES)
    )
    def edit(self, name: str, kind: str, policy: str | None) -> None:
        """A read-modify-write (kubectl edit): change the type and the family policy."""
        stored = self.api.find(Service, "default", name)
        if stored is None:
            return
        spec = replace(stored.spec, type=kind, ip_family_policy=policy)
        if kind == "ExternalName":
            spec = replace(
                spec,
                external_name="example.com",
                external_traffic_policy=None,
                ip_family_policy=None,
            )
        elif not spec.ports:
            spec = replace(spec, ports=(ServicePort(80, name="http"),))
        if kind == "ClusterIP":
            spec = replace(spec, external_traffic_policy=None)
        self._attempt("update", replace(stored, spec=spec))

    @rule(name=st.sampled_from(NAMES))
    def delete(self, name: str) -> None:
        if self.api.find(Service, "default", name) is not None:
            self.api.delete(Service, "default", name)

    @precondition(lambda self: hasattr(self, "api"))
    @invariant()
    def books_balance(self) -> None:
        ips: Counter[str] = Counter()
        ports: Counter[int] = Counter()
        for svc in self.api.list(Service):
            svc_ips, svc_ports = held_by(svc)
            ips.update(svc_ips)
            ports.update(svc_ports)
        assert all(n == 1 for n in ips.values()), ips
        assert all(n == 1 for n in ports.values()), ports
        held_ips = {str(ip) for a in self.api.allocations.ip_allocators.values() for ip in a.used()}
        assert held_ips == set(ips)
        assert set(self.api.allocations.node_ports.used()) == set(ports)

    def teardown(self) -> None:
        if not hasattr(self, "api"):
            return
        for svc in self.api.list(Service):
            self.api.delete(Service, "default", svc.metadata.name or "")
        assert all(len(a) == 0 for a in self.api.allocations.ip_allocators.values())
        assert len(self.api.allocations.node_ports) == 0


ServiceBooks.TestCase.settings = settings(
    max_examples=500,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestServiceBooks = ServiceBooks.TestCase
