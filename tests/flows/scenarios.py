"""The upstream packet-flow scenarios of reference §2.5, as rulesets ready to trace.

Each :class:`Scenario` is one setup of ``pkg/proxy/iptables/proxier_test.go`` (v1.34): the
Services and EndpointSlices the test feeds its fake proxier, digested into a
:class:`~k8s_service_lab.proxy.NodeProxyState` for ``test-node``, plus the proxier options the
test changes (``masqueradeAll``, a no-op local detector, ``localhostNodePorts``,
``nodePortAddresses``). :meth:`Scenario.ruleset` is what that fake proxier holds after one full
sync: the jump rules kube-proxy inserts into the built-in chains and the restore payload, merged
as :meth:`k8s_service_lab.Cluster.trace` merges them.

    >>> s = SCENARIOS["load-balancer"]
    >>> s.upstream
    'TestLoadBalancer'
    >>> [t.name for t in s.ruleset().tables]
    ['filter', 'nat', 'mangle']
    >>> NODE.is_local("192.168.99.11"), NODE.cluster_cidr
    (True, '10.0.0.0/8')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from k8s_service_lab.backends.iptables import IptablesBackend
from k8s_service_lab.netfilter import Ruleset
from k8s_service_lab.proxy import EndpointInfo, NodeProxyState, ServicePortInfo, ServicePortName
from k8s_service_lab.tracer import NodeContext, merge
from tests.golden.scenarios_iptables import (
    ep,
    fake_backend,
    ip,
    make_state,
    net,
    overall_state,
    port_name,
    svc,
)

__all__ = ["NODE", "SCENARIOS", "TEST_NODE_IPS", "Scenario"]

#: Upstream ``testNodeIPs`` (IPv4 part) plus loopback: what ``-m addrtype LOCAL`` sees.
#: 192.168.99.11 is an external IP the tests also assign to the node.
TEST_NODE_IPS = ("192.168.0.2", "192.168.1.2", "192.168.99.11", "127.0.0.1")
#: The node every scenario is traced on: its addresses and the pod CIDR of the harness.
NODE = NodeContext.of(TEST_NODE_IPS, "10.0.0.0/8")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One upstream test setup: ``build`` makes the state, ``options`` the proxier flags."""

    name: str
    upstream: str
    build: Callable[[], NodeProxyState]
    options: tuple[tuple[str, object], ...] = ()

    def backend(self) -> IptablesBackend:
        """``NewFakeProxier`` with this test's changes applied."""
        return fake_backend(**dict(self.options))

    def rulesets(self) -> tuple[Ruleset, Ruleset]:
        """``(jump rules, payload)`` of one full sync, each loadable on its own."""
        backend = self.backend()
        return backend.jump_rules(), backend.sync(self.build())

    def ruleset(self) -> Ruleset:
        """Everything the node holds, merged as ``Cluster.trace`` merges it."""
        jumps, payload = self.rulesets()
        return merge(payload, jumps)


def _port(
    ns: str,
    name: str,
    cluster_ip: str,
    port: int,
    *,
    port_name_: str | None,
    protocol: str = "TCP",
    **kw: object,
) -> ServicePortInfo:
    """A Service port of any protocol, named or not (``svc()`` of the harness is TCP/named)."""
    return ServicePortInfo(
        ServicePortName(ns, name, port_name_, protocol),
        ip(cluster_ip),
        port,
        protocol,
        **kw,  # type: ignore[arg-type]
    )


def _state(
    services: Iterable[ServicePortInfo],
    endpoints: Mapping[ServicePortName, Iterable[EndpointInfo]],
) -> NodeProxyState:
    return make_state(services, endpoints)


# -- TestClusterIPGeneral ------------------------------------------------------------------


def cluster_ip_general() -> NodeProxyState:
    """Two ClusterIP Services; svc2 has a targetPort and TCP/UDP/SCTP on the same port 53."""
    svc1 = _port("ns1", "svc1", "172.30.0.41", 80, port_name_="http")
    svc2_ports = [
        _port("ns2", "svc2", "172.30.0.42", 80, port_name_="http"),
        _port("ns2", "svc2", "172.30.0.42", 443, port_name_="https"),
        _port("ns2", "svc2", "172.30.0.42", 53, port_name_="dns-udp", protocol="UDP"),
        _port("ns2", "svc2", "172.30.0.42", 53, port_name_="dns-tcp"),
        _port("ns2", "svc2", "172.30.0.42", 53, port_name_="dns-sctp", protocol="SCTP"),
    ]
    # The slice's ports carry the target ports: https -> 8443, dns-tcp -> 5353.
    target = {"http": 80, "https": 8443, "dns-udp": 53, "dns-tcp": 5353, "dns-sctp": 53}
    endpoints: dict[ServicePortName, list[EndpointInfo]] = {
        svc1.name: [ep("10.180.0.1", 80, local=True)],
    }
    for p in svc2_ports:
        tp = target[p.name.port_name or ""]
        endpoints[p.name] = [ep("10.180.0.1", tp, local=True), ep("10.180.2.1", tp)]
    return _state([svc1, *svc2_ports], endpoints)


