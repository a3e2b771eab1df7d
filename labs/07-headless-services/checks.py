"""Checks for lab 07: a headless Service is DNS and EndpointSlices, without a virtual IP."""

from __future__ import annotations

from k8s_service_lab.labs import Context


def no_cluster_ip_and_no_rules(ctx: Context) -> str:
    svc = ctx.service("web-headless")
    assert svc.spec.cluster_ip == "None", f"clusterIP is {svc.spec.cluster_ip}"
    text = ctx.render("iptables")
    assert "default/web-headless" not in text, "kube-proxy wrote rules for a headless Service"
    assert ctx.endpoints("web-headless"), "the headless Service has no EndpointSlice endpoints"
    return "clusterIP: None — EndpointSlices exist, but kube-proxy writes no rule for it"


def dns_lists_every_ready_pod(ctx: Context) -> str:
    ready = sorted(e.address for e in ctx.endpoints("web-headless") if e.ready)
    answer = ctx.dns("web-headless.default.svc.cluster.local", "A")
    if not ready:
        assert answer.rcode == "NXDOMAIN" or not answer.records, f"records {answer.records}"
        return "no ready pod: the name has no A record"
    assert list(answer.data("A")) == ready, f"A records {answer.data('A')}, ready pods {ready}"
    return f"the name answers with the ready pods' own IPs: {', '.join(ready)}"


def pods_answer_on_their_own_ips(ctx: Context) -> str:
    seen = []
    for pod in ctx.pods("app=web"):
        traffic = ctx.connect("pod/client", ctx.pod_ip(pod), 8080, count=3)
        assert traffic.answered, traffic.describe()
        assert traffic.pods == {pod}, traffic.describe()
        assert traffic.sources == {ctx.pod_ip("client")}, traffic.describe()
        seen.append(pod)
    return f"each pod answers on its own IP, seeing the client's address: {', '.join(seen)}"
