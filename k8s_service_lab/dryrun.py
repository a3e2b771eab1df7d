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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from k8s_service_lab.allocators.service import ServiceAllocations
from k8s_service_lab.api import Resource
from k8s_service_lab.api.decode import Manifest, decode_text, load_manifest_entries
from k8s_service_lab.api.defaults import with_namespace
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.controlplane.apiserver import APIServer
from k8s_service_lab.controlplane.system import system_objects
from k8s_service_lab.errors import ServiceLabError

__all__ = ["DryRun", "DryRunResult", "reference"]


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
        return self.error.kubectl_line(self.source)


class DryRun:
    """A fresh kind cluster's apiserver, without controllers: admission and storage only.

    ``config`` is a kind cluster config (DESIGN §5 defaults when ``None``); ``seed`` fixes the
    allocators' random picks so the IPs and ports they choose are reproducible.
    """

    def __init__(self, config: ClusterConfig | None = None, *, seed: int = 0) -> None:
        self.config = config if config is not None else ClusterConfig.default()
        self.api = APIServer(self.config, seed=seed)
        self.api.ensure_system_namespaces()
        for obj in system_objects(self.config):
            if self.api.find(type(obj), obj.metadata.namespace, obj.metadata.name or "") is None:
                self.api.create(obj, keep_status=True)

    @property
    def allocations(self) -> ServiceAllocations:
        return self.api.allocations

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
        try:
            stored = self.api.create(resource)
        except ServiceLabError as err:
            if type(resource).NAMESPACED and resource.metadata.namespace is None:
                resource = with_namespace(resource)
            return DryRunResult(resource, source, line, err)
        return DryRunResult(stored, source, line, None)
