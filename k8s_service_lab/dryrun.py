"""A manifest set checked the way a fresh kind cluster's apiserver would take it.

``ksl validate`` is built on this: each object is created in order, as ``kubectl apply -f``
sends them, against an empty kind cluster (the namespaces and the two system Services that
every fresh cluster has). Each create runs the apiserver's pipeline in its order:

1. the namespace must exist (``namespaces "demo" not found``), and the name be free
   (``services "web" already exists``);
2. v1 defaulting (``protocol: TCP``, ``targetPort`` = ``port`` ...);
3. for Services, the allocation step: cluster-IP/family pre-checks, ClusterIPs, NodePorts,
   the health-check node port — any failure is reported *alone*;
4. validation — *every* problem at once; a failure here gives back what step 3 took.

Objects that pass are kept, so a later Service asking for a taken IP or node port is refused
just as a real cluster would refuse it::

    >>> from k8s_service_lab.dryrun import DryRun
    >>> results = DryRun().apply_text('''
    ... apiVersion: v1
    ... kind: Service
    ... metadata: {name: dns-copy}
    ... spec: {clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}
    ... ''')
    >>> print(results[0].error.errors[0].detail)
    failed to allocate IP 10.96.0.10: provided IP is already allocated
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from k8s_service_lab.allocators.service import ServiceAllocations
from k8s_service_lab.api import Namespace, Resource, Service
from k8s_service_lab.api.decode import Manifest, decode_text, load_manifest_entries
from k8s_service_lab.api.defaults import default_object, with_namespace
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.service import ServicePort, ServiceSpec
from k8s_service_lab.api.validation import check
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.errors import AlreadyExistsError, NotFoundError, ServiceLabError

__all__ = ["DryRun", "DryRunResult", "reference"]

#: The namespaces a fresh kind cluster has.
KIND_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system", "local-path-storage")


def reference(resource: Resource) -> str:
    """kubectl's name for an object: ``service/web``, ``deployment.apps/web``."""
    return f"{type(resource).GROUP_KIND.lower()}/{resource.metadata.name}"


@dataclass(frozen=True, slots=True)
class DryRunResult:
    """What happened to one object: ``resource`` as it would be stored, or the ``error``."""

    resource: Resource
    source: str | None = None
    line: int | None = None
    error: ServiceLabError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def reference(self) -> str:
        return reference(self.resource)

    def message(self) -> str:
        """``service/web valid``, or the apiserver's message for the rejection."""
        if self.error is None:
            return f"{self.reference} valid"
        return str(self.error)

    def kubectl(self) -> str:
        """The line kubectl would print for this object."""
        if self.error is None:
            return f"{self.reference} valid"
        where = f' when creating "{self.source}"' if self.source else ""
        if self.error.reason is None:
            return f"error: {self.error}"
        return f"Error from server ({self.error.reason}): error{where}: {self.error}"


class DryRun:
    """An empty kind cluster's apiserver, reduced to what a create checks.

    ``config`` is a kind cluster config (DESIGN §5 defaults when ``None``); ``seed`` fixes the
    allocators' random picks so the IPs and ports they choose are reproducible.
    """

    def __init__(self, config: ClusterConfig | None = None, *, seed: int = 0) -> None:
        self.config = config if config is not None else ClusterConfig.default()
        self.allocations = ServiceAllocations(self.config, random.Random(seed))
        self._names: set[tuple[str, str | None, str]] = set()
        self._namespaces: set[str] = set(KIND_NAMESPACES)
        for svc in _system_services(self.config):
            stored, txn = self.allocations.allocate_for_create(svc)
            txn.commit()
            self._remember(stored)

    def apply(self, paths: Sequence[str | Path]) -> list[DryRunResult]:
        """Create every object of these files or directories, in order."""
        return self.apply_entries(load_manifest_entries(*paths))

    def apply_text(self, text: str, source: str = "<string>") -> list[DryRunResult]:
        return self.apply_entries(
            [Manifest(resource, source, None, i) for i, resource in enumerate(decode_text(text))]
        )

    def apply_entries(self, entries: Iterable[Manifest]) -> list[DryRunResult]:
        return [self.create(e.resource, source=e.source, line=e.line) for e in entries]

    def create(
        self, resource: Resource, *, source: str | None = None, line: int | None = None
    ) -> DryRunResult:
        """Create one object; the result holds it as stored, or the apiserver's error."""
        if type(resource).NAMESPACED:
            resource = with_namespace(resource, resource.metadata.namespace or "default")
        try:
            stored = self._admit(resource)
        except ServiceLabError as err:
            return DryRunResult(resource, source, line, err)
        return DryRunResult(stored, source, line, None)

    def _admit(self, resource: Resource) -> Resource:
        namespace = resource.metadata.namespace
        if namespace is not None and namespace not in self._namespaces:
            raise NotFoundError("namespaces", namespace)
        if resource.metadata.name is not None and self._key(resource) in self._names:
            raise AlreadyExistsError(type(resource).RESOURCE, resource.metadata.name)
        resource = default_object(resource)
        if isinstance(resource, Service):
            resource, txn = self.allocations.allocate_for_create(resource)
            try:
                check(resource)
            except ServiceLabError:
                txn.revert()
                raise
            txn.commit()
        else:
            check(resource)
        self._remember(resource)
        return resource

    def _remember(self, resource: Resource) -> None:
        self._names.add(self._key(resource))
        if isinstance(resource, Namespace) and resource.metadata.name is not None:
            self._namespaces.add(resource.metadata.name)

    @staticmethod
    def _key(resource: Resource) -> tuple[str, str | None, str]:
        return (type(resource).RESOURCE, resource.metadata.namespace, resource.metadata.name or "")


def _system_services(config: ClusterConfig) -> list[Service]:
    """``default/kubernetes`` and ``kube-system/kube-dns``, holding their IPs as on kind."""
    kubernetes = Service(
        ObjectMeta(name="kubernetes", namespace="default", labels=_KUBERNETES_LABELS),
        ServiceSpec(
            type="ClusterIP",
            cluster_ip=config.kubernetes_service_ip,
            ports=(ServicePort(port=443, name="https", protocol="TCP", target_port=6443),),
            session_affinity="None",
            internal_traffic_policy="Cluster",
        ),
    )
    kube_dns = Service(
        ObjectMeta(name="kube-dns", namespace="kube-system", labels=_KUBE_DNS_LABELS),
        ServiceSpec(
            type="ClusterIP",
            cluster_ip=config.dns_service_ip,
            selector={"k8s-app": "kube-dns"},
            ports=(
                ServicePort(port=53, name="dns", protocol="UDP", target_port=53),
                ServicePort(port=53, name="dns-tcp", protocol="TCP", target_port=53),
                ServicePort(port=9153, name="metrics", protocol="TCP", target_port=9153),
            ),
            session_affinity="None",
            internal_traffic_policy="Cluster",
        ),
    )
    return [kubernetes, kube_dns]


_KUBERNETES_LABELS = {"component": "apiserver", "provider": "kubernetes"}
_KUBE_DNS_LABELS = {
    "k8s-app": "kube-dns",
    "kubernetes.io/cluster-service": "true",
    "kubernetes.io/name": "CoreDNS",
}
