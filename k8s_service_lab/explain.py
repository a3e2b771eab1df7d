""" "Why does this Service have (no) endpoints?" — answered pod by pod.

The most common Service question on any forum is an empty ``ENDPOINTS`` column. The answer is
always one of a handful of things: the selector misses the pods' labels (often by one letter),
the pods live in another namespace, they are not ready, or a named ``targetPort`` does not exist
on the container. :func:`explain_service` checks each pod against each of them::

    >>> from k8s_service_lab.api import ObjectMeta, Pod, Service
    >>> from k8s_service_lab.api.pod import PodCondition, PodStatus
    >>> from k8s_service_lab.api.service import ServicePort, ServiceSpec
    >>> from k8s_service_lab.controlplane.store import Store
    >>> store = Store()
    >>> _ = store.create(Service(ObjectMeta(name="web", namespace="default"),
    ...     ServiceSpec(selector={"app": "web"}, ports=(ServicePort(80, target_port=8080),))))
    >>> _ = store.create(Pod(ObjectMeta(name="web-1", namespace="default", labels={"app": "wbe"}),
    ...     status=PodStatus(pod_ip="10.244.1.2", conditions=(PodCondition("Ready", "True"),))))
    >>> report = explain_service(store, "default", "web")
    >>> report.pods[0].verdict
    'selector does not match: app=wbe (want app=web)'

It reads objects only, so it works on the embedded cluster and, later, on a live one.
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s_service_lab.api import EndpointSlice, Pod, Service
from k8s_service_lab.api.service import ServicePort
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.labels import format_labels

__all__ = ["PodFinding", "ServiceExplanation", "explain_service", "render_explanation"]

#: The label EndpointSlices carry to name their Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True, slots=True)
class PodFinding:
    """One pod seen from the Service: does it match, is it ready, which ports resolve."""

    namespace: str
    name: str
    labels: str
    matches: bool
    #: The selector pairs this pod misses, as ``key=have (want key=want)``.
    misses: tuple[str, ...]
    ready: bool
    terminating: bool
    pod_ip: str | None
    #: Per service port: ``"http -> 8080"`` or ``"http -> named port 'web' not found"``.
    ports: tuple[str, ...]
    verdict: str


@dataclass(frozen=True, slots=True)
class ServiceExplanation:
    namespace: str
    name: str
    type: str
    selector: str | None
    endpoints: tuple[str, ...]
    pods: tuple[PodFinding, ...]
    summary: str


def _resolve_port(port: ServicePort, pod: Pod) -> tuple[int | None, str]:
    target = port.target_port if port.target_port is not None else port.port
    label = port.name or str(port.port)
    if isinstance(target, int):
        return target, f"{label} -> {target}"
    protocol = port.protocol or "TCP"
    for container in pod.spec.containers:
        for cport in container.ports:
            if cport.name == target and (cport.protocol or "TCP") == protocol:
                return cport.container_port, f"{label} -> {target} = {cport.container_port}"
    return None, f"{label} -> named port {target!r} not found on any container ({protocol})"


def _finding(svc: Service, pod: Pod) -> PodFinding:
    selector = svc.spec.selector or {}
    labels = pod.metadata.labels
    misses = tuple(
        f"{key}={labels[key]} (want {key}={want})" if key in labels else f"no {key} label"
        for key, want in sorted(selector.items())
        if labels.get(key) != want
    )
    resolved = [_resolve_port(p, pod) for p in svc.spec.ports]
    terminating = pod.metadata.deletion_timestamp is not None
    ready = pod.status.ready and not terminating
    if misses:
        verdict = "selector does not match: " + ", ".join(misses)
    elif pod.status.pod_ip is None:
        verdict = "selected, but has no IP yet (not scheduled or not started)"
    elif terminating:
        verdict = "selected, terminating: serving=" + str(pod.status.ready).lower()
    elif not ready:
        verdict = "selected, not ready: kube-proxy will not send it traffic"
    elif any(number is None for number, _ in resolved):
        verdict = "selected and ready, but a named targetPort does not resolve on it"
    else:
        verdict = "selected and ready: an endpoint"
    return PodFinding(
        namespace=pod.metadata.namespace or "",
        name=pod.metadata.name or "",
        labels=format_labels(labels),
        matches=not misses,
        misses=misses,
        ready=ready,
        terminating=terminating,
        pod_ip=pod.status.pod_ip,
        ports=tuple(text for _, text in resolved),
        verdict=verdict,
    )


def explain_service(client: Client, namespace: str, name: str) -> ServiceExplanation:
    """Explain one Service's endpoints from the objects ``client`` can list."""
    svc = client.get(Service, namespace, name)
    slices = [
        s
        for s in client.list(EndpointSlice, namespace)
        if s.metadata.labels.get(SERVICE_NAME_LABEL) == name
    ]
    endpoints = tuple(
        f"{address}:{port.port}"
        for s in slices
        for e in s.endpoints
        if e.conditions.ready is not False
        for address in e.addresses
        for port in s.ports
        if port.port is not None
    )
    selector = svc.spec.selector
    if svc.spec.type == "ExternalName":
        pods: tuple[PodFinding, ...] = ()
        summary = "ExternalName: only a DNS alias, no endpoints and no kube-proxy rules"
    elif not selector:
        pods = ()
        summary = (
            "no selector: the EndpointSlice controller leaves this Service alone; "
            f"its endpoints are whatever EndpointSlices you write ({len(slices)} found)"
        )
    else:
        candidates = sorted(client.list(Pod, namespace), key=lambda p: p.metadata.name or "")
        pods = tuple(_finding(svc, p) for p in candidates)
        elsewhere = [
            p
            for p in client.list(Pod)
            if p.metadata.namespace != namespace
            and all(p.metadata.labels.get(k) == v for k, v in selector.items())
        ]
        summary = _summary(pods, elsewhere, len(endpoints))
    return ServiceExplanation(
        namespace=namespace,
        name=name,
        type=svc.spec.type or "ClusterIP",
        selector=format_labels(selector) if selector else None,
        endpoints=endpoints,
        pods=pods,
        summary=summary,
    )


def _summary(pods: tuple[PodFinding, ...], elsewhere: list[Pod], endpoints: int) -> str:
    if endpoints:
        return f"{endpoints} ready endpoint(s)"
    matching = [p for p in pods if p.matches]
    if not matching:
        hint = ""
        if elsewhere:
            where = sorted({p.metadata.namespace or "" for p in elsewhere})
            hint = f"; matching pods exist in other namespace(s): {', '.join(where)}"
        return f"no pod in this namespace matches the selector{hint}"
    if not any(p.ready for p in matching):
        return f"{len(matching)} pod(s) match, none is ready"
    return "pods match and are ready, but no EndpointSlice lists them yet"


def render_explanation(report: ServiceExplanation) -> str:
    """The report as ``ksl explain`` prints it."""
    lines = [
        f"Service {report.namespace}/{report.name} ({report.type})",
        f"  selector:  {report.selector or '<none>'}",
        f"  endpoints: {', '.join(report.endpoints) if report.endpoints else '<none>'}",
        f"  verdict:   {report.summary}",
    ]
    if report.pods:
        lines.append("Pods in the namespace:")
    for pod in report.pods:
        mark = "+" if pod.matches and pod.ready else ("~" if pod.matches else "-")
        lines.append(f"  {mark} {pod.name}  [{pod.labels}]  ip={pod.pod_ip or '<none>'}")
        lines.append(f"      {pod.verdict}")
        if pod.matches:
            lines.extend(f"      port {text}" for text in pod.ports)
    return "\n".join(lines)
