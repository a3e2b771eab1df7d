"""Checks for lab 11: three classic ways a Service breaks, and what each looks like."""

from __future__ import annotations

from k8s_service_lab.labs import Context


def selector_matches_no_pod(ctx: Context) -> str:
    assert ctx.endpoints("web") == [], "web has endpoints"
    assert ctx.pods("app=web"), "the web pods are missing"
    # `ksl explain service web` says why, pod by pod.
    report = ctx.cluster.explain("web")
    assert not report.endpoints, f"explain lists endpoints {report.endpoints}"
    assert "selector" in report.summary, f"explain does not blame the selector: {report.summary}"
    return f"no endpoints; ksl explain service web says: {report.summary}"


def connections_are_refused(ctx: Context) -> str:
    # Two tries only: a REJECT answers with ICMP, which the kernel rate-limits per client (a
    # burst of about six, then one a second: icmp_ratelimit). More rejected connections in a
    # few seconds would time out on a real node, though the rules did not change.
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80, count=2)
    assert not traffic.pods, f"a pod answered: {traffic.describe()}"
    assert traffic.failures == {"refused"}, f"expected refusals: {traffic.describe()}"
    return "every connection is refused at once"


def endpoints_point_at_a_closed_port(ctx: Context) -> str:
    eps = ctx.endpoints("web")
    assert len(eps) == 3, f"expected 3 endpoints: {eps}"
    assert all(e.ready for e in eps), f"expected every endpoint ready: {eps}"
    assert {e.ports for e in eps} == {(9376,)}, f"endpoint ports {[e.ports for e in eps]}"
    result = ctx.trace("pod/client", ctx.cluster_ip("web"), 80)
    assert result.verdict == "DNAT", f"the tracer says {result.verdict}"
    assert {p for _, p, _ in result.endpoints} == {9376}, f"endpoints {result.endpoints}"
    return "3 ready endpoints on port 9376: the rules DNAT there, but no pod listens on 9376"


def service_works(ctx: Context) -> str:
    pods = set(ctx.pods("app=web"))
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80)
    assert traffic.answered, traffic.describe()
    assert traffic.pods == pods, traffic.describe()
    return "fixed: every web pod answers on the ClusterIP"


def no_ready_endpoints(ctx: Context) -> str:
    eps = ctx.endpoints("web")
    assert len(eps) == 3, f"endpoints {eps}"
    assert not any(e.ready for e in eps), f"an endpoint is still ready: {eps}"
    return "the pods are listed but none is ready: kube-proxy has no endpoint to use"
