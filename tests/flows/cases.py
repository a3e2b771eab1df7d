"""The 36 packet-flow acceptance cases of reference §2.5, one :class:`FlowCase` per flow.

``expect`` is upstream's ``output`` string: ``"ip:port, ..."`` (the DNAT endpoints), ``DROP``,
``REJECT``, ``ACCEPT``, or ``""`` (nothing matched). A case with "/" in §2.5 is two flows with
the same number; case 19 is eight (ClusterIP, external IP, NodePort and LB IP, each from a pod
and from outside); case 26 is one flow on two scenarios (before and after the endpoints go).
:func:`trace_case` runs a case's packet through a ruleset on the harness node, the node's own
traffic (a source the node owns) as sent, everything else as arriving.

    >>> case = by_id("case-02-single-endpoint")
    >>> case.scenario, case.verdict, sorted(case.endpoints)
    ('overall', 'DNAT', ['10.180.0.1:80'])
    >>> [c.id for c in CASES if c.number == 24]
    ['case-24-pod-to-cip', 'case-24-pod-to-lb']
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s_service_lab.netfilter import Ruleset
from k8s_service_lab.tracer import Packet, Tracer, TraceResult
from tests.flows.scenarios import NODE

__all__ = ["CASES", "SPORT", "FlowCase", "by_id", "trace_case"]

#: Source port of every traced packet (upstream's tracer has none; no rule looks at it).
SPORT = 40000

_POD = "10.0.0.2"
_EXT = "203.0.113.2"  # testExternalClient
_BLOCKED = "203.0.113.130"  # testExternalClientBlocked
_NODE_IP = "192.168.0.2"


@dataclass(frozen=True, slots=True)
class FlowCase:
    """One flow: the §2.5 case number, its scenario, the packet and upstream's expectation."""

    number: int
    name: str
    scenario: str
    src: str
    dst: str
    dport: int
    expect: str
    masq: bool = False
    proto: str = "tcp"

    @property
    def id(self) -> str:
        return f"case-{self.number:02d}-{self.name}"

    @property
    def verdict(self) -> str:
        """Our verdict for upstream's output: an endpoint list is DNAT, ``""`` is NONE.

        ``""`` means no rule with a target matched; in our engine that is a packet that fell
        off every chain into an ACCEPT policy (``NONE``). An explicit ``ACCEPT`` would mean
        some rule accepted it, which upstream would have printed, so it does not count.
        """
        if self.expect in ("DROP", "REJECT", "ACCEPT"):
            return self.expect
        return "DNAT" if self.expect else "NONE"

    @property
    def endpoints(self) -> frozenset[str]:
        """The expected DNAT destinations as ``ip:port`` strings (empty unless DNAT)."""
        if self.verdict != "DNAT":
            return frozenset()
        return frozenset(e.strip() for e in self.expect.split(","))

    def packet(self) -> Packet:
        return Packet(self.src, self.dst, self.proto, SPORT, self.dport)


def trace_case(ruleset: Ruleset, case: FlowCase, probabilities: str = "intended") -> TraceResult:
    """Trace ``case`` through ``ruleset`` on the harness node (``Cluster.trace``'s rule:
    a source the node owns is the node sending; anything else arrives from outside)."""
    tracer = Tracer(ruleset, NODE, probabilities=probabilities)
    packet = case.packet()
    return tracer.sent(packet) if NODE.is_local(case.src) else tracer.arriving(packet)


def _c(
    number: int,
    name: str,
    scenario: str,
    src: str,
    dst: str,
    dport: int,
    expect: str,
    masq: bool = False,
    proto: str = "tcp",
) -> FlowCase:
    return FlowCase(number, name, scenario, src, dst, dport, expect, masq, proto)


_SVC4 = "10.180.0.4:80, 10.180.0.5:80"
_GENERAL2 = "10.180.0.1:{0}, 10.180.2.1:{0}"
_EPS_1 = "10.180.0.1:80, 10.180.2.1:80"
_MASQ1 = "10.180.0.1:80, 10.180.1.1:80"
_TERM = "10.0.1.2:80, 10.0.1.3:80"

