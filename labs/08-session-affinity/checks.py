"""Checks for lab 08: ClientIP session affinity."""

from __future__ import annotations

from k8s_service_lab.labs import Context


def plain_service_spreads(ctx: Context) -> str:
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80)
    assert traffic.answered, traffic.describe()
    assert traffic.pods == set(ctx.pods("app=web")), traffic.describe()
    return "without affinity, 30 connections from one client reach every pod"


def sticky_service_keeps_one_pod(ctx: Context) -> str:
    traffic = ctx.connect("pod/client", ctx.cluster_ip("sticky"), 80)
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert len(traffic.pods) == 1, f"affinity should keep one pod: {traffic.describe()}"
    return f"with ClientIP affinity, 30 connections all reach {next(iter(traffic.pods))}"


def recent_rules_are_rendered(ctx: Context) -> str:
    lines = [line for line in ctx.render("iptables").splitlines() if "default/sticky" in line]
    checks = [line for line in lines if "--rcheck --seconds 10800 --reap" in line]
    sets = [line for line in lines if " --set " in line and "-j DNAT" in line]
    assert len(checks) == 3, f"{len(checks)} rcheck rules with the default timeout"
    assert len(sets) == 3, f"{len(sets)} --set rules"
    return "3 '-m recent --rcheck --seconds 10800' rules and 3 '--set' rules: one list per endpoint"


def timeout_is_in_the_rules(ctx: Context) -> str:
    lines = [line for line in ctx.render("iptables").splitlines() if "default/sticky" in line]
    assert sum("--rcheck --seconds 60 --reap" in line for line in lines) == 3, "no 60s rcheck"
    return "timeoutSeconds: 60 shows up as --seconds 60 in each endpoint's rcheck rule"
