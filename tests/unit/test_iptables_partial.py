"""Partial syncs (KEP-3453), step by step as upstream ``TestSyncProxyRulesRepeated`` (§2.6)."""

from __future__ import annotations

from k8s_service_lab.backends.iptables import TOP_LEVEL_CHAINS, IptablesBackend, SyncStats
from k8s_service_lab.netfilter import Ruleset, Table, check_jumps, to_restore
from k8s_service_lab.proxy import EndpointInfo, ServiceName, ServicePortInfo, ServicePortName
from tests.golden.scenarios_iptables import FakeKernel, ep, fake_backend, make_state, port_name, svc

SVC1, SVC2, SVC3, SVC4 = (ServiceName(f"ns{i}", f"svc{i}") for i in range(1, 5))


class Harness:
    """Holds the Services and endpoints, and syncs only what changed, as the watcher does."""

    def __init__(self, backend: IptablesBackend) -> None:
        self.backend = backend
        self.services: dict[ServicePortName, ServicePortInfo] = {}
        self.endpoints: dict[ServicePortName, list[EndpointInfo]] = {}
        self.full = True
        self.kernel = FakeKernel()

    def sync(self, *updated: ServiceName) -> Ruleset:
        state = make_state(self.services.values(), self.endpoints, updated=updated, full=self.full)
        self.full = False
        payload = self.backend.sync(state)
        self.kernel.restore(payload)
        # Consistency is a property of what the kernel holds after the restore.
        assert check_jumps(self.kernel.ruleset(), top_level=TOP_LEVEL_CHAINS) == []
        # ...and the kernel then holds exactly what a full render describes.
        full = self.backend.render(state)
        assert _live(self.kernel.ruleset()) == _live(full)
        return payload


def stats(backend: IptablesBackend) -> SyncStats:
    """The last sync's figures, read fresh each time (mypy must not narrow them)."""
    assert backend.last_stats is not None
    return backend.last_stats


def _live(rs: Ruleset) -> dict[str, dict[str, list[object]]]:
    return {t.name: {c: list(r) for c, r in t.rules_by_chain().items()} for t in rs.tables}


def nat(payload: Ruleset) -> Table:
    table = payload.table("nat")
    assert table is not None
    return table


def service_chains(payload: Ruleset) -> list[str]:
    return [c for c in nat(payload).chain_names() if c.startswith(("KUBE-SVC-", "KUBE-SEP-"))]


def start() -> Harness:
    h = Harness(fake_backend())
    h.services[port_name("ns1", "svc1")] = svc("ns1", "svc1", "172.30.0.41")
    h.services[port_name("ns2", "svc2", "p8080")] = svc(
        "ns2", "svc2", "172.30.0.42", 8080, port_name_="p8080"
    )
    h.endpoints[port_name("ns1", "svc1")] = [ep("10.0.1.1")]
    h.endpoints[port_name("ns2", "svc2", "p8080")] = [ep("10.0.2.1", 8080)]
    return h


def test_repeated_syncs_step_by_step() -> None:
    h = start()
    first = h.sync()
    assert h.backend.last_stats is not None
    assert stats(h.backend).full
    assert len(service_chains(first)) == 4
    base_nat = stats(h.backend).nat_rules

    # 1. Add svc3 with an endpoint: every KUBE-SERVICES rule, but only svc3's own chains.
    h.services[port_name("ns3", "svc3")] = svc("ns3", "svc3", "172.30.0.43")
    h.endpoints[port_name("ns3", "svc3")] = [ep("10.0.3.1")]
    p1 = h.sync(SVC3)
    assert service_chains(p1) == ["KUBE-SVC-X27LE4BHSL4DOUIK", "KUBE-SEP-BSWRHOQ77KEXZLNL"]
    services_rules = list(nat(p1).rules("KUBE-SERVICES"))
    assert len(services_rules) == 4  # three ClusterIPs and the NodePort tail
    assert stats(h.backend).nat_rules == base_nat + 5
    assert not stats(h.backend).full

    # 2. Delete svc2: its chains are declared (flushed) and deleted.
    del h.services[port_name("ns2", "svc2", "p8080")]
    del h.endpoints[port_name("ns2", "svc2", "p8080")]
    p2 = h.sync(SVC2)
    assert service_chains(p2) == ["KUBE-SEP-UHEGFW77JX3KXTOV", "KUBE-SVC-2VJB64SDSIJUP5T6"]
    assert nat(p2).deleted() == ["KUBE-SEP-UHEGFW77JX3KXTOV", "KUBE-SVC-2VJB64SDSIJUP5T6"]
    assert stats(h.backend).nat_rules == base_nat

    # 3. Add svc4 without endpoints: only a filter REJECT.
    h.services[port_name("ns4", "svc4")] = svc("ns4", "svc4", "172.30.0.44")
    p3 = h.sync(SVC4)
    assert service_chains(p3) == []
    assert "ns4/svc4:p80 has no endpoints" in to_restore(p3)
    assert stats(h.backend).nat_rules == base_nat

    # 4. svc4 gets an endpoint: its chains appear.
    h.endpoints[port_name("ns4", "svc4")] = [ep("10.0.4.1")]
    p4 = h.sync(SVC4)
    assert service_chains(p4) == ["KUBE-SVC-4SW47YFZTEDKD3PK", "KUBE-SEP-AYCN5HPXMIRJNJXU"]
    assert "has no endpoints" not in to_restore(p4)

    # 5. svc3's endpoint moves: SVC rewritten, new SEP, the old one deleted.
    h.endpoints[port_name("ns3", "svc3")] = [ep("10.0.3.2")]
    p5 = h.sync(SVC3)
    assert service_chains(p5) == [
        "KUBE-SVC-X27LE4BHSL4DOUIK",
        "KUBE-SEP-DKCFIS26GWF2WLWC",
        "KUBE-SEP-BSWRHOQ77KEXZLNL",
    ]
    assert nat(p5).deleted() == ["KUBE-SEP-BSWRHOQ77KEXZLNL"]

    # 6. A second endpoint for svc3: a 0.5 probability rule, two SEPs written.
    h.endpoints[port_name("ns3", "svc3")] = [ep("10.0.3.2"), ep("10.0.3.3")]
    p6 = h.sync(SVC3)
    text = to_restore(p6)
    assert (
        "-m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DKCFIS26GWF2WLWC" in text
    )
    assert [c for c in service_chains(p6) if c.startswith("KUBE-SEP-")] == [
        "KUBE-SEP-DKCFIS26GWF2WLWC",
        "KUBE-SEP-JVVZVJ7BSEPPRNBS",
    ]

    # 7. Nothing changed: only the top-level chains.
    p7 = h.sync()
    assert nat(p7).chain_names() == [
        "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ",
    ]  # fmt: skip
    assert stats(h.backend).nat_rules_written < stats(h.backend).nat_rules

    # 8. A failed restore forces the next sync to be full: every chain written again.
    h.backend.force_full_sync()
    p8 = h.sync()
    assert stats(h.backend).full
    assert len(service_chains(p8)) == 7  # svc1: 2, svc3: 3, svc4: 2
    assert nat(p8).deleted() == []


def test_updated_service_without_changes_rewrites_only_its_chains() -> None:
    h = start()
    h.sync()
    payload = h.sync(SVC1)
    assert service_chains(payload) == ["KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SNQ3ZNILQDEJNDQO"]


def test_top_level_rules_of_skipped_services_are_still_written() -> None:
    h = start()
    h.sync()
    text = to_restore(h.sync())
    assert '"ns1/svc1:p80 cluster IP"' in text
    assert '"ns2/svc2:p8080 cluster IP"' in text
