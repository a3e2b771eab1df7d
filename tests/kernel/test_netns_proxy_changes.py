"""A running lab follows the model: kube-proxy's partial re-syncs and UDP conntrack cleanup.

Each test builds its own lab (prefix ``ksl-t-c`` plus three characters of the process id) from
the cluster of :mod:`tests.kernel.test_netns_proxy`, changes the model — readiness, a scale
down, a deleted pod, a new and a deleted Service, a node's rules broken behind kube-proxy's
back — calls :meth:`LabProxy.resync`, and checks real connections and the kernel's tables.

Scaling *up* cannot be shown with a new pod: a running lab cannot add a pod namespace yet
(``netns.kernel`` builds a plan once), so a pod made ready again stands in for it.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator

import pytest

from k8s_service_lab.netfilter import to_restore
from k8s_service_lab.netns.conntrack import StaleFilter, parse_entries
from k8s_service_lab.netns.proxy import LabProxyError
from k8s_service_lab.netns.traffic import Request, probe
from tests.kernel.test_netns_proxy import (
    MANIFEST,
    ProxyLab,
    assert_kernel_matches_model,
    base36,
    proxy_cluster,
    proxy_lab,
    xtables,
)

pytestmark = pytest.mark.kernel

PREFIX = f"ksl-t-c{base36(os.getpid())}"


@pytest.fixture
def up() -> Iterator[ProxyLab]:
    with proxy_lab(proxy_cluster(), PREFIX) as running:
        yield running


def reached(up: ProxyLab, count: int = 60, service: str = "web") -> Counter[str | None]:
    client = up.pod("default/client")
    answers = probe(client.namespace, [Request(up.cluster_ip(service), 80, count=count)])
    assert all(a.ok for a in answers), Counter(a.error for a in answers)
    return Counter(a.hostname for a in answers)


def test_a_not_ready_pod_leaves_the_rotation_and_comes_back(up: ProxyLab) -> None:
    pod = up.web()[0]
    name = pod.pod.split("/")[1]
    up.cluster.set_ready(name, False)
    syncs = up.proxy.resync()
    assert not any(s.full for s in syncs)
    assert pod.hostname not in reached(up)
    assert_kernel_matches_model(up)
    up.cluster.set_ready(name, True)  # as a new replica would: it joins at the next sync
    up.proxy.resync()
    assert set(reached(up, 90)) == {p.hostname for p in up.web()}


def test_scale_down_stops_traffic_and_clears_stale_udp_flows(up: ProxyLab) -> None:
    client = up.pod("default/client")
    ip = up.cluster_ip("web")
    # Thirty long-lived UDP "clients" (fixed source ports), spread over the three pods.
    flows = [Request(ip, 81, "udp", sport=41000 + i) for i in range(30)]
    first = probe(client.namespace, flows)
    assert all(a.ok for a in first)
    up.cluster.apply(MANIFEST.split("---")[0].replace("replicas: 3", "replicas: 2"))
    up.cluster.advance(60)  # past the grace period: the removed pod is gone
    alive = {p.metadata.name for p in up.cluster.list("pods")}
    (gone,) = [p for p in up.web() if p.pod.split("/")[1] not in alive]
    gone_ip = str(gone.ips[0])
    stale = [f for f in parse_entries(up.proxy.conntrack(client.node)) if f.reply_src == gone_ip]
    assert stale, "some of the thirty flows went to the pod that is now gone"
    syncs = {s.node: s for s in up.proxy.resync()}
    assert StaleFilter(ip, 81, gone_ip) in syncs[client.node].conntrack_deleted
    after = parse_entries(up.proxy.conntrack(client.node))
    assert not [f for f in after if f.reply_src == gone_ip]
    assert len(after) == 30 - len(stale), "flows to the pods that stay are kept"
    # The same clients again: the flows that pointed at the gone pod are re-balanced.
    again = probe(client.namespace, flows)
    assert all(a.ok for a in again)
    assert gone.hostname not in Counter(a.hostname for a in again)
    assert gone.hostname not in reached(up)
    assert_kernel_matches_model(up)


def test_deleting_the_only_pod_makes_its_service_refuse(up: ProxyLab) -> None:
    assert set(reached(up, 5, "solo")) == {up.pod("default/solo").hostname}
    up.cluster.delete("pods", "solo")
    up.cluster.advance(60)
    up.proxy.resync()
    client = up.pod("default/client")
    answers = probe(client.namespace, [Request(up.cluster_ip("solo"), 80, count=3)])
    assert {a.error for a in answers} == {"refused"}


def test_a_new_service_works_after_the_next_sync_and_goes_with_its_deletion(
    up: ProxyLab,
) -> None:
    up.cluster.apply(
        "apiVersion: v1\nkind: Service\nmetadata: {name: late}\n"
        "spec: {selector: {app: web}, ports: [{port: 8000, targetPort: 8080}]}\n"
    )
    ip = str(up.cluster.get("services", "late").spec.cluster_ip)
    client = up.pod("default/client")
    assert {a.error for a in probe(client.namespace, [Request(ip, 8000)], timeout=1)} != {None}
    up.proxy.resync()
    answers = probe(client.namespace, [Request(ip, 8000, count=30)])
    assert all(a.ok for a in answers)
    up.cluster.delete("services", "late")
    up.proxy.resync()
    assert_kernel_matches_model(up)
    assert "default/late" not in to_restore(up.proxy.rules(client.node))


def test_a_failed_restore_names_node_and_line_then_a_full_sync_repairs(up: ProxyLab) -> None:
    node = up.pod("default/client").node
    text = to_restore(xtables(up.cluster.render(node=node)))
    chain = re.search(r'"default/solo:http cluster IP".* -j (KUBE-SVC-\w+)', text)
    assert chain is not None
    # Someone removes a Service's chain behind kube-proxy's back.
    for argv in (("-F", "KUBE-SERVICES"), ("-F", chain[1]), ("-X", chain[1])):
        up.proxy.run(node, "iptables-nft", "-t", "nat", *argv)
    up.cluster.set_ready(up.web()[0].pod.split("/")[1], False)  # any change: a partial sync
    with pytest.raises(LabProxyError) as failed:
        up.proxy.resync()
    message = str(failed.value)
    assert message.startswith(f"{node}: iptables-nft-restore --noflush exited")
    # The nft-backed tool blames COMMIT and names the chain; the error points at the rule.
    assert re.search(rf"at line \d+: -A KUBE-SERVICES .* -j {chain[1]}\n", message), message
    assert f"Chain '{chain[1]}' does not exist" in message
    syncs = {s.node: s for s in up.proxy.resync()}
    assert syncs[node].full, "after a failed restore kube-proxy's next sync is full"
    assert_kernel_matches_model(up)
    assert set(reached(up, 5, "solo")) == {up.pod("default/solo").hostname}
