"""The EndpointSlice reconciler: one Service, its Pods and its slices → creates/updates/deletes.

A pure function of its inputs, mirroring upstream ``k8s.io/endpointslice`` ``reconciler.go``
(reconcile → reconcileByAddressType → reconcileByPortMapping → finalize). The packing keeps
churn low: endpoints stay in the slice they are in, changed slices absorb new endpoints
(fullest first), an unchanged slice is touched only if it can take the whole remainder, and
new slices are created only when needed::

    >>> from k8s_service_lab.api import Node, ObjectMeta, Pod, Service
    >>> from k8s_service_lab.api.pod import PodCondition, PodSpec, PodStatus
    >>> from k8s_service_lab.api.service import ServicePort, ServiceSpec
    >>> svc = Service(ObjectMeta(name="web", namespace="default", uid="u1"),
    ...               ServiceSpec(selector={"app": "web"}, ports=(ServicePort(80),),
    ...                           cluster_ip="10.96.0.20", ip_families=("IPv4",)))
    >>> ready = (PodCondition("Ready", "True"),)
    >>> pods = [Pod(ObjectMeta(name=f"web-{i}", namespace="default", uid=f"p{i}"),
    ...             PodSpec(node_name="kind-worker"), PodStatus(pod_ip=f"10.244.1.{i}",
    ...             conditions=ready)) for i in range(1, 251)]
    >>> nodes = {"kind-worker": Node(ObjectMeta(name="kind-worker"))}
    >>> sorted(len(s.endpoints) for s in plan_slices(svc, pods, nodes, ()).create)
    [50, 100, 100]
    >>> plan = plan_slices(svc, pods[:1], {}, ())
    >>> plan.errors[0], [len(s.endpoints) for s in plan.create]
    ('skipping Pod web-1 for Service default/web: Node kind-worker Not Found', [0])

Slices to create carry ``metadata.generateName`` and no name; naming them is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from k8s_service_lab.api import EndpointSlice, Node, ObjectMeta, Pod, Service
from k8s_service_lab.api.discovery import Endpoint, EndpointPort
from k8s_service_lab.api.meta import OwnerReference
from k8s_service_lab.controlplane.controllers.endpointslice_desired import (
    ANNOTATION_TRIGGER_TIME,
    EndpointKey,
    PortKey,
    address_types,
    endpoint_key,
    endpoint_ports,
    endpoints_equal_beyond_key,
    pod_in_endpoints,
    pod_to_endpoint,
    port_key,
    reconcile_hints,
    slice_labels,
)

__all__ = [
    "DEFAULT_MAX_ENDPOINTS_PER_SLICE",
    "SlicePlan",
    "desired_slices",
    "owned_by",
    "plan_slices",
]

#: kube-controller-manager ``--max-endpoints-per-slice``.
DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100


@dataclass(frozen=True, slots=True)
class SlicePlan:
    """What one sync writes: ``create`` (unnamed), ``update``, ``delete``; and what it kept."""

    create: tuple[EndpointSlice, ...] = ()
    update: tuple[EndpointSlice, ...] = ()
    delete: tuple[EndpointSlice, ...] = ()
    unchanged: tuple[EndpointSlice, ...] = ()
    #: Pods skipped because their Node is unknown (upstream logs these and retries).
    errors: tuple[str, ...] = ()

    def result(self) -> tuple[EndpointSlice, ...]:
        """The Service's slices once the plan is applied (created ones still unnamed)."""
        return self.unchanged + self.update + self.create


def owned_by(slice_: EndpointSlice, service: Service) -> bool:
    """ownedBy: an ownerReference to this Service's uid (kind Service, apiVersion v1)."""
    return any(
        o.uid == service.metadata.uid and o.kind == "Service" and o.api_version == "v1"
        for o in slice_.metadata.owner_references
    )