# One row per flow, as §2.5 lists them; aligned by hand, so the formatter keeps out.
# fmt: off
CASES: tuple[FlowCase, ...] = (
    # TestTracePacket on the TestOverallIPTablesRules fixture, then cases derived from it.
    _c(1, "no-match", "overall", _POD, "10.0.0.3", 80, ""),
    _c(2, "single-endpoint", "overall", _POD, "172.30.0.41", 80, "10.180.0.1:80"),
    _c(3, "multiple-endpoints", "overall", _POD, "172.30.0.44", 80, _SVC4),
    _c(4, "local-masq", "overall", _NODE_IP, "192.168.99.22", 80, "10.180.0.2:80", True),
    _c(5, "external-drop", "overall", _EXT, "192.168.99.22", 80, "DROP"),
    _c(6, "healthcheck-accept", "overall", _NODE_IP, _NODE_IP, 30000, "ACCEPT"),
    _c(7, "no-endpoints-reject", "overall", _POD, "172.30.0.46", 80, "REJECT"),
    _c(8, "lb-allowed-source", "overall", _EXT, "5.6.7.8", 80, "10.180.0.3:80", True),
    _c(9, "lb-blocked-source", "overall", _BLOCKED, "5.6.7.8", 80, "DROP"),
    _c(10, "nodeport-bypasses-ranges", "overall", _BLOCKED, _NODE_IP, 3002, "10.180.0.3:80",
       True),
    _c(11, "nodeport-etp-local-no-local", "overall", _EXT, _NODE_IP, 3001, "DROP"),
    _c(12, "pod-lb-short-circuit", "overall", _POD, "1.2.3.4", 80, "10.180.0.2:80"),
    _c(13, "pod-external-ip-etp-cluster", "overall", _POD, "192.168.99.33", 80, _SVC4, True),
    _c(14, "localhost-nodeport", "overall", "127.0.0.1", "127.0.0.1", 3003, "10.180.0.3:80",
       True),
    # TestClusterIPGeneral
    _c(15, "hairpin", "cluster-ip-general", "10.180.0.1", "172.30.0.41", 80, "10.180.0.1:80",
       True),
    _c(16, "target-port", "cluster-ip-general", "10.180.0.2", "172.30.0.42", 443,
       _GENERAL2.format(8443)),
    _c(17, "udp-same-port", "cluster-ip-general", "10.180.0.2", "172.30.0.42", 53,
       _GENERAL2.format(53), proto="udp"),
    _c(18, "udp-to-tcp-only-port", "cluster-ip-general", "10.180.0.2", "172.30.0.42", 80, "",
       proto="udp"),
    # TestNoEndpointsReject (upstream's six flows plus pod -> external IP, external -> CIP)
    _c(19, "pod-to-cip", "no-endpoints-reject", _POD, "172.30.0.41", 80, "REJECT"),
    _c(19, "external-to-cip", "no-endpoints-reject", _EXT, "172.30.0.41", 80, "REJECT"),
    _c(19, "pod-to-external-ip", "no-endpoints-reject", _POD, "192.168.99.11", 80, "REJECT"),
    _c(19, "external-to-external-ip", "no-endpoints-reject", _EXT, "192.168.99.11", 80,
       "REJECT"),
    _c(19, "pod-to-nodeport", "no-endpoints-reject", _POD, _NODE_IP, 3001, "REJECT"),
    _c(19, "external-to-nodeport", "no-endpoints-reject", _EXT, _NODE_IP, 3001, "REJECT"),
    _c(19, "pod-to-lb", "no-endpoints-reject", _POD, "1.2.3.4", 80, "REJECT"),
    _c(19, "external-to-lb", "no-endpoints-reject", _EXT, "1.2.3.4", 80, "REJECT"),
    # TestLoadBalancer
    _c(20, "pod-lb-not-in-ranges", "load-balancer", _POD, "1.2.3.4", 80, "DROP"),
    _c(21, "node-snat-to-vip", "load-balancer", "1.2.3.4", "1.2.3.4", 80, "10.180.0.1:80",
       True),
    # TestExternalTrafficPolicyLocal / Cluster
    _c(22, "external-lb-local-only", "etp-local", _EXT, "1.2.3.4", 80, "10.180.2.1:80"),
    _c(23, "pod-nodeport-all", "etp-local", _POD, _NODE_IP, 3001, _EPS_1),
    _c(24, "pod-to-cip", "etp-cluster", _POD, "172.30.0.41", 80, _EPS_1),
    _c(24, "pod-to-lb", "etp-cluster", _POD, "1.2.3.4", 80, _EPS_1, True),
    # TestInternalTrafficPolicy
    _c(25, "one-local", "itp-local-one-local", _POD, "172.30.1.1", 80, "10.0.1.1:80"),
    _c(26, "no-local-drop", "itp-local-no-local", _POD, "172.30.1.1", 80, "DROP"),
    _c(26, "deleted-reject", "itp-local-deleted", _POD, "172.30.1.1", 80, "REJECT"),
    # TestTerminatingEndpointsTrafficPolicyLocal / Cluster
    _c(27, "external-lb-terminating", "terminating-local-only-terminating", _EXT, "1.2.3.4",
       80, _TERM),
    _c(27, "pod-to-cip", "terminating-local-only-terminating", _POD, "172.30.1.1", 80,
       "10.0.1.5:80"),
    _c(28, "external-lb-drop", "terminating-local-remote", _EXT, "1.2.3.4", 80, "DROP"),
    _c(28, "pod-to-cip", "terminating-local-remote", _POD, "172.30.1.1", 80, "10.0.1.5:80"),
    _c(29, "external-lb-terminating", "terminating-cluster-only-terminating", _EXT, "1.2.3.4",
       80, _TERM + ", 10.0.1.5:80", True),
    _c(30, "pod-to-cip", "terminating-cluster-none-usable", _POD, "172.30.1.1", 80, "REJECT"),
    _c(30, "external-to-lb", "terminating-cluster-none-usable", _EXT, "1.2.3.4", 80, "REJECT"),
    # TestInternalExternalMasquerade (base, masqueradeAll, no LocalTrafficDetector)
    _c(31, "external-to-cip", "masq-base", _EXT, "172.30.0.41", 80, _MASQ1, True),
    _c(32, "pod-to-cip-masquerade-all", "masq-all", _POD, "172.30.0.41", 80, _MASQ1, True),
    _c(33, "pod-lb-etp-local-no-detector", "masq-no-local-detector", _POD, "5.6.7.8", 80,
       "10.180.0.2:80"),
    _c(34, "node-to-cip-itp-local", "masq-base", _NODE_IP, "172.30.0.43", 80, "10.180.0.3:80",
       True),
    # TestNodePorts
    _c(35, "localhost-nodeport-off", "node-ports-localhost-off", "127.0.0.1", "127.0.0.1",
       3001, ""),
    _c(36, "alt-node-ip-not-selected", "node-ports-addresses", _EXT, "192.168.1.2", 3001, ""),
)
# fmt: on


def by_id(case_id: str) -> FlowCase:
    """The case with this test id (``case-NN-name``)."""
    for case in CASES:
        if case.id == case_id:
            return case
    raise KeyError(case_id)