# -- TestNoEndpointsReject, TestLoadBalancer, TestExternalTrafficPolicy* -------------------


def no_endpoints_reject() -> NodeProxyState:
    """A LoadBalancer with an external IP (also a node address) and no endpoints at all."""
    service = svc(
        "ns1", "svc1", "172.30.0.41", node_port=3001,
        external_ips=(ip("192.168.99.11"),), load_balancer_vips=(ip("1.2.3.4"),),
    )  # fmt: skip
    return _state([service], {})


def load_balancer() -> NodeProxyState:
    """Two LB IPs behind source ranges that include the node's own subnet."""
    service = svc(
        "ns1", "svc1", "172.30.0.41", node_port=3001,
        load_balancer_vips=(ip("1.2.3.4"), ip("5.6.7.8")),
        # Upstream writes " 203.0.113.0/25" to prove whitespace is trimmed; the proxy
        # digest (not this scenario) owns that trimming.
        load_balancer_source_ranges=(net("192.168.0.0/24"), net("203.0.113.0/25")),
    )  # fmt: skip
    return _state([service], {service.name: [ep("10.180.0.1")]})


def _external_policy(local: bool) -> NodeProxyState:
    service = svc(
        "ns1", "svc1", "172.30.0.41", node_port=3001,
        external_ips=(ip("192.168.99.11"),), load_balancer_vips=(ip("1.2.3.4"),),
        external_policy_local=local,
        # HealthCheckNodePort only reaches the proxy for eTP=Local (NeedsHealthCheck).
        health_check_node_port=30000 if local else None,
    )  # fmt: skip
    return _state([service], {service.name: [ep("10.180.0.1"), ep("10.180.2.1", local=True)]})


def external_policy_local() -> NodeProxyState:
    return _external_policy(True)


def external_policy_cluster() -> NodeProxyState:
    return _external_policy(False)


# -- TestInternalTrafficPolicy ------------------------------------------------------------


def _itp_local(local_first: bool, *, deleted: bool = False) -> NodeProxyState:
    service = _port("ns1", "svc1", "172.30.1.1", 80, port_name_=None, internal_policy_local=True)
    if deleted:
        return _state([service], {})
    eps = [ep("10.0.1.1", local=local_first), ep("10.0.1.2"), ep("10.0.1.3")]
    return _state([service], {service.name: eps})


def itp_local_one_local() -> NodeProxyState:
    """Upstream's "internalTrafficPolicy is local and there is one local endpoint"."""
    return _itp_local(True)


def itp_local_no_local() -> NodeProxyState:
    """Upstream's "internalTrafficPolicy is local and there are no local endpoints"."""
    return _itp_local(False)


def itp_local_deleted() -> NodeProxyState:
    """The same Service after its EndpointSlice was deleted ("endpoints deleted")."""
    return _itp_local(False, deleted=True)


# -- TestTerminatingEndpointsTrafficPolicyLocal / Cluster ---------------------------------


def _terminating_service(local: bool) -> ServicePortInfo:
    # An LB Service with an unnamed port and no NodePort; HealthCheckNodePort 30000 is
    # set in both tests but only digested for eTP=Local.
    return _port(
        "ns1", "svc1", "172.30.1.1", 80, port_name_=None,
        load_balancer_vips=(ip("1.2.3.4"),), external_policy_local=local,
        health_check_node_port=30000 if local else None,
    )  # fmt: skip


def _ep(address: str, ready: bool, serving: bool, terminating: bool, local: bool) -> EndpointInfo:
    return ep(address, local=local, ready=ready, serving=serving, terminating=terminating)


def terminating_local_only_terminating() -> NodeProxyState:
    """eTP=Local, "only terminating endpoints exist": local .2/.3 serving-terminating."""
    service = _terminating_service(True)
    eps = [
        _ep("10.0.1.2", False, True, True, local=True),
        _ep("10.0.1.3", False, True, True, local=True),
        _ep("10.0.1.4", False, False, True, local=True),
        _ep("10.0.1.5", True, True, False, local=False),
    ]
    return _state([service], {service.name: eps})


def terminating_local_remote() -> NodeProxyState:
    """eTP=Local, "terminating endpoints on remote node": one remote serving-terminating."""
    service = _terminating_service(True)
    return _state([service], {service.name: [_ep("10.0.1.5", False, True, True, local=False)]})


