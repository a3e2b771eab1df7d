"""What the apiserver allocates and releases when a Service is *updated*.

Upstream's ``beginUpdate`` (``pkg/registry/core/service/storage/storage.go``) runs before any
validation, in this order:

1. :func:`patch_allocated_values` — values the server allocated and the client left out
   (``clusterIP(s)``, ``nodePort`` matched by port *name*, ``healthCheckNodePort``) are copied
   from the stored object, so re-applying the original manifest succeeds;
2. :func:`normalize_cluster_ips` — keep ``clusterIP`` and ``clusterIPs`` in step;
3. ``allocateUpdate`` (``alloc.go``): IP families (:mod:`.families`), then ClusterIPs
   (ExternalName → other type allocates all, other → ExternalName releases all, dual-stack
   upgrade allocates the secondary, downgrade releases it), then NodePorts
   (``updateNodePorts``) and the health-check NodePort (``updateHealthCheckNodePort``).

Whatever is taken is given back if the update fails; whatever is no longer needed is
released only when the update commits (:class:`~.transaction.Transaction`). Then the strategy's
``PrepareForUpdate`` runs :func:`drop_type_dependent_fields` and validation follows::

    >>> import random
    >>> from dataclasses import replace
    >>> from k8s_service_lab.allocators.service import ServiceAllocations
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> from k8s_service_lab.config import ClusterConfig
    >>> allocations = ServiceAllocations(ClusterConfig.default(), random.Random(1))
    >>> manifest = Service(ObjectMeta(name="web", namespace="default"), ServiceSpec(
    ...     type="NodePort", external_traffic_policy="Cluster",
    ...     ports=(ServicePort(80, protocol="TCP", target_port=80),)))
    >>> stored, txn = allocations.allocate_for_create(manifest); txn.commit()
    >>> again, txn = allocations.allocate_for_update(manifest, stored)   # same YAML again
    >>> again.spec.ports == stored.spec.ports, again.spec.cluster_ips == stored.spec.cluster_ips
    (True, True)
    >>> to_cip = replace(stored, spec=replace(stored.spec, type="ClusterIP"))
    >>> moved, txn = allocations.allocate_for_update(to_cip, stored)
    >>> txn.released_ports == (stored.spec.ports[0].node_port,)   # released on commit only
    True
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from k8s_service_lab.allocators.clusterip import parse_ip
from k8s_service_lab.allocators.families import is_matching_prefer_dual_stack
from k8s_service_lab.allocators.service import (
    needs_health_check,
    should_allocate_node_ports,
)
from k8s_service_lab.allocators.transaction import Transaction
from k8s_service_lab.api.service import (
    CLUSTER_IP_NONE,
    IPFamily,
    Service,
    ServiceSpec,
    ServiceType,
)
from k8s_service_lab.errors import ServiceLabError

if TYPE_CHECKING:
    from k8s_service_lab.allocators.service import ServiceAllocations

__all__ = [
    "allocate_update",
    "drop_type_dependent_fields",
    "normalize_cluster_ips",
    "patch_allocated_values",
]

_NODE_PORT_TYPES = (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)


def _needs_cluster_ip(spec: ServiceSpec) -> bool:
    return spec.type != ServiceType.EXTERNAL_NAME


def _needs_node_port(spec: ServiceSpec) -> bool:
    return spec.type in _NODE_PORT_TYPES


def _node_port_numbers(spec: ServiceSpec) -> list[int]:
    """``collectServiceNodePorts``: every non-zero nodePort, duplicates kept."""
    return [p.node_port for p in spec.ports if p.node_port]


def patch_allocated_values(new: Service, old: Service) -> Service:
    """``patchAllocatedValues``: copy server-allocated values the client did not send.

    NodePorts are matched by port *name* (a single unnamed port matches the old unnamed one),
    and a value is not copied if another port of the new spec already uses it.
    """
    spec, old_spec = new.spec, old.spec
    if _needs_cluster_ip(old_spec) and _needs_cluster_ip(spec):
        if not spec.cluster_ip:
            spec = replace(spec, cluster_ip=old_spec.cluster_ip)
        if not spec.cluster_ips and old_spec.cluster_ips:
            spec = replace(spec, cluster_ips=old_spec.cluster_ips)
    if _needs_node_port(old_spec) and _needs_node_port(spec):
        used = set(_node_port_numbers(old_spec)) & set(_node_port_numbers(spec))
        by_name = {p.name or "": p.node_port or 0 for p in old_spec.ports}
        ports = []
        for p in spec.ports:
            if not p.node_port:
                value = by_name.get(p.name or "", 0)
                if value and value not in used:
                    p = replace(p, node_port=value)
            ports.append(p)
        spec = replace(spec, ports=tuple(ports))
    hc_kept = needs_health_check(old_spec) and needs_health_check(spec)
    if hc_kept and not spec.health_check_node_port:
        spec = replace(spec, health_check_node_port=old_spec.health_check_node_port)
    return replace(new, spec=spec)


def normalize_cluster_ips(new: Service, old: Service) -> Service:
    """``normalizeClusterIPs`` for an update: infer what the client meant by the two fields.

    An old client that only knows ``clusterIP`` gets ``clusterIPs`` kept or rebuilt to match;
    clearing ``clusterIP`` while leaving ``clusterIPs`` as stored clears both.
    """
    spec, old_spec = new.spec, old.spec
    old_ip, new_ip = old_spec.cluster_ip or "", spec.cluster_ip or ""
    if old_spec.cluster_ips and not spec.cluster_ips and old_ip == new_ip:
        spec = replace(spec, cluster_ips=old_spec.cluster_ips)
    if old_ip != new_ip:
        same_list = spec.cluster_ips == old_spec.cluster_ips
        if old_ip and not new_ip:
            if same_list:
                spec = replace(spec, cluster_ips=())
        elif same_list:
            spec = replace(spec, cluster_ips=(new_ip,))
    return replace(new, spec=spec)


def allocate_update(
    allocations: ServiceAllocations, new: Service, old: Service
) -> tuple[Service, Transaction]:
    """``beginUpdate``: patch, normalise, then ``allocateUpdate``; all or nothing.

    Raises what the create path raises (field errors alone, or a 500), plus upstream's bare
    ``duplicate nodePort: {TCP 30080}`` for two ports given the same protocol and NodePort.
    """
    new = normalize_cluster_ips(patch_allocated_values(new, old), old)
    txn = Transaction(allocations.node_ports)
    try:
        new = allocations.init_ip_families(new, old)
        new = _update_cluster_ips(allocations, new, old, txn)
        new = _update_node_ports(allocations, new, old, txn)
        new = _update_health_check(allocations, new, old, txn)
    except BaseException:
        txn.revert()
        raise
    return new, txn


def _update_cluster_ips(
    allocations: ServiceAllocations, new: Service, old: Service, txn: Transaction
) -> Service:
    """``updateClusterIPs``: the four cases of a type change or a family change."""
    if is_matching_prefer_dual_stack(new, old):
        return new
    old_spec, spec = old.spec, new.spec
    old_is_name = old_spec.type == ServiceType.EXTERNAL_NAME
    new_is_name = spec.type == ServiceType.EXTERNAL_NAME
    if old_is_name and not new_is_name:  # A: ExternalName → a type with IPs: all new
        return allocations.allocate_cluster_ips(new, txn)
    if old_spec.cluster_ips and old_spec.cluster_ips[0] == CLUSTER_IP_NONE:
        return new  # headless: no IPs to manage
    if new_is_name and not old_is_name:  # B: → ExternalName: release all, after commit
        for family, ip in zip(old_spec.ip_families, old_spec.cluster_ips, strict=False):
            _release_ip_on_commit(allocations, family, ip, txn)
        return new
    if len(old_spec.ip_families) == 1 and len(spec.ip_families) == 2:  # C: upgrade
        if len(spec.cluster_ips) < 2:
            new = replace(new, spec=replace(spec, cluster_ips=(*spec.cluster_ips, "")))
        return allocations.allocate_cluster_ips(new, txn, only=1)
    downgrade = len(old_spec.ip_families) == 2 and len(spec.ip_families) == 1
    if downgrade and len(old_spec.cluster_ips) > 1:  # D: release the secondary
        _release_ip_on_commit(allocations, old_spec.ip_families[1], old_spec.cluster_ips[1], txn)
    return new


def _release_ip_on_commit(
    allocations: ServiceAllocations, family: str, text: str, txn: Transaction
) -> None:
    allocator = allocations.ip_allocators.get(IPFamily(family))
    ip = parse_ip(text) if text else None
    # A family the cluster no longer serves has nothing to give back (upstream logs and skips).
    if allocator is not None and ip is not None:
        txn.release_ip_on_commit(allocator, ip)


def _update_node_ports(
    allocations: ServiceAllocations, new: Service, old: Service, txn: Transaction
) -> Service:
    """``txnUpdateNodePorts`` / ``updateNodePorts``.

    Unlike create, ports with the same ``port`` number do not share a fresh NodePort here.
    """
    old_spec, spec = old.spec, new.spec
    old_numbers = _node_port_numbers(old_spec)
    if _needs_node_port(old_spec) and spec.type in (
        ServiceType.EXTERNAL_NAME,
        ServiceType.CLUSTER_IP,
    ):
        for number in old_numbers:
            txn.release_port_on_commit(number)
    if not _needs_node_port(spec):
        return new
    allocate_all = should_allocate_node_ports(spec)
    ports = list(spec.ports)
    seen: list[tuple[str, int]] = []
    taken_now: set[int] = set()
    for i, sp in enumerate(ports):
        if not sp.node_port and not allocate_all:
            continue  # only explicit requests when allocateLoadBalancerNodePorts is false
        number = sp.node_port or 0
        if number:
            if number not in old_numbers and number not in taken_now:
                allocations.take_node_port(new, i, number, txn)
                taken_now.add(number)
        else:
            number = allocations.node_ports.allocate_next()  # full: a 500, as upstream
            txn.took_port(number)
            ports[i] = replace(sp, node_port=number)
        key = (sp.protocol or "", number)
        if key in seen:
            # Upstream returns a plain Go error here; the apiserver answers 500 with its text.
            raise ServiceLabError(f"duplicate nodePort: {{{key[0]} {key[1]}}}")
        seen.append(key)
    new_numbers = {p.node_port for p in ports if p.node_port}
    for number in old_numbers:
        if number not in new_numbers:
            txn.release_port_on_commit(number)
    return replace(new, spec=replace(spec, ports=tuple(ports)))


def _update_health_check(
    allocations: ServiceAllocations, new: Service, old: Service, txn: Transaction
) -> Service:
    """``updateHealthCheckNodePort``: allocate when newly needed, release when no longer."""
    needed, needs = needs_health_check(old.spec), needs_health_check(new.spec)
    if needs and not needed:
        port = allocations.allocate_health_check(new, txn)
        return replace(new, spec=replace(new.spec, health_check_node_port=port))
    if needed and not needs and old.spec.health_check_node_port:
        txn.release_port_on_commit(old.spec.health_check_node_port)
    return new


def drop_type_dependent_fields(new: Service, old: Service) -> Service:
    """``dropTypeDependentFields`` (the registry strategy's ``PrepareForUpdate``).

    When the new type no longer uses a field the server may have filled in, and the client did
    not change it, clear it (its allocation is released when the update commits): clusterIPs
    with families and policy (→ ExternalName), nodePorts (→ ClusterIP/ExternalName, unless the
    client added new values), healthCheckNodePort, ``allocateLoadBalancerNodePorts`` and
    ``loadBalancerClass`` (leaving LoadBalancer). The selector is never wiped.
    """
    spec, old_spec = new.spec, old.spec
    if _needs_cluster_ip(old_spec) and not _needs_cluster_ip(spec):
        if spec.cluster_ip == old_spec.cluster_ip and spec.cluster_ips == old_spec.cluster_ips:
            spec = replace(spec, cluster_ip=None, cluster_ips=())
        if spec.ip_families == old_spec.ip_families:
            spec = replace(spec, ip_families=())
        if spec.ip_family_policy == old_spec.ip_family_policy:
            spec = replace(spec, ip_family_policy=None)
    if (
        _needs_node_port(old_spec)
        and not _needs_node_port(spec)
        and set(_node_port_numbers(spec)) <= set(_node_port_numbers(old_spec))
    ):
        spec = replace(spec, ports=tuple(replace(p, node_port=None) for p in spec.ports))
    if (
        needs_health_check(old_spec)
        and not needs_health_check(spec)
        and spec.health_check_node_port == old_spec.health_check_node_port
    ):
        spec = replace(spec, health_check_node_port=None)
    leaves_lb = (
        old_spec.type == ServiceType.LOAD_BALANCER and spec.type != ServiceType.LOAD_BALANCER
    )
    if (
        leaves_lb
        and spec.allocate_load_balancer_node_ports is not None
        and spec.allocate_load_balancer_node_ports == old_spec.allocate_load_balancer_node_ports
    ):
        spec = replace(spec, allocate_load_balancer_node_ports=None)
    if leaves_lb and spec.load_balancer_class == old_spec.load_balancer_class:
        spec = replace(spec, load_balancer_class=None)
    return replace(new, spec=spec)
