"""What the apiserver allocates when a Service is created: ClusterIPs, NodePorts, health checks.

Before a new Service is validated, the Service storage's BeginCreate hook
(``pkg/registry/core/service/storage/alloc.go``) normalises the ClusterIP fields, settles the IP
families, and takes everything the Service needs from the allocators — ClusterIPs first, then
NodePorts, then the health-check NodePort. The first failure is returned **alone** (even if
the Service has other mistakes), and whatever the hook took is given back. Only after it
succeeds does validation run, reporting all its errors at once; if it fails, the caller
reverts the :class:`Transaction`.

    >>> import random
    >>> from k8s_service_lab.allocators.service import ServiceAllocations
    >>> from k8s_service_lab.api.meta import ObjectMeta
    >>> from k8s_service_lab.api.service import Service, ServicePort, ServiceSpec
    >>> from k8s_service_lab.config import ClusterConfig
    >>> allocations = ServiceAllocations(ClusterConfig.default(), random.Random(1))
    >>> dns = Service(ObjectMeta(name="kube-dns", namespace="kube-system"), ServiceSpec(
    ...     type="ClusterIP", selector={"k8s-app": "kube-dns"}, cluster_ip="10.96.0.10",
    ...     ports=(ServicePort(53, name="dns", protocol="UDP", target_port=53),)))
    >>> stored, txn = allocations.allocate_for_create(dns)
    >>> stored.spec.cluster_ips, stored.spec.ip_families, stored.spec.ip_family_policy
    (('10.96.0.10',), ('IPv4',), 'SingleStack')
    >>> txn.commit()
    >>> again = Service(ObjectMeta(name="other", namespace="default"), dns.spec)
    >>> allocations.allocate_for_create(again)
    Traceback (most recent call last):
    ...
    k8s_service_lab.errors.ValidationError: Service "other" is invalid: spec.clusterIPs: \
Invalid value: ["10.96.0.10"]: failed to allocate IP 10.96.0.10: provided IP is already allocated

The input is a Service after v1 defaulting (type, protocols, target ports, traffic policies,
``allocateLoadBalancerNodePorts``); ``clusterIP(s)``, ``ipFamilies`` and ``ipFamilyPolicy`` are
settled here, as the apiserver does (control-plane sheet §2.6):

- ``ipFamilyPolicy`` unset: ``RequireDualStack`` for a headless *and* selectorless Service,
  else ``SingleStack``; requested IPs add their families; empty families get the cluster's
  default (first) family, and a non-SingleStack policy on a dual-stack cluster the other one.
- A headless selectorless Service may list both families even on a single-stack cluster.
- Headless and ExternalName Services get no IPs; ports sharing a ``port`` number share one
  NodePort (``53/UDP`` + ``53/TCP``); a LoadBalancer with ``externalTrafficPolicy: Local``
  also gets a ``healthCheckNodePort``.

Two deliberate differences from upstream: allocation runs over ``ipFamilies`` in order (Go
ranges over a map, so with two failing families either error may come first), and a failure
releases *everything* taken, including the other family's IP (upstream leaks it until the
repair controller frees it).

This module holds CREATE (and DELETE, :meth:`ServiceAllocations.release`); the families step
is :mod:`.families`, the books are kept by :class:`~.transaction.Transaction`, and UPDATE —
``patchAllocatedValues``, type transitions, dual-stack upgrade/downgrade, releases deferred to
commit — is :mod:`.service_update`, reached through :meth:`ServiceAllocations.allocate_for_update`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from k8s_service_lab.allocators.bitmap import AllocatorError, RangeFullError
from k8s_service_lab.allocators.clusterip import (
    IP,
    ClusterIPAllocator,
    Network,
    family_of,
    parse_ip,
)
from k8s_service_lab.allocators.families import init_ip_family_fields
from k8s_service_lab.allocators.nodeport import NodePortAllocator
from k8s_service_lab.allocators.transaction import Transaction
from k8s_service_lab.api.service import (
    CLUSTER_IP_NONE,
    IPFamily,
    Service,
    ServicePort,
    ServiceSpec,
    ServiceType,
    TrafficPolicy,
)
from k8s_service_lab.config import DEFAULT_NODE_PORT_RANGE, ClusterConfig, PortRange
from k8s_service_lab.errors import AllocationError, ValidationError
from k8s_service_lab.field import FieldPath, invalid

__all__ = ["ServiceAllocations", "Transaction", "needs_health_check", "node_port_path"]

_SPEC = FieldPath.root("spec")
_CLUSTER_IPS = _SPEC.child("clusterIPs")


class ServiceAllocations:
    """One ClusterIP allocator per configured family (primary first) and one NodePort pool.

    ``rng`` is shared by all of them, so one seed reproduces every pick.
    """

    __slots__ = ("_by_family", "_default_family", "_node_ports")

    def __init__(
        self,
        cluster: ClusterConfig | Sequence[Network],
        rng: random.Random | None = None,
        *,
        node_port_range: PortRange | None = None,
    ):
        """From a cluster config (its service CIDRs and NodePort range), or from service CIDRs
        (primary first) and ``node_port_range`` (default 30000-32767)."""
        if isinstance(cluster, ClusterConfig):
            cidrs: Sequence[Network] = cluster.service_cidrs
            node_port_range = node_port_range or cluster.node_port_range
        else:
            cidrs = cluster
        families = [family_of(cidr.network_address) for cidr in cidrs]
        if not 1 <= len(families) <= 2 or len(set(families)) != len(families):
            raise ValueError(f"need one service CIDR, or two of different families: {families}")
        rng = rng if rng is not None else random.Random()
        self._by_family = {
            family: ClusterIPAllocator(cidr, rng)
            for family, cidr in zip(families, cidrs, strict=True)
        }
        self._default_family = families[0]
        self._node_ports = NodePortAllocator(node_port_range or DEFAULT_NODE_PORT_RANGE, rng)

    @property
    def ip_allocators(self) -> Mapping[IPFamily, ClusterIPAllocator]:
        """The ClusterIP allocator of each configured family, primary family first."""
        return MappingProxyType(self._by_family)

    @property
    def node_ports(self) -> NodePortAllocator:
        return self._node_ports

    @property
    def default_family(self) -> IPFamily:
        """The family of ``--service-cluster-ip-range[0]``."""
        return self._default_family

    def allocate_for_create(self, svc: Service) -> tuple[Service, Transaction]:
        """Allocate for a new Service: the Service with its allocated values, and the txn.

        Raises :class:`~k8s_service_lab.errors.ValidationError` (one stage's field errors) or
        :class:`~k8s_service_lab.errors.AllocationError` (the 500s: a full range, a taken
        health-check port), having given back anything this call took.
        """
        spec = svc.spec
        if spec.cluster_ip and not spec.cluster_ips:  # an old client set only the singular field
            svc = replace(svc, spec=replace(spec, cluster_ips=(spec.cluster_ip,)))
        txn = Transaction(self._node_ports)
        try:
            svc = self.init_ip_families(svc, None)
            svc = self.allocate_cluster_ips(svc, txn)
            ports = self._allocate_node_ports(svc, txn)
            health_check = self.allocate_health_check(svc, txn)
        except BaseException:
            txn.revert()
            raise
        new_spec = replace(svc.spec, ports=ports, health_check_node_port=health_check)
        return replace(svc, spec=new_spec), txn

    def allocate_for_update(self, new: Service, old: Service) -> tuple[Service, Transaction]:
        """The update's allocation step (upstream ``beginUpdate``): see :mod:`.service_update`.

        Returns the Service as the update will store it (allocated values patched in, new ones
        allocated) and the transaction: commit it once the update is stored (that is when the
        values the Service no longer needs are released), revert it if anything later fails.
        """
        from k8s_service_lab.allocators.service_update import allocate_update

        return allocate_update(self, new, old)

    def release(self, svc: Service) -> None:
        """Give back everything a stored Service holds (it is being deleted)."""
        spec = svc.spec
        for text in spec.cluster_ips or ((spec.cluster_ip,) if spec.cluster_ip else ()):
            ip = parse_ip(text) if text != CLUSTER_IP_NONE else None
            allocator = self._by_family.get(family_of(ip)) if ip is not None else None
            if ip is not None and allocator is not None:
                allocator.release(ip)
        for port in spec.ports:
            if port.node_port:
                self._node_ports.release(port.node_port)
        if needs_health_check(spec) and spec.health_check_node_port:
            self._node_ports.release(spec.health_check_node_port)

    # -- steps shared with the update path ------------------------------------------------

    def init_ip_families(self, svc: Service, old: Service | None) -> Service:
        """:func:`~.families.init_ip_family_fields` against this cluster's families."""
        configured = tuple(family.value for family in self._by_family)
        return init_ip_family_fields(svc, old, configured, self._default_family.value)

    def allocate_cluster_ips(
        self, svc: Service, txn: Transaction, *, only: int | None = None
    ) -> Service:
        """One IP per ``ipFamilies`` entry: the requested one, or a dynamic pick.

        ``only`` restricts the work to one index (a dual-stack upgrade allocates just the
        secondary). ExternalName and headless Services get no IPs. Requested IPs that are taken
        or out of range fail on ``spec.clusterIPs`` with the whole list as the value; a full
        range is the apiserver's 500.
        """
        spec = svc.spec
        if spec.type == ServiceType.EXTERNAL_NAME:
            return svc
        if spec.cluster_ips and spec.cluster_ips[0] == CLUSTER_IP_NONE:
            return svc  # headless: no IPs
        families = spec.ip_families
        # Families without a requested IP get an empty marker; the error value shows them.
        cluster_ips = list(spec.cluster_ips) + [""] * (len(families) - len(spec.cluster_ips))
        picked: dict[int, IP] = {}
        for i, family in enumerate(families):
            if only is not None and i != only:
                continue
            allocator = self._by_family[IPFamily(family)]
            requested = cluster_ips[i]
            if not requested:
                picked[i] = allocator.allocate_next()  # a full range is a 500, as upstream
                txn.took_ip(allocator, picked[i])
                continue
            ip = parse_ip(requested)
            assert ip is not None  # checked by validate_cluster_ips_related_fields
            try:
                allocator.allocate(ip)
            except AllocatorError as err:
                detail = f"failed to allocate IP {requested}: {err}"
                name = svc.metadata.name or ""
                error = invalid(_CLUSTER_IPS, list(cluster_ips), detail)
                raise ValidationError("Service", name, [error]) from err
            txn.took_ip(allocator, ip)
        for i, ip in picked.items():
            cluster_ips[i] = str(ip)
        first = cluster_ips[0] if cluster_ips else spec.cluster_ip
        return replace(svc, spec=replace(spec, cluster_ip=first, cluster_ips=tuple(cluster_ips)))

    def take_node_port(self, svc: Service, index: int, port: int, txn: Transaction) -> None:
        """Take a requested NodePort for ``spec.ports[index]``, or fail on that field."""
        try:
            self._node_ports.allocate(port)
        except AllocatorError as err:
            error = invalid(node_port_path(index), port, str(err))
            raise ValidationError("Service", svc.metadata.name or "", [error]) from err
        txn.took_port(port)

    def allocate_health_check(self, svc: Service, txn: Transaction) -> int | None:
        """The health-check NodePort of a LoadBalancer with externalTrafficPolicy Local.

        Upstream ``allocHealthCheckNodePort``: the requested port, else a dynamic pick; both
        failures are 500s.
        """
        spec = svc.spec
        requested = spec.health_check_node_port
        if not needs_health_check(spec):
            return requested
        if requested:
            try:
                self._node_ports.allocate(requested)
            except AllocatorError as err:  # upstream makes this an internal error (500)
                what = f"requested HealthCheck NodePort {requested}"
                raise AllocationError(what, str(err)) from err
            txn.took_port(requested)
            return requested
        try:
            port = self._node_ports.allocate_next()
        except RangeFullError as err:
            # Upstream prints the port variable it failed to fill, which is still 0.
            raise RangeFullError("a HealthCheck NodePort 0") from err
        txn.took_port(port)
        return port

    def _allocate_node_ports(self, svc: Service, txn: Transaction) -> tuple[ServicePort, ...]:
        """NodePorts for a new NodePort or LoadBalancer Service (upstream ``initNodePorts``)."""
        spec = svc.spec
        ports = list(spec.ports)
        if spec.type not in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER):
            return tuple(ports)
        allocate_all = should_allocate_node_ports(spec)
        by_port: dict[int, int] = {}  # ports with the same `port` number share one NodePort
        for i, sp in enumerate(ports):
            requested = sp.node_port or 0
            if requested == 0 and not allocate_all:
                continue
            shared = by_port.get(sp.port, 0)
            if shared == 0:
                # A NodePort requested by any port with this number serves them all.
                wanted = next((p.node_port for p in ports if p.port == sp.port and p.node_port), 0)
                if wanted:
                    self.take_node_port(svc, i, wanted, txn)
                else:
                    wanted = self._node_ports.allocate_next()  # full: a 500, as upstream
                    txn.took_port(wanted)
                ports[i] = replace(sp, node_port=wanted)
                by_port[sp.port] = wanted
            elif requested != shared:
                if requested == 0:
                    ports[i] = replace(sp, node_port=shared)
                else:  # a second number for the same port: taken as well, if it can be
                    self.take_node_port(svc, i, requested, txn)
        return tuple(ports)


def node_port_path(index: int) -> FieldPath:
    """``spec.ports[index].nodePort``."""
    return _SPEC.child("ports").index(index).child("nodePort")


def needs_health_check(spec: ServiceSpec) -> bool:
    """A LoadBalancer with ``externalTrafficPolicy: Local`` (upstream ``NeedsHealthCheck``)."""
    return (
        spec.type == ServiceType.LOAD_BALANCER
        and spec.external_traffic_policy == TrafficPolicy.LOCAL
    )


def should_allocate_node_ports(spec: ServiceSpec) -> bool:
    """NodePort always; LoadBalancer unless ``allocateLoadBalancerNodePorts: false``."""
    if spec.type == ServiceType.NODE_PORT:
        return True
    return (
        spec.type == ServiceType.LOAD_BALANCER
        and spec.allocate_load_balancer_node_ports is not False
    )
