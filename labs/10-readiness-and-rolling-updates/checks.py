"""Checks for lab 10: readiness, terminating endpoints and a rolling update."""

from __future__ import annotations

from k8s_service_lab.labs import Context


def only_ready_pods_answer(ctx: Context) -> str:
    ready = {e.pod for e in ctx.endpoints("web") if e.ready}
    assert ready, "no ready endpoint"
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80, count=10 * len(ready))
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert traffic.pods == ready, (
        f"expected exactly the ready pods {sorted(map(str, ready))}: {traffic.describe()}"
    )
    return f"the {len(ready)} ready pods, and only they, answer"


def not_ready_pod_leaves_the_rotation(ctx: Context) -> str:
    out = [e for e in ctx.endpoints("web") if not e.ready]
    assert len(out) == 1, f"expected one not-ready endpoint, found {len(out)}"
    e = out[0]
    assert (e.ready, e.serving, e.terminating) == (False, False, False), e
    return (
        f"{e.pod} failed readiness: it stays in the EndpointSlice with ready=false, serving=false"
    )


def old_pods_are_terminating_but_serving(ctx: Context) -> str:
    old = [e for e in ctx.endpoints("web") if e.terminating]
    assert len(old) == 3, f"expected the 3 v1 pods terminating, found {len(old)}"
    assert all(e.serving and not e.ready for e in old), old
    v2 = set(ctx.pods("version=v2"))
    assert {e.pod for e in ctx.endpoints("web") if e.ready} == v2, (
        "the v2 pods are not the ready ones"
    )
    return "the v1 pods are terminating (ready=false, serving=true); the 3 v2 pods are ready"


def terminating_pods_take_over(ctx: Context) -> str:
    eps = ctx.endpoints("web")
    assert not any(e.ready for e in eps), "some endpoint is still ready"
    serving = {e.pod for e in eps if e.serving and e.terminating}
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80)
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert traffic.pods == serving, f"expected the terminating pods: {traffic.describe()}"
    return "no ready endpoint left: kube-proxy falls back to the serving, terminating v1 pods"


def no_endpoint_left_rejects(ctx: Context) -> str:
    assert not any(e.ready or e.serving for e in ctx.endpoints("web")), "an endpoint still serves"
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80, count=3)
    assert not traffic.pods, traffic.describe()
    assert traffic.failures == {"refused"}, traffic.describe()
    return "the v1 pods are gone and no v2 pod is ready: connections are rejected at once"
