"""End to end: a fresh kind-shaped Cluster → ProxyWatcher → IptablesBackend, and the registry."""

from __future__ import annotations

from k8s_service_lab import Cluster
from k8s_service_lab.backends import BACKENDS, Backend
from k8s_service_lab.backends.iptables import TOP_LEVEL_CHAINS, IptablesBackend
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.netfilter import check_jumps, to_restore
from k8s_service_lab.proxy import ProxyWatcher
from tests.golden.scenarios_iptables import FakeKernel

WEB = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


def test_every_registered_backend_satisfies_the_protocol() -> None:
    config = ClusterConfig.default()
    for name, factory in BACKENDS.items():
        backend = factory(config, "kind-worker")
        assert isinstance(backend, Backend)
        assert backend.name == name


def test_kind_worker_system_services_look_like_a_kind_node() -> None:
    cluster = Cluster()
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    backend = IptablesBackend(cluster.config, "kind-worker")
    payload = backend.sync(watcher.state())
    text = to_restore(payload)
    assert check_jumps(payload, top_level=TOP_LEVEL_CHAINS) == []
    for line in [
        '-A KUBE-SERVICES -m comment --comment "default/kubernetes:https cluster IP" -m tcp -p tcp'
        " -d 10.96.0.1 --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y",
        '-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp'
        " -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU",
        '-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp'
        " -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4",
        '-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:metrics cluster IP" -m tcp -p tcp'
        " -d 10.96.0.10 --dport 9153 -j KUBE-SVC-JD5MR3NA4I4DYORP",
        # kind's pod subnet is the ClusterCIDR detector's input.
        '-A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https cluster IP"'
        " -m tcp -p tcp -d 10.96.0.1 --dport 443 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
        # The real mark string (Go %#08x) and --random-fully, as on a kind node.
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT"'
        " -j MASQUERADE --random-fully",
    ]:
        assert line in text.splitlines()
    # Two CoreDNS replicas: a coin toss, then the rest.
    assert '"kube-system/kube-dns:dns -> ' in text
    assert text.count("--probability 0.5000000000") == 3
    # The API server endpoint is the control-plane node's address.
    assert "-j DNAT --to-destination 172.18.0.2:6443" in text


def test_a_new_service_is_a_partial_sync_of_just_its_chains() -> None:
    cluster = Cluster()
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    backend = IptablesBackend(cluster.config, "kind-worker")
    backend.sync(watcher.state())
    watcher.mark_synced()
    cluster.apply(WEB)
    payload = backend.sync(watcher.state())
    assert backend.last_stats is not None
    assert not backend.last_stats.full
    nat = payload.table("nat")
    assert nat is not None
    # No pods yet: no endpoints, so a REJECT in filter and no chains of its own.
    assert [c for c in nat.chain_names() if c.startswith("KUBE-S")] == ["KUBE-SERVICES"]
    assert '"default/web:http has no endpoints"' in to_restore(payload)
    node_port = cluster.get("services", "web").spec.ports[0].node_port
    assert node_port is not None
    assert f"--dport {node_port} -j REJECT" in to_restore(payload)


def test_dual_stack_gives_one_payload_per_family() -> None:
    config = ClusterConfig.from_dict(
        {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "networking": {"ipFamily": "dual"},
         "nodes": [{"role": "control-plane"}, {"role": "worker"}]}
    )  # fmt: skip
    cluster = Cluster(config)
    cluster.apply(
        WEB.replace("type: NodePort", "type: NodePort\n  ipFamilyPolicy: PreferDualStack")
    )
    v4 = IptablesBackend(config, "kind-worker", 4)
    v6 = IptablesBackend(config, "kind-worker", 6)
    t4 = to_restore(v4.sync(ProxyWatcher(cluster.store, "kind-worker", "IPv4", config).state()))
    t6 = to_restore(v6.sync(ProxyWatcher(cluster.store, "kind-worker", "IPv6", config).state()))
    assert "fd00:" not in t4
    assert "127.0.0.0/8" in t4
    # ip6tables: no localhost NodePorts, no KUBE-FIREWALL, ::1 excluded from the tail rule.
    assert "127.0.0.0/8" not in t6
    assert "KUBE-FIREWALL" not in t6
    assert "-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS" in t6
    assert "-d fd00:10:96::" in t6
    assert "-d 10.96." not in t6
    assert [s.name for s in v6.sysctls() if s.writes] == []


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


def test_watcher_driven_partial_syncs_keep_the_kernel_equal_to_a_full_render() -> None:
    cluster = Cluster()
    watcher = ProxyWatcher(cluster.store, "kind-worker", "IPv4", cluster.config)
    backend = IptablesBackend(cluster.config, "kind-worker")
    kernel = FakeKernel()

    def sync() -> None:
        state = watcher.state()
        kernel.restore(backend.sync(state))
        watcher.mark_synced()
        fresh = FakeKernel()
        fresh.restore(IptablesBackend(cluster.config, "kind-worker").render(state))
        assert kernel.tables == fresh.tables
        assert check_jumps(kernel.ruleset(), top_level=TOP_LEVEL_CHAINS) == []

    sync()
    cluster.apply(WEB)
    sync()
    cluster.apply(DEPLOYMENT)
    sync()
    assert backend.last_stats is not None
    assert not backend.last_stats.full
    assert backend.last_stats.services_written == 1
    nat = kernel.tables["nat"]
    web_seps = [c for c in nat if c.startswith("KUBE-SEP-") and "default/web:http" in str(nat[c])]
    assert len(web_seps) == 3
    cluster.apply(DEPLOYMENT.replace("replicas: 3", "replicas: 1"))
    sync()
    assert backend.last_stats.deleted_chains == 2
