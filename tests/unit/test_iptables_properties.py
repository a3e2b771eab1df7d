"""Property: any sequence of partial syncs leaves the kernel exactly as one full render would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.backends.iptables import TOP_LEVEL_CHAINS
from k8s_service_lab.netfilter import check_jumps
from k8s_service_lab.proxy import EndpointInfo, ServicePortInfo, ServicePortName
from tests.golden.scenarios_iptables import (
    FakeKernel,
    ep,
    fake_backend,
    ip,
    make_state,
    net,
    port_name,
    svc,
)

SERVICE = st.fixed_dictionaries(
    {
        "node_port": st.none() | st.just(3001),
        "lb": st.booleans(),
        "ranges": st.booleans(),
        "etp_local": st.booleans(),
        "itp_local": st.booleans(),
        "affinity": st.booleans(),
    }
)
ENDPOINTS = st.lists(
    st.tuples(st.integers(1, 6), st.booleans(), st.booleans()), max_size=4, unique_by=lambda t: t[0]
)
STEP = st.tuples(st.integers(1, 4), st.none() | SERVICE, ENDPOINTS)


def build(i: int, spec: dict[str, object]) -> ServicePortInfo:
    return svc(
        f"ns{i}", f"svc{i}", f"172.30.0.{i}",
        node_port=spec["node_port"],
        load_balancer_vips=(ip(f"1.2.3.{i}"),) if spec["lb"] else (),
        load_balancer_source_ranges=(net("203.0.113.0/25"),) if spec["ranges"] else (),
        external_policy_local=bool(spec["etp_local"]) and (spec["lb"] or spec["node_port"] is not None),
        internal_policy_local=spec["itp_local"],
        session_affinity="ClientIP" if spec["affinity"] else "None",
        sticky_max_age_seconds=10800 if spec["affinity"] else None,
    )  # fmt: skip


@settings(database=None, max_examples=60, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=8))
def test_partial_syncs_converge_on_the_full_render(
    steps: list[tuple[int, object, list[tuple[int, bool, bool]]]],
) -> None:
    backend, kernel = fake_backend(), FakeKernel()
    services: dict[ServicePortName, ServicePortInfo] = {}
    endpoints: dict[ServicePortName, list[EndpointInfo]] = {}
    first = True
    for i, spec, eps in steps:
        name = port_name(f"ns{i}", f"svc{i}")
        if spec is None:
            services.pop(name, None)
            endpoints.pop(name, None)
        else:
            services[name] = build(i, spec)  # type: ignore[arg-type]
            endpoints[name] = [
                ep(f"10.180.{i}.{n}", local=local, ready=ready, terminating=not ready)
                for n, local, ready in eps
            ]
        state = make_state(services.values(), endpoints, updated=[name.service], full=first)
        first = False
        kernel.restore(backend.sync(state))
        assert check_jumps(kernel.ruleset(), top_level=TOP_LEVEL_CHAINS) == []
        fresh = FakeKernel()
        fresh.restore(fake_backend().render(state))
        assert kernel.tables == fresh.tables
