"""Large-cluster mode (reference §2.7, upstream ``TestSyncProxyRulesLargeClusterMode``)."""

from __future__ import annotations

from k8s_service_lab.backends.iptables import (
    LARGE_CLUSTER_ENDPOINTS_THRESHOLD,
    IptablesBackend,
    SyncStats,
)
from k8s_service_lab.netfilter import Comment, Rule, Ruleset, to_restore
from k8s_service_lab.proxy import EndpointInfo, ServiceName, ServicePortInfo, ServicePortName
from tests.golden.scenarios_iptables import ep, fake_backend, make_state, port_name, svc


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stats(backend: IptablesBackend) -> SyncStats:
    """The last sync's figures, read fresh each time (mypy must not narrow them)."""
    assert backend.last_stats is not None
    return backend.last_stats


def many(prefix: str, n: int, port: int) -> list[EndpointInfo]:
    return [ep(f"{prefix}.{i // 256}.{i % 256}", port) for i in range(n)]


def sep_rules(payload: Ruleset) -> list[Rule]:
    nat = payload.table("nat")
    assert nat is not None
    return [
        st for st in nat.statements if isinstance(st, Rule) and st.chain.startswith("KUBE-SEP-")
    ]


def commented(rules: list[Rule]) -> bool:
    return any(type(m) is Comment for r in rules for m in r.matches)


def test_large_cluster_mode_drops_endpoint_comments() -> None:
    clock = Clock()
    backend = fake_backend(clock=clock)
    services: dict[ServicePortName, ServicePortInfo] = {
        port_name("ns1", "svc1"): svc("ns1", "svc1", "172.30.0.41"),
        port_name("ns2", "svc2", "p8080"): svc(
            "ns2", "svc2", "172.30.0.42", 8080, port_name_="p8080"
        ),
    }
    endpoints = {
        port_name("ns1", "svc1"): many("10.0", 499, 80),
        port_name("ns2", "svc2", "p8080"): many("10.1", 499, 8080),
    }
    first = backend.sync(make_state(services.values(), endpoints))
    assert backend.last_stats is not None
    assert not stats(backend).large_cluster
    assert commented(sep_rules(first))
    assert len(sep_rules(first)) == 2 * 499 * 2

    # svc3's three endpoints push the total past the threshold (1001 > 1000).
    services[port_name("ns3", "svc3", "p8081")] = svc(
        "ns3", "svc3", "172.30.0.43", 8081, port_name_="p8081"
    )
    endpoints[port_name("ns3", "svc3", "p8081")] = many("10.2", 3, 8081)
    assert LARGE_CLUSTER_ENDPOINTS_THRESHOLD < 499 * 2 + 3
    svc3 = ServiceName("ns3", "svc3")
    partial = backend.sync(make_state(services.values(), endpoints, updated=[svc3], full=False))
    assert stats(backend).large_cluster
    assert not stats(backend).full
    assert len(sep_rules(partial)) == 6
    assert not commented(sep_rules(partial))
    to_endpoints = [
        r
        for r in partial.tables[1].statements
        if isinstance(r, Rule) and r.chain.startswith("KUBE-SVC-") and "SEP" in str(r.target)
    ]
    assert len(to_endpoints) == 3
    assert not commented(to_endpoints)
    # The ClusterIP rules keep their comments: only per-endpoint ones go.
    assert '"ns3/svc3:p8081 cluster IP"' in to_restore(partial)

    # A full sync rewrites everything without the comments.
    full = backend.sync(make_state(services.values(), endpoints, full=True))
    assert not commented(sep_rules(full))
    text = to_restore(full)
    assert (
        "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80\n" in text
    )

    # Deleting a Service in large mode: no -X until syncPeriod has passed since the last cleanup.
    # (svc4 keeps the total above the threshold once svc3 is gone.)
    services[port_name("ns4", "svc4")] = svc("ns4", "svc4", "172.30.0.44")
    endpoints[port_name("ns4", "svc4")] = many("10.3", 3, 80)
    backend.sync(
        make_state(services.values(), endpoints, updated=[ServiceName("ns4", "svc4")], full=False)
    )
    del services[port_name("ns3", "svc3", "p8081")]
    del endpoints[port_name("ns3", "svc3", "p8081")]
    gone = backend.sync(make_state(services.values(), endpoints, updated=[svc3], full=False))
    assert gone.tables[1].deleted() == []
    clock.now += 31
    later = backend.sync(make_state(services.values(), endpoints, full=False))
    assert len(later.tables[1].deleted()) == 4  # svc3's SVC chain and its three SEPs
