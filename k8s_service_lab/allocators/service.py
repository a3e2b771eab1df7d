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

Only CREATE is modelled here. The UPDATE path — ``patchAllocatedValues`` (re-applying a
manifest without clusterIP/nodePort keeps the allocated values), type transitions
(ExternalName ↔ others, NodePort → ClusterIP releasing ports), dual-stack upgrade/downgrade and
releasing deferred to commit — is a later issue; :meth:`ServiceAllocations.release` covers
DELETE.
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
from k8s_service_lab.allocators.nodeport import NodePortAllocator
from k8s_service_lab.api.service import (
    CLUSTER_IP_NONE,
    IPFamily,
    IPFamilyPolicy,
    Service,
    ServicePort,
    ServiceSpec,
    ServiceType,
    TrafficPolicy,
)
from k8s_service_lab.api.validation.service_ips import validate_cluster_ips_related_fields
from k8s_service_lab.config import DEFAULT_NODE_PORT_RANGE, ClusterConfig, PortRange
from k8s_service_lab.errors import AllocationError, ValidationError
from k8s_service_lab.field import FieldError, FieldPath, invalid

__all__ = ["ServiceAllocations", "Transaction"]

_SPEC = FieldPath.root("spec")
_CLUSTER_IPS = _SPEC.child("clusterIPs")
# The model keeps enum-like fields as plain strings (api/service.py), so these are strings too.
_FAMILIES = [f.value for f in IPFamily]
_POLICIES = [p.value for p in IPFamilyPolicy]
_SINGLE = IPFamilyPolicy.SINGLE_STACK.value
_REQUIRE = IPFamilyPolicy.REQUIRE_DUAL_STACK.value
_IP_EXAMPLE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