def _new_slice(
    service: Service, address_type: str, ports: tuple[EndpointPort, ...]
) -> EndpointSlice:
    """newEndpointSlice: generateName ``<svc>-``, the controller ownerReference, the labels."""
    name = service.metadata.name or ""
    owner = OwnerReference("v1", "Service", name, service.metadata.uid or "", True, True)
    labels, _ = slice_labels({}, service)
    meta = ObjectMeta(
        namespace=service.metadata.namespace,
        generate_name=f"{name}-",
        labels=labels,
        owner_references=(owner,),
    )
    return EndpointSlice(meta, address_type, (), ports)


@dataclass(slots=True)
class _Work:
    """A slice being edited during one port group's pass."""

    slice: EndpointSlice
    endpoints: list[Endpoint]
    labels: dict[str, str] | None = None


def _by_port_mapping(
    service: Service,
    existing: Sequence[EndpointSlice],
    desired: dict[EndpointKey, Endpoint],
    address_type: str,
    ports: tuple[EndpointPort, ...],
    max_per_slice: int,
) -> tuple[list[EndpointSlice], list[EndpointSlice], list[EndpointSlice]]:
    """reconcileByPortMapping: (create, update, delete) for one port group."""
    to_update: dict[str, _Work] = {}
    unchanged: dict[str, EndpointSlice] = {}
    to_delete: list[EndpointSlice] = []
    # 1. Keep endpoints still desired where they are, in their desired form.
    for current in existing:
        kept: list[Endpoint] = []
        updated = False
        for ep in current.endpoints:
            want = desired.pop(endpoint_key(ep), None)
            if want is not None:
                kept.append(want)
                updated = updated or not endpoints_equal_beyond_key(want, ep)
        labels, labels_changed = slice_labels(current.metadata.labels, service)
        name = current.metadata.name or ""
        if updated or len(kept) != len(current.endpoints):
            if not kept:
                to_delete.append(current)
            else:
                to_update[name] = _Work(current, kept, labels)
        elif labels_changed:
            to_update[name] = _Work(current, kept, labels)
        else:
            unchanged[name] = current
    remaining = list(desired.values())
    at = 0
    # 2. Top up the slices that change anyway, fullest first.
    for work in sorted(to_update.values(), key=lambda w: -len(w.endpoints)):
        room = max_per_slice - len(work.endpoints)
        if room > 0 and at < len(remaining):
            work.endpoints.extend(remaining[at : at + room])
            at += min(room, len(remaining) - at)
    # 3. Whatever is left: one unchanged slice if it can take all of it, else new slices.
    to_create: list[_Work] = []
    while at < len(remaining):
        left = len(remaining) - at
        target: _Work | None = None
        if left < max_per_slice and unchanged:
            chosen = _slice_to_fill(unchanged.values(), left, max_per_slice)
            if chosen is not None:
                del unchanged[chosen.metadata.name or ""]
                target = _Work(chosen, list(chosen.endpoints))
                to_update[chosen.metadata.name or ""] = target
        if target is None:
            target = _Work(_new_slice(service, address_type, ports), [])
            to_create.append(target)
        room = max_per_slice - len(target.endpoints)
        target.endpoints.extend(remaining[at : at + room])
        at += min(room, left)
    created = [_finish(w) for w in to_create]
    updated_slices = [_finish(to_update[n]) for n in sorted(to_update)]
    return created, updated_slices, to_delete


def _slice_to_fill(
    candidates: Iterable[EndpointSlice], count: int, max_per_slice: int
) -> EndpointSlice | None:
    """getSliceToFill: the slice left closest to full after taking ``count`` (exact fit wins)."""
    closest, best = None, max_per_slice
    for candidate in sorted(candidates, key=lambda s: s.metadata.name or ""):
        slack = max_per_slice - (count + len(candidate.endpoints))
        if 0 <= slack < best:
            closest, best = candidate, slack
            if slack == 0:
                break
    return closest


