"""A running nftables-mode lab follows the model: partial transactions, delayed chain deletion,
UDP conntrack cleanup, and a failed ``nft -f`` that names node and line.

Each test builds its own lab (prefix ``ksl-t-h`` plus three characters of the process id) from
the cluster of :mod:`tests.kernel.test_netns_nftables`, changes the model — readiness, a scale
down, a deleted pod, a new and a deleted Service, the table removed behind kube-proxy's back —
calls :meth:`LabProxy.resync` and checks real connections and the kernel's table. As in the
iptables tests, a pod made ready again stands in for a new replica (the lab's pod namespaces
are built once here).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from k8s_service_lab.backends.nftables import STALE_CHAIN_DELAY
from k8s_service_lab.netns.conntrack import StaleFilter, parse_entries
from k8s_service_lab.netns.proxy import LabProxyError
from k8s_service_lab.netns.traffic import Request, probe
from tests.kernel.test_netns_nftables import assert_kernel_matches_model, nft_cluster
from tests.kernel.test_netns_proxy import MANIFEST, ProxyLab, base36, proxy_lab
from tests.kernel.test_netns_proxy_changes import reached

pytestmark = pytest.mark.kernel

PREFIX = f"ksl-t-h{base36(os.getpid())}"


@pytest.fixture
def up() -> Iterator[ProxyLab]:
    with proxy_lab(nft_cluster(), PREFIX) as running:
        yield running


def settled(up: ProxyLab) -> None:
    """Let chains flushed as stale reach their deletion (the next sync a second later), so the
    kernel holds exactly what a fresh render writes."""
    time.sleep(STALE_CHAIN_DELAY + 0.1)
    up.proxy.resync()
    assert_kernel_matches_model(up)


def chains(up: ProxyLab, node: str, needle: str) -> list[str]:
    return [c.name for c in up.proxy.nft_rules(node).tables[0].chains if needle in c.name]


def test_a_not_ready_pod_leaves_the_rotation_and_comes_back(up: ProxyLab) -> None:
    pod = up.web()[0]
    name = pod.pod.split("/")[1]
    up.cluster.set_ready(name, False)
    syncs = up.proxy.resync()
    assert not any(s.full for s in syncs)
    assert all(0 < s.lines < 200 for s in syncs), [s.lines for s in syncs]
    assert pod.hostname not in reached(up)
    # Its endpoint chains are flushed now and deleted a second later, in their own
    # transaction before the next sync's payload.
    gone = f"__{pod.ips[0]}/8080"
    assert chains(up, "kind-worker", gone)
    time.sleep(STALE_CHAIN_DELAY + 0.1)
    syncs = up.proxy.resync()
    deleted = {s.node: s.chains_deleted for s in syncs}
    assert all(any(gone in c for c in d) for d in deleted.values()), deleted
    assert not chains(up, "kind-worker", gone)
    assert_kernel_matches_model(up)
    up.cluster.set_ready(name, True)  # as a new replica would: it joins at the next sync
    up.proxy.resync()
    assert set(reached(up, 90)) == {p.hostname for p in up.web()}
    settled(up)


def test_scale_down_stops_traffic_and_clears_stale_udp_flows(up: ProxyLab) -> None:
    client = up.pod("default/client")
    ip = up.cluster_ip("web")
    flows = [Request(ip, 81, "udp", sport=41000 + i) for i in range(30)]
    assert all(a.ok for a in probe(client.namespace, flows))
    up.cluster.apply(MANIFEST.split("---")[0].replace("replicas: 3", "replicas: 2"))
    up.cluster.advance(60)  # past the grace period: the removed pod is gone
    alive = {p.metadata.name for p in up.cluster.list("pods")}
    (gone,) = [p for p in up.web() if p.pod.split("/")[1] not in alive]
    gone_ip = str(gone.ips[0])
    stale = [f for f in parse_entries(up.proxy.conntrack(client.node)) if f.reply_src == gone_ip]
    assert stale, "some of the thirty flows went to the pod that is now gone"
    syncs = {s.node: s for s in up.proxy.resync()}
    assert not syncs[client.node].full
    assert StaleFilter(ip, 81, gone_ip) in syncs[client.node].conntrack_deleted
    after = parse_entries(up.proxy.conntrack(client.node))
    assert not [f for f in after if f.reply_src == gone_ip]
    assert len(after) == 30 - len(stale), "flows to the pods that stay are kept"
    again = probe(client.namespace, flows)
    assert all(a.ok for a in again)
    assert gone.hostname not in Counter(a.hostname for a in again)
    assert gone.hostname not in reached(up)
    settled(up)


def test_deleting_the_only_pod_makes_its_service_refuse(up: ProxyLab) -> None:
    assert set(reached(up, 5, "solo")) == {up.pod("default/solo").hostname}
    up.cluster.delete("pods", "solo")
    up.cluster.advance(60)
    syncs = up.proxy.resync()
    assert not any(s.full for s in syncs)
    client = up.pod("default/client")
    answers = probe(client.namespace, [Request(up.cluster_ip("solo"), 80, count=3)])
    assert {a.error for a in answers} == {"refused"}
    settled(up)


def test_a_new_service_works_after_the_next_sync_and_goes_with_its_deletion(
    up: ProxyLab,
) -> None:
    up.cluster.apply(
        "apiVersion: v1\nkind: Service\nmetadata: {name: late}\n"
        "spec: {selector: {app: web}, ports: [{port: 8000, targetPort: 8080}]}\n"
    )
    ip = str(up.cluster.get("services", "late").spec.cluster_ip)
    client = up.pod("default/client")
    before = probe(client.namespace, [Request(ip, 8000)], timeout=1)
    assert [a.error for a in before] == ["timeout"], "not in cluster-ips yet: a DROP"
    up.proxy.resync()
    assert all(a.ok for a in probe(client.namespace, [Request(ip, 8000, count=30)]))
    up.cluster.delete("services", "late")
    up.proxy.resync()
    assert chains(up, client.node, "/late/"), "flushed, not yet deleted"
    time.sleep(STALE_CHAIN_DELAY + 0.1)
    up.proxy.resync()
    assert not chains(up, client.node, "/late/")
    assert_kernel_matches_model(up)


def test_a_failed_transaction_names_node_and_line_then_a_full_sync_repairs(
    up: ProxyLab,
) -> None:
    node = up.pod("default/client").node
    # Someone deletes kube-proxy's table behind its back.
    up.proxy.run(node, "nft", "delete", "table", "ip", "kube-proxy")
    up.cluster.set_ready(up.web()[0].pod.split("/")[1], False)  # any change: a partial sync
    with pytest.raises(LabProxyError) as failed:
        up.proxy.resync()
    message = str(failed.value)
    assert message.startswith(f"{node}: nft -f exited 1 at line "), message
    assert re.search(r"at line \d+: (add|flush|delete) \w+ ip kube-proxy ", message), message
    assert "/dev/stdin:" in message, "nft's own words follow"
    syncs = {s.node: s for s in up.proxy.resync()}
    assert syncs[node].full, "after a failed transaction kube-proxy's next sync is full"
    settled(up)
    assert set(reached(up, 5, "solo")) == {up.pod("default/solo").hostname}