def terminating_cluster_only_terminating() -> NodeProxyState:
    """eTP=Cluster, "only terminating endpoints exist": .2/.3 local, .5 remote serving."""
    service = _terminating_service(False)
    eps = [
        _ep("10.0.1.2", False, True, True, local=True),
        _ep("10.0.1.3", False, True, True, local=True),
        _ep("10.0.1.4", False, False, True, local=False),
        _ep("10.0.1.5", False, True, True, local=False),
    ]
    return _state([service], {service.name: eps})


def terminating_cluster_none_usable() -> NodeProxyState:
    """eTP=Cluster, "no usable endpoints on any node": 10.0.1.5 twice (local and remote),
    neither ready nor serving — exactly as upstream lists it."""
    service = _terminating_service(False)
    eps = [
        _ep("10.0.1.5", False, False, True, local=True),
        _ep("10.0.1.5", False, False, True, local=False),
    ]
    return _state([service], {service.name: eps})


# -- TestInternalExternalMasquerade -------------------------------------------------------


def internal_external_masquerade() -> NodeProxyState:
    """svc1 eTP=Cluster, svc2 eTP=Local, svc3 iTP=Local; each one local and one remote ep.

    The test sets HealthCheckNodePort 30001/30002/30003; only svc2 (eTP=Local) keeps it.
    """
    services = [
        svc("ns1", "svc1", "172.30.0.41", node_port=3001, load_balancer_vips=(ip("1.2.3.4"),)),
        svc(
            "ns2", "svc2", "172.30.0.42", node_port=3002, load_balancer_vips=(ip("5.6.7.8"),),
            health_check_node_port=30002, external_policy_local=True,
        ),
        svc(
            "ns3", "svc3", "172.30.0.43", node_port=3003,
            load_balancer_vips=(ip("9.10.11.12"),), internal_policy_local=True,
        ),
    ]  # fmt: skip
    endpoints = {
        port_name(f"ns{n}", f"svc{n}"): [ep(f"10.180.0.{n}", local=True), ep(f"10.180.1.{n}")]
        for n in (1, 2, 3)
    }
    return _state(services, endpoints)


# -- TestNodePorts ------------------------------------------------------------------------


def node_ports() -> NodeProxyState:
    """A NodePort Service on 3001 with one remote and one local endpoint."""
    service = svc("ns1", "svc1", "172.30.0.41", node_port=3001)
    return _state([service], {service.name: [ep("10.180.0.1"), ep("10.180.2.1", local=True)]})


_NO_LOCALHOST: tuple[tuple[str, object], ...] = (("localhost_nodeports", False),)

SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("overall", "TestOverallIPTablesRules", overall_state),
        Scenario("cluster-ip-general", "TestClusterIPGeneral", cluster_ip_general),
        Scenario("no-endpoints-reject", "TestNoEndpointsReject", no_endpoints_reject),
        Scenario("load-balancer", "TestLoadBalancer", load_balancer),
        Scenario("etp-local", "TestExternalTrafficPolicyLocal", external_policy_local),
        Scenario("etp-cluster", "TestExternalTrafficPolicyCluster", external_policy_cluster),
        Scenario("itp-local-one-local", "TestInternalTrafficPolicy", itp_local_one_local),
        Scenario("itp-local-no-local", "TestInternalTrafficPolicy", itp_local_no_local),
        Scenario("itp-local-deleted", "TestInternalTrafficPolicy", itp_local_deleted),
        Scenario(
            "terminating-local-only-terminating",
            "TestTerminatingEndpointsTrafficPolicyLocal",
            terminating_local_only_terminating,
        ),
        Scenario(
            "terminating-local-remote",
            "TestTerminatingEndpointsTrafficPolicyLocal",
            terminating_local_remote,
        ),
        Scenario(
            "terminating-cluster-only-terminating",
            "TestTerminatingEndpointsTrafficPolicyCluster",
            terminating_cluster_only_terminating,
        ),
        Scenario(
            "terminating-cluster-none-usable",
            "TestTerminatingEndpointsTrafficPolicyCluster",
            terminating_cluster_none_usable,
        ),
        Scenario("masq-base", "TestInternalExternalMasquerade", internal_external_masquerade),
        Scenario(
            "masq-all",
            "TestInternalExternalMasquerade",
            internal_external_masquerade,
            (("masquerade_all", True),),
        ),
        Scenario(
            "masq-no-local-detector",
            "TestInternalExternalMasquerade",
            internal_external_masquerade,
            (("local_detector", None),),
        ),
        Scenario("node-ports-localhost-off", "TestNodePorts", node_ports, _NO_LOCALHOST),
        Scenario(
            "node-ports-addresses",
            "TestNodePorts",
            node_ports,
            (*_NO_LOCALHOST, ("node_port_addresses", ("192.168.0.0/24", "127.0.0.1/32"))),
        ),
    )
}