class Transaction:
    """What one create took from the allocators, to keep (:meth:`commit`) or give back.

    The caller reverts when something after allocation fails (validation, storage). Reverting
    releases in reverse order; a committed transaction can no longer be reverted.
    """

    __slots__ = ("_ips", "_node_ports", "_ports", "_state")

    def __init__(self, node_ports: NodePortAllocator):
        self._node_ports = node_ports
        self._ips: list[tuple[ClusterIPAllocator, IP]] = []
        self._ports: list[int] = []
        self._state = "open"

    @property
    def cluster_ips(self) -> tuple[IP, ...]:
        """The ClusterIPs this create took."""
        return tuple(ip for _, ip in self._ips)

    @property
    def node_ports(self) -> tuple[int, ...]:
        """The NodePorts (health-check port included) this create took."""
        return tuple(self._ports)

    @property
    def state(self) -> str:
        """``open``, ``committed`` or ``reverted``."""
        return self._state

    def commit(self) -> None:
        """Keep everything (the Service was stored)."""
        if self._state == "reverted":
            raise RuntimeError("cannot commit a reverted allocation transaction")
        self._state = "committed"

    def revert(self) -> None:
        """Give everything back (the create failed after allocation). Idempotent."""
        if self._state == "committed":
            raise RuntimeError("cannot revert a committed allocation transaction")
        if self._state == "open":
            for port in reversed(self._ports):
                self._node_ports.release(port)
            for allocator, ip in reversed(self._ips):
                allocator.release(ip)
        self._state = "reverted"

    def _took_ip(self, allocator: ClusterIPAllocator, ip: IP) -> None:
        self._ips.append((allocator, ip))

    def _took_port(self, port: int) -> None:
        self._ports.append(port)


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
        name = svc.metadata.name or ""
        cluster_ip = spec.cluster_ip or None
        cluster_ips = list(spec.cluster_ips)
        if cluster_ip and not cluster_ips:  # an old client set only the singular field
            cluster_ips = [cluster_ip]
        families = list(spec.ip_families)
        policy = spec.ip_family_policy
        txn = Transaction(self._node_ports)
        try:
            if spec.type != ServiceType.EXTERNAL_NAME:
                policy = self._init_ip_families(svc, cluster_ips, families)
                self._allocate_cluster_ips(name, cluster_ips, families, txn)
            ports = self._allocate_node_ports(name, spec, txn)
            health_check = self._allocate_health_check(spec, txn)
        except BaseException:
            txn.revert()
            raise
        new_spec = replace(
            spec,
            cluster_ip=cluster_ips[0] if cluster_ips else cluster_ip,
            cluster_ips=tuple(cluster_ips),
            ip_families=tuple(families),
            ip_family_policy=policy,
            ports=ports,
            health_check_node_port=health_check,
        )
        return replace(svc, spec=new_spec), txn

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
        if _needs_health_check(spec) and spec.health_check_node_port:
            self._node_ports.release(spec.health_check_node_port)

    def _init_ip_families(self, svc: Service, cluster_ips: list[str], families: list[str]) -> str:
        """initIPFamilyFields: settle ``ipFamilyPolicy`` (returned), ``ipFamilies`` (in place)."""
        spec, name = svc.spec, svc.metadata.name or ""
        headless_selectorless = spec.cluster_ip == CLUSTER_IP_NONE and not spec.selector
        policy = spec.ip_family_policy
        if policy is None:
            policy = _REQUIRE if headless_selectorless else _SINGLE
        # The apiserver runs this part of validation first, so allocation sees sane input
        # (upstream's "loose pre-validation"); its errors are returned alone.
        normalized = replace(
            spec,
            cluster_ips=tuple(cluster_ips),
            ip_families=tuple(families),
            ip_family_policy=policy,
        )
        pre = validate_cluster_ips_related_fields(replace(svc, spec=normalized))
        if pre:
            raise ValidationError("Service", name, pre)
        errors: list[FieldError] = []
        policy_path = _SPEC.child("ipFamilyPolicy")
        if policy == _SINGLE:
            if len(cluster_ips) == 2:
                errors.append(
                    invalid(
                        policy_path,
                        policy,
                        "must be 'RequireDualStack' or "
                        "'PreferDualStack' when multiple cluster IPs are specified",
                    )
                )
            if len(families) == 2:
                errors.append(
                    invalid(
                        policy_path,
                        policy,
                        "must be 'RequireDualStack' or "
                        "'PreferDualStack' when multiple IP families are specified",
                    )
                )
        for i, text in enumerate(cluster_ips):
            if text == CLUSTER_IP_NONE:
                break
            ip = parse_ip(text)
            assert ip is not None  # checked by validate_cluster_ips_related_fields
            family = family_of(ip)
            if i >= len(families):  # an IP without a family says which family it wants
                if family in self._by_family:
                    families.append(family.value)
                else:
                    errors.append(
                        invalid(
                            _CLUSTER_IPS.index(i),
                            list(cluster_ips),
                            f"{family} is not configured on this cluster",
                        )
                    )
        if errors:
            raise ValidationError("Service", name, errors)
        if headless_selectorless:
            # Allowed to name both families even on a single-stack cluster: no IP is needed.
            if not families:
                families.append(self._default_family.value)
            if len(families) < 2 and policy != _SINGLE:
                families.append(_other(families[0]))
            return policy
        if policy == _REQUIRE and len(self._by_family) < 2:
            errors.append(
                invalid(
                    policy_path, policy, "this cluster is not configured for dual-stack services"
                )
            )
        for i, wanted in enumerate(families):
            if wanted not in self._by_family:
                errors.append(
                    invalid(
                        _SPEC.child("ipFamilies").index(i), wanted, "not configured on this cluster"
                    )
                )
        if errors:
            raise ValidationError("Service", name, errors)
        if not families:
            families.append(self._default_family.value)
        if policy != _SINGLE and len(families) == 1 and len(self._by_family) == 2:
            families.append(_other(families[0]))
        return policy

    def _allocate_cluster_ips(
        self, name: str, cluster_ips: list[str], families: list[str], txn: Transaction
    ) -> None:
        """One IP per family: the requested one, or a dynamic pick; fills ``cluster_ips``."""
        if cluster_ips and cluster_ips[0] == CLUSTER_IP_NONE:
            return  # headless: no IPs
        # Families without a requested IP get an empty marker; the error value shows them.
        cluster_ips.extend([""] * (len(families) - len(cluster_ips)))
        picked: dict[int, IP] = {}
        for i, family in enumerate(families):
            allocator = self._by_family[IPFamily(family)]
            requested = cluster_ips[i]
            if not requested:
                picked[i] = allocator.allocate_next()  # a full range is a 500, as upstream
                txn._took_ip(allocator, picked[i])
                continue
            ip = parse_ip(requested)
            assert ip is not None  # checked by validate_cluster_ips_related_fields
            try:
                allocator.allocate(ip)
            except AllocatorError as err:
                detail = f"failed to allocate IP {requested}: {err}"
                raise ValidationError(
                    "Service", name, [invalid(_CLUSTER_IPS, list(cluster_ips), detail)]
                ) from err
            txn._took_ip(allocator, ip)
        for i, ip in picked.items():
            cluster_ips[i] = str(ip)

    def _allocate_node_ports(
        self, name: str, spec: ServiceSpec, txn: Transaction
    ) -> tuple[ServicePort, ...]:
        """NodePorts for NodePort and LoadBalancer Services (initNodePorts)."""
        ports = list(spec.ports)
        if spec.type not in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER):
            return tuple(ports)
        # A LoadBalancer with allocateLoadBalancerNodePorts=false only gets what it asks for.
        allocate_all = (
            spec.type == ServiceType.NODE_PORT
            or spec.allocate_load_balancer_node_ports is not False
        )
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
                    self._take_node_port(name, i, wanted, txn)
                else:
                    wanted = self._node_ports.allocate_next()  # full: a 500, as upstream
                    txn._took_port(wanted)
                ports[i] = replace(sp, node_port=wanted)
                by_port[sp.port] = wanted
            elif requested != shared:
                if requested == 0:
                    ports[i] = replace(sp, node_port=shared)
                else:  # a second number for the same port: taken as well, if it can be
                    self._take_node_port(name, i, requested, txn)
        return tuple(ports)

    def _take_node_port(self, name: str, index: int, port: int, txn: Transaction) -> None:
        try:
            self._node_ports.allocate(port)
        except AllocatorError as err:
            path = _SPEC.child("ports").index(index).child("nodePort")
            raise ValidationError("Service", name, [invalid(path, port, str(err))]) from err
        txn._took_port(port)

    def _allocate_health_check(self, spec: ServiceSpec, txn: Transaction) -> int | None:
        """The health-check NodePort of a LoadBalancer with externalTrafficPolicy Local."""
        requested = spec.health_check_node_port
        if not _needs_health_check(spec):
            return requested
        if requested:
            try:
                self._node_ports.allocate(requested)
            except AllocatorError as err:  # upstream makes this an internal error (500)
                what = f"requested HealthCheck NodePort {requested}"
                raise AllocationError(what, str(err)) from err
            txn._took_port(requested)
            return requested
        try:
            port = self._node_ports.allocate_next()
        except RangeFullError as err:
            # Upstream prints the port variable it failed to fill, which is still 0.
            raise RangeFullError("a HealthCheck NodePort 0") from err
        txn._took_port(port)
        return port


def _needs_health_check(spec: ServiceSpec) -> bool:
    return (
        spec.type == ServiceType.LOAD_BALANCER
        and spec.external_traffic_policy == TrafficPolicy.LOCAL
    )


def _other(family: str) -> str:
    return (IPFamily.IPV6 if family == IPFamily.IPV4 else IPFamily.IPV4).value
