"""Checks for lab 05: a LoadBalancer Service and its source ranges."""

from __future__ import annotations

import ipaddress

from k8s_service_lab.labs import Context

#: The pool MetalLB's kind guides use (and the model's default LoadBalancer pool).
POOL = (ipaddress.IPv4Address("172.18.255.200"), ipaddress.IPv4Address("172.18.255.250"))


def lb_ip_from_the_pool(ctx: Context) -> str:
    ip = ipaddress.IPv4Address(ctx.lb_ip("web-lb"))
    assert POOL[0] <= ip <= POOL[1], f"{ip} is not in {POOL[0]}-{POOL[1]}"
    port = ctx.node_port("web-lb")
    return f"web-lb got {ip} from the pool, and node port {port} underneath it"


def external_client_reaches_the_lb(ctx: Context) -> str:
    traffic = ctx.connect("external", ctx.lb_ip("web-lb"), 80)
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert traffic.pods == set(ctx.pods("app=web")), f"not every pod answered: {traffic.describe()}"
    return "the external client reaches every web pod through the LoadBalancer IP: " + (
        traffic.describe()
    )


def firewall_chain_is_rendered(ctx: Context) -> str:
    lines = ctx.render("iptables").splitlines()
    fw = [line for line in lines if line.startswith("-A KUBE-FW-")]
    assert any("-s 192.0.2.0/24" in line for line in fw), "no KUBE-FW rule allows 192.0.2.0/24"
    # Since kube-proxy 1.25 the nat chain only lets the ranges through; the filter table's
    # KUBE-PROXY-FIREWALL drops the rest (filter is where dropping belongs).
    drops = [
        line
        for line in lines
        if line.startswith("-A KUBE-PROXY-FIREWALL") and "default/web-lb" in line
    ]
    assert drops, "KUBE-PROXY-FIREWALL has no rule for web-lb"
    assert drops[0].endswith("-j DROP"), f"KUBE-PROXY-FIREWALL does not drop: {drops[0]}"
    return "KUBE-FW lets 192.0.2.0/24 through; KUBE-PROXY-FIREWALL drops the rest for the LB IP"


def outsider_is_dropped(ctx: Context) -> str:
    traffic = ctx.connect("external", ctx.lb_ip("web-lb"), 80, count=2)
    assert traffic.failures == {"timeout"}, f"expected a silent drop: {traffic.describe()}"
    return "172.18.0.100 is outside loadBalancerSourceRanges: kube-proxy drops its packets"


def node_port_still_open(ctx: Context) -> str:
    traffic = ctx.connect("external", ctx.node_ip("kind-worker"), ctx.node_port("web-lb"))
    assert traffic.answered, f"the node port did not answer: {traffic.describe()}"
    return "the source ranges guard the LoadBalancer IP only: the node port still answers"