def _finish(work: _Work) -> EndpointSlice:
    old = work.slice
    meta = old.metadata if work.labels is None else replace(old.metadata, labels=work.labels)
    return EndpointSlice(meta, old.address_type, tuple(work.endpoints), old.ports)


def _is_placeholder_of(candidate: EndpointSlice, placeholder: EndpointSlice) -> bool:
    """placeholderSliceCompare: namespace, labels, owners, type, no ports, no endpoints."""
    return (
        candidate.metadata.namespace == placeholder.metadata.namespace
        and dict(candidate.metadata.labels) == dict(placeholder.metadata.labels)
        and candidate.metadata.owner_references == placeholder.metadata.owner_references
        and candidate.address_type == placeholder.address_type
        and not candidate.ports
        and not candidate.endpoints
    )


def _by_address_type(
    service: Service,
    pods: Sequence[Pod],
    nodes: Mapping[str, Node],
    existing: Sequence[EndpointSlice],
    address_type: str,
    max_per_slice: int,
    trigger_time: str | None,
) -> tuple[SlicePlan, list[str]]:
    creates: list[EndpointSlice] = []
    updates: list[EndpointSlice] = []
    deletes: list[EndpointSlice] = []
    errors: list[str] = []
    existing_by_ports: dict[PortKey, list[EndpointSlice]] = {}
    for current in sorted(existing, key=lambda s: s.metadata.name or ""):
        if owned_by(current, service):
            existing_by_ports.setdefault(port_key(current.ports), []).append(current)
        else:
            deletes.append(current)
    desired_by_ports: dict[PortKey, dict[EndpointKey, Endpoint]] = {}
    ports_of: dict[PortKey, tuple[EndpointPort, ...]] = {}
    publish = bool(service.spec.publish_not_ready_addresses)
    svc_ref = f"{service.metadata.namespace}/{service.metadata.name}"
    # Without named target ports every Pod resolves the same list: work it out once.
    fixed = None
    if all(not isinstance(p.target_port, str) for p in service.spec.ports) and pods:
        fixed_ports = endpoint_ports(service, pods[0])
        fixed = (fixed_ports, port_key(fixed_ports))
    for pod in pods:
        if not pod_in_endpoints(pod, include_terminating=True):
            continue
        if fixed is None:
            ports = endpoint_ports(service, pod)
            key = port_key(ports)
        else:
            ports, key = fixed
        group = desired_by_ports.setdefault(key, {})
        ports_of.setdefault(key, ports)
        node = nodes.get(pod.spec.node_name or "")
        if node is None and not publish:
            # Upstream leaves the Pod out now and requeues the Service to try again.
            node_name = pod.spec.node_name or ""
            errors.append(
                f"skipping Pod {pod.metadata.name} for Service {svc_ref}: "
                f"Node {node_name} Not Found"
            )
            continue
        endpoint = pod_to_endpoint(pod, node, service, address_type)
        if endpoint.addresses:
            group[endpoint_key(endpoint)] = endpoint
    for key, group in desired_by_ports.items():
        c, u, d = _by_port_mapping(
            service,
            existing_by_ports.get(key, ()),
            group,
            address_type,
            ports_of[key],
            max_per_slice,
        )
        creates += c
        updates += u
        deletes += d
    for key, slices in existing_by_ports.items():
        if key not in desired_by_ports:
            deletes += slices
    # A Service with nothing to show still gets one empty slice per address type.
    if len(existing) == len(deletes) and not creates:
        placeholder = _new_slice(service, address_type, ())
        if len(deletes) == 1 and _is_placeholder_of(deletes[0], placeholder):
            deletes = []
        else:
            creates.append(placeholder)
    changed = {s.metadata.name for s in updates} | {s.metadata.name for s in deletes}
    unchanged = [s for s in existing if s.metadata.name not in changed]
    creates, updates, unchanged = reconcile_hints(service, creates, updates, unchanged)
    creates, updates, deletes = _finalize(service, creates, updates, deletes)
    stamp = [_stamp(s, trigger_time) for s in creates], [_stamp(s, trigger_time) for s in updates]
    return SlicePlan(tuple(stamp[0]), tuple(stamp[1]), tuple(deletes), tuple(unchanged)), errors


