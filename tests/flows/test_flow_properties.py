"""Load-balancing as a property: n ready endpoints give n equally likely DNAT branches.

For a random ClusterIP Service with 1–30 ready endpoints (some on the node, some remote), a
pod's new connection to the ClusterIP, traced through what the iptables backend renders,
splits into exactly n DNAT branches — one per endpoint — each of probability exactly ``1/n``
when kube-proxy's decimals are read as intended (``1/(n-i)`` for the i-th rule). Read as the
kernel stores them (31-bit fractions), the shares are no longer equal, but they still sum to
exactly 1, because the last rule of the chain is unconditional.
"""

from __future__ import annotations

import ipaddress
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.proxy import EndpointInfo, ServicePortInfo, ServicePortName
from k8s_service_lab.tracer import Packet, Tracer, merge
from tests.flows.scenarios import NODE
from tests.golden.scenarios_iptables import fake_backend, make_state

_NAME = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8).map(
    lambda s: "s" + s
)


@st.composite
def services(draw: st.DrawFn) -> tuple[ServicePortInfo, tuple[EndpointInfo, ...]]:
    """A ClusterIP Service port in 172.30.0.0/16 and its ready endpoints in 10.0.0.0/8."""
    protocol = draw(st.sampled_from(["TCP", "UDP", "SCTP"]))
    name = ServicePortName(draw(_NAME), draw(_NAME), draw(st.none() | _NAME), protocol)
    cluster_ip = ipaddress.ip_address("172.30.0.0") + draw(st.integers(1, 65534))
    info = ServicePortInfo(name, cluster_ip, draw(st.integers(1, 65535)), protocol)
    hosts = draw(st.lists(st.integers(1, 2**24 - 2), min_size=1, max_size=30, unique=True))
    target = draw(st.integers(1, 65535))
    endpoints = tuple(
        EndpointInfo(
            str(ipaddress.ip_address("10.0.0.0") + h), target, is_local=draw(st.booleans())
        )
        for h in hosts
    )
    return info, endpoints


@settings(database=None, max_examples=150, deadline=None)
@given(services(), st.integers(1, 2**24 - 2))
def test_n_endpoints_n_equal_branches(
    service: tuple[ServicePortInfo, tuple[EndpointInfo, ...]], pod_host: int
) -> None:
    info, endpoints = service
    n = len(endpoints)
    backend = fake_backend()
    state = make_state([info], {info.name: endpoints})
    ruleset = merge(backend.sync(state), backend.jump_rules())
    pod = str(ipaddress.ip_address("10.0.0.0") + pod_host)
    packet = Packet(pod, str(info.cluster_ip), info.protocol.lower(), 40000, info.port)

    intended = Tracer(ruleset, NODE).arriving(packet)
    assert not intended.uncertain, intended.not_evaluated
    assert intended.verdict == "DNAT"
    assert len(intended.branches) == n
    assert all(b.verdict == "DNAT" and b.probability == Fraction(1, n) for b in intended.branches)
    wanted = {(e.ip, e.port) for e in endpoints}
    assert {b.endpoint for b in intended.branches} == wanted
    assert {(ip, port) for ip, port, _ in intended.endpoints} == wanted

    kernel = Tracer(ruleset, NODE, probabilities="kernel").arriving(packet)
    assert len(kernel.branches) == n
    assert {b.endpoint for b in kernel.branches} == wanted
    assert sum(b.probability for b in kernel.branches) == 1
    assert sum(p for _, _, p in kernel.endpoints) == 1
