"""Checks for lab 04: NodePort and the source address a pod sees."""

from __future__ import annotations

from k8s_service_lab.labs import Context
from k8s_service_lab.labs.observe import external_ip


def _web_pods_on(ctx: Context, node: str) -> set[str]:
    return {p for p in ctx.pods("app=web") if ctx.pod_node(p) == node}


def cluster_policy_hides_the_client(ctx: Context) -> str:
    client = external_ip(ctx.cluster)
    traffic = ctx.connect("external", ctx.node_ip("kind-worker"), ctx.node_port("web-cluster"))
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert traffic.pods == set(ctx.pods("app=web")), f"not every pod answered: {traffic.describe()}"
    assert client not in traffic.sources, (
        f"a pod saw the client's own address: {traffic.describe()}"
    )
    return f"policy Cluster: every pod answers, none sees {client} (masqueraded): " + (
        traffic.describe()
    )


def local_policy_keeps_the_client(ctx: Context) -> str:
    client = external_ip(ctx.cluster)
    local = _web_pods_on(ctx, "kind-worker")
    assert local, "no web pod runs on kind-worker"
    traffic = ctx.connect("external", ctx.node_ip("kind-worker"), ctx.node_port("web-local"))
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert traffic.pods == local, (
        f"expected only kind-worker's pods {sorted(local)}: {traffic.describe()}"
    )
    assert traffic.sources == {client}, f"the pods should see {client}: {traffic.describe()}"
    return f"policy Local: only kind-worker's own pods answer and they see {client}"


def local_policy_drops_without_local_pod(ctx: Context) -> str:
    assert not _web_pods_on(ctx, "kind-control-plane"), "a web pod runs on the control plane"
    port = ctx.node_port("web-local")
    traffic = ctx.connect("external", ctx.node_ip("kind-control-plane"), port, count=2)
    assert traffic.failures == {"timeout"}, f"expected a silent drop: {traffic.describe()}"
    return "policy Local on a node without a web pod: the packet is dropped (the client times out)"


def every_node_forwards_again(ctx: Context) -> str:
    client = external_ip(ctx.cluster)
    port = ctx.node_port("web-local")
    traffic = ctx.connect("external", ctx.node_ip("kind-control-plane"), port)
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert client not in traffic.sources, f"expected masquerading: {traffic.describe()}"
    return "back on policy Cluster, the control plane forwards to the workers' pods, masqueraded"
