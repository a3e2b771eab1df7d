"""Checks for lab 06: cluster DNS, and ExternalName as a DNS alias."""

from __future__ import annotations

from k8s_service_lab.labs import Context


def service_name_resolves_to_cluster_ip(ctx: Context) -> str:
    ip = ctx.cluster_ip("web")
    answer = ctx.dns("web.default.svc.cluster.local", "A")
    assert answer.rcode == "NOERROR", f"rcode {answer.rcode}"
    assert answer.data("A") == (ip,), f"A records {answer.data('A')}, the ClusterIP is {ip}"
    return f"web.default.svc.cluster.local has one A record: the ClusterIP {ip}"


def srv_record_names_the_port(ctx: Context) -> str:
    answer = ctx.dns("_http._tcp.web.default.svc.cluster.local", "SRV")
    want = ("0 100 80 web.default.svc.cluster.local.",)
    assert answer.data("SRV") == want, f"SRV records {answer.data('SRV')}, expected {want}"
    return "the named port http has an SRV record: priority 0, weight 100, port 80"


def externalname_is_a_cname(ctx: Context) -> str:
    svc = ctx.service("db")
    assert svc.spec.cluster_ip in (None, "None"), f"db has a ClusterIP {svc.spec.cluster_ip}"
    assert ctx.endpoints("db") == [], "an ExternalName Service has no endpoints"
    target = f"{svc.spec.external_name}."
    answer = ctx.dns("db.default.svc.cluster.local", "CNAME")
    assert answer.data("CNAME") == (target,), f"CNAME {answer.data('CNAME')}, expected {target}"
    return f"db.default.svc.cluster.local is a CNAME to {target} — no ClusterIP, no endpoints"


def externalname_has_no_rules(ctx: Context) -> str:
    text = ctx.render("iptables")
    assert "default/web:http" in text, "web's rules are missing: the render is not this cluster's"
    assert "default/db" not in text, "kube-proxy wrote a rule for the ExternalName Service"
    return "kube-proxy writes nothing for db: an ExternalName lives only in DNS"


def cname_follows_the_change(ctx: Context) -> str:
    answer = ctx.dns("db.default.svc.cluster.local", "CNAME")
    assert answer.data("CNAME") == ("db.internal.example.org.",), f"CNAME {answer.data()}"
    return "after the change the alias points to db.internal.example.org.; clients still ask for db"