def _finalize(
    service: Service,
    creates: list[EndpointSlice],
    updates: list[EndpointSlice],
    deletes: list[EndpointSlice],
) -> tuple[list[EndpointSlice], list[EndpointSlice], list[EndpointSlice]]:
    """finalize: a create paired with a delete of the same type becomes an update (name reuse)."""
    i = 0
    while i < len(deletes) and creates:
        doomed, newest = deletes[i], creates[-1]
        if doomed.address_type == newest.address_type and owned_by(doomed, service):
            reused = replace(
                newest,
                metadata=replace(
                    doomed.metadata,
                    labels=newest.metadata.labels,
                    owner_references=newest.metadata.owner_references,
                ),
            )
            creates.pop()
            updates.append(reused)
            del deletes[i]
        else:
            i += 1
    return creates, updates, deletes


def _stamp(slice_: EndpointSlice, trigger_time: str | None) -> EndpointSlice:
    """addTriggerTimeAnnotation: set it when the trigger time is known, remove it otherwise."""
    notes = dict(slice_.metadata.annotations)
    if trigger_time is not None:
        notes[ANNOTATION_TRIGGER_TIME] = trigger_time
    else:
        notes.pop(ANNOTATION_TRIGGER_TIME, None)
    if notes == slice_.metadata.annotations:
        return slice_
    meta = replace(slice_.metadata, annotations=notes)
    return EndpointSlice(meta, slice_.address_type, slice_.endpoints, slice_.ports)


def plan_slices(
    service: Service,
    pods: Sequence[Pod],
    nodes: Mapping[str, Node],
    existing_slices: Sequence[EndpointSlice],
    *,
    max_endpoints_per_slice: int = DEFAULT_MAX_ENDPOINTS_PER_SLICE,
    trigger_time: str | None = None,
) -> SlicePlan:
    """Reconciler.reconcile for one selector Service: every address type, then stale types.

    ``pods`` are the Pods the selector matches (any order: they are taken sorted by name, so
    packing is reproducible); ``existing_slices`` the Service's managed slices.
    """
    families = address_types(service)
    ordered = sorted(pods, key=lambda p: p.metadata.name or "")
    plans: list[SlicePlan] = []
    errors: list[str] = []
    stale = tuple(s for s in existing_slices if s.address_type not in families)
    for family in families:
        mine = [s for s in existing_slices if s.address_type == family]
        plan, errs = _by_address_type(
            service, ordered, nodes, mine, family, max_endpoints_per_slice, trigger_time
        )
        plans.append(plan)
        errors += [e for e in errs if e not in errors]
    return SlicePlan(
        create=tuple(s for p in plans for s in p.create),
        update=tuple(s for p in plans for s in p.update),
        delete=tuple(s for p in plans for s in p.delete) + stale,
        unchanged=tuple(s for p in plans for s in p.unchanged),
        errors=tuple(errors),
    )


def desired_slices(
    service: Service,
    pods: Sequence[Pod],
    nodes: Mapping[str, Node],
    existing_slices: Sequence[EndpointSlice] = (),
    *,
    max_endpoints_per_slice: int = DEFAULT_MAX_ENDPOINTS_PER_SLICE,
    trigger_time: str | None = None,
) -> tuple[EndpointSlice, ...]:
    """The slices the Service should have after one sync (from scratch when none exist)."""
    return plan_slices(
        service,
        pods,
        nodes,
        existing_slices,
        max_endpoints_per_slice=max_endpoints_per_slice,
        trigger_time=trigger_time,
    ).result()
