"""Checks for lab 01: pod IPs change, the Service stays.

Each check takes the lab's Context and returns what held; an assertion says what did not.
"""

from __future__ import annotations

from k8s_service_lab.labs import Context


def three_ready_endpoints(ctx: Context) -> str:
    ready = [e for e in ctx.endpoints("web") if e.ready]
    pods = ctx.pods("app=web")
    assert len(pods) == 3, f"expected 3 running web pods, found {len(pods)}"
    assert sorted(e.pod or "" for e in ready) == pods, (
        f"the EndpointSlice's ready endpoints {[e.pod for e in ready]} are not the pods {pods}"
    )
    return "the EndpointSlice lists the 3 running web pods as ready: " + ", ".join(
        f"{e.pod}={e.address}" for e in ready
    )


def every_web_pod_answers(ctx: Context) -> str:
    ip = ctx.cluster_ip("web")
    ctx.notes.setdefault("web-cluster-ip", ip)  # what later steps compare with
    traffic = ctx.connect("pod/client", ip, 80)
    pods = set(ctx.pods("app=web"))
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert traffic.pods == pods, f"answers came from {sorted(traffic.pods)}, not {sorted(pods)}"
    return f"every web pod answered on the ClusterIP: {traffic.describe()}"


def replacement_has_a_new_ip(ctx: Context) -> str:
    endpoints = ctx.endpoints("web")
    terminating = [e for e in endpoints if e.terminating]
    assert len(terminating) == 1, f"expected 1 terminating endpoint, found {len(terminating)}"
    old = terminating[0]
    assert not old.ready, "a terminating endpoint must not be ready"
    running = ctx.pods("app=web")
    assert len(running) == 3, f"the ReplicaSet should have replaced the pod: {running}"
    assert old.pod not in running
    new_ips = {ctx.pod_ip(p) for p in running}
    assert old.address not in new_ips, "the replacement reused the old pod's IP"
    return (
        f"{old.pod} ({old.address}) is terminating (ready=false, serving={old.serving}); "
        "a replacement pod runs with a different IP"
    )


def service_ip_did_not_move(ctx: Context) -> str:
    ip = ctx.cluster_ip("web")
    first = ctx.notes.get("web-cluster-ip")
    assert first is not None, "no ClusterIP was recorded at the deploy step"
    assert ip == first, f"the ClusterIP changed from {first} to {ip}"
    answer = ctx.dns("web.default.svc.cluster.local")
    assert answer.data("A") == (ip,), f"DNS answers {answer.data('A')}, not {ip}"
    return f"the Service kept its ClusterIP {ip}, and its DNS name still points there"


def only_ready_pods_answer(ctx: Context) -> str:
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80)
    ready = set(ctx.pods("app=web"))
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert traffic.pods <= ready, (
        f"a terminating pod still got new connections: {sorted(traffic.pods - ready)}"
    )
    return f"new connections go only to ready pods: {traffic.describe()}"
