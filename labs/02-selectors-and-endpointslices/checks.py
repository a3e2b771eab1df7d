"""Checks for lab 02: selectors and EndpointSlices."""

from __future__ import annotations

from k8s_service_lab.labs import Context


def endpoints_follow_labels(ctx: Context) -> str:
    pods = ctx.pods("app=web")
    listed = sorted(e.pod or "" for e in ctx.endpoints("web"))
    assert len(pods) == 3, f"expected the Deployment's 3 pods, found {pods}"
    assert listed == pods, f"the web EndpointSlice lists {listed}, the selector matches {pods}"
    return f"the EndpointSlice of web lists exactly the pods labelled app=web: {', '.join(pods)}"


def typo_service_has_no_endpoints(ctx: Context) -> str:
    assert ctx.pods("app=wep") == [], "some pod is labelled app=wep"
    listed = ctx.endpoints("web-typo")
    assert listed == [], f"web-typo should have no endpoints, has {listed}"
    slices = [
        s
        for s in ctx.cluster.list("EndpointSlice")
        if s.metadata.labels.get("kubernetes.io/service-name") == "web-typo"
    ]
    assert len(slices) == 1, f"expected one (empty) EndpointSlice for web-typo, found {len(slices)}"
    return "web-typo selects app=wep, no pod has that label: its one EndpointSlice is empty"


def typo_service_refuses(ctx: Context) -> str:
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web-typo"), 80, count=3)
    assert not traffic.pods, f"a pod answered: {traffic.describe()}"
    assert traffic.failures == {"refused"}, f"expected an immediate refusal: {traffic.describe()}"
    return "connections to web-typo are refused at once (kube-proxy's REJECT for no endpoints)"


def stray_pod_joins_the_service(ctx: Context) -> str:
    listed = {e.pod for e in ctx.endpoints("web") if e.ready}
    assert "stray" in listed, f"the stray pod is not an endpoint of web: {sorted(map(str, listed))}"
    assert len(listed) == 4, f"expected 4 ready endpoints, found {len(listed)}"
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web"), 80, count=40)
    assert "stray" in traffic.pods, f"stray never answered: {traffic.describe()}"
    return "a pod no Deployment owns joined web because its labels match: " + traffic.describe()


def fixed_service_answers(ctx: Context) -> str:
    pods = set(ctx.pods("app=web"))
    listed = {e.pod for e in ctx.endpoints("web-typo") if e.ready}
    assert listed == pods, (
        f"web-typo's endpoints are {sorted(map(str, listed))}, not {sorted(pods)}"
    )
    traffic = ctx.connect("pod/client", ctx.cluster_ip("web-typo"), 80, count=40)
    assert traffic.answered, f"not every connection was answered: {traffic.describe()}"
    assert traffic.pods == pods, f"not every pod answered: {traffic.describe()}"
    return "with the selector fixed, web-typo reaches every app=web pod: " + traffic.describe()
