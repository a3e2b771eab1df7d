"""The APIServer: every write goes through admission the way kube-apiserver v1.34 does it.

A write is all or nothing. ``create`` defaults the object, runs the Service allocation step
(whose errors come *alone*), then validation (*every* error at once, and the allocation is
given back); ``update`` patches the allocated values the client left out, handles type and
family transitions, validates the update, and releases what the Service no longer needs only
after the write is stored::

    >>> from k8s_service_lab.api.decode import decode_text
    >>> from k8s_service_lab.controlplane.apiserver import APIServer
    >>> from k8s_service_lab.config import ClusterConfig
    >>> api = APIServer(ClusterConfig.default())
    >>> [ns.metadata.name for ns in api.ensure_system_namespaces()][0]
    'default'
    >>> manifest = '''
    ... apiVersion: v1
    ... kind: Service
    ... metadata: {name: web}
    ... spec: {type: NodePort, selector: {app: web}, ports: [{port: 80}]}
    ... '''
    >>> web = api.create(decode_text(manifest)[0])
    >>> web.metadata.namespace, web.spec.ip_family_policy, web.spec.ports[0].node_port >= 30086
    ('default', 'SingleStack', True)
    >>> api.update(decode_text(manifest)[0]).spec == web.spec    # re-apply: nothing moves
    True
    >>> api.delete(type(web), "default", "web").metadata.name
    'web'
    >>> len(api.allocations.node_ports)
    0

The pipeline follows the generic registry (``k8s.io/apiserver/pkg/registry/generic/registry``
``Store.Create`` / ``Store.Update``): BeginCreate/BeginUpdate (the Service storage's allocation
hook, ``pkg/registry/core/service/storage``), then the strategy's PrepareForCreate/Update
(status cleared on create, copied from the stored object on update, type-dependent fields
dropped) and validation, then the write, then the allocation transaction's commit. Status is
written only through :meth:`APIServer.update_status` (the ``/status`` subresource) and a Pod's
node only through :meth:`APIServer.bind` (``pods/binding``). Deletion —
graceful for Pods, cascading for Namespaces, with the Service's Endpoints and allocations — is
:mod:`.deletion`.

The server starts empty; :meth:`APIServer.ensure_system_namespaces` adds the namespaces a real
apiserver creates for itself (the system Services are the cluster facade's business).
"""

from __future__ import annotations

import builtins
import random
from dataclasses import replace
from datetime import datetime
from typing import TypeVar, cast

from k8s_service_lab.allocators.service import ServiceAllocations
from k8s_service_lab.allocators.service_update import drop_type_dependent_fields
from k8s_service_lab.api import Deployment, Namespace, Pod, Resource, Service
from k8s_service_lab.api.defaults import default_object, with_namespace
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.pod import PodCondition
from k8s_service_lab.api.service import ServiceStatus
from k8s_service_lab.api.validation import check, check_update, validate_service_status
from k8s_service_lab.api.validation.meta import validate_object_meta_update
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.controlplane.deletion import Deleter
from k8s_service_lab.controlplane.store import Clock, Store, status_field
from k8s_service_lab.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from k8s_service_lab.field import FieldPath, go_quote, required

__all__ = ["SYSTEM_NAMESPACES", "APIServer", "ConflictError"]

#: ``pkg/controlplane/controller/systemnamespaces``: what every apiserver creates at start.
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")

R = TypeVar("R", bound=Resource)

#: ``names.SimpleNameGenerator``: five characters from an alphabet without vowels (no words)
#: and without look-alikes, appended to ``generateName``.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAME_SUFFIX = 5
_MAX_NAME = 63


class APIServer:
    """Admission (defaulting, allocation, validation) in front of a :class:`Store`.

    Satisfies the :class:`~k8s_service_lab.controlplane.client.Client` protocol, so the
    controllers write through it exactly as users do. ``seed`` fixes every random pick
    (ClusterIPs, NodePorts, generated names).
    """

    def __init__(self, config: ClusterConfig, *, store: Store | None = None, seed: int = 0):
        self.config = config
        self.store = store if store is not None else Store(seed=seed)
        #: The store's simulated clock (an attribute, as the ``Client`` protocol wants).
        self.clock: Clock = self.store.clock
        self.allocations = ServiceAllocations(config, random.Random(seed))
        self._names = random.Random(seed + 1)
        self._deleter = Deleter(self.store, self.allocations)

    # -- reads ---------------------------------------------------------------------------

    def get(self, kind: type[R], namespace: str | None, name: str) -> R:
        return self.store.get(kind, namespace, name)

    def find(self, kind: type[R], namespace: str | None, name: str) -> R | None:
        return self.store.find(kind, namespace, name)

    def list(self, kind: type[R], namespace: str | None = None) -> builtins.list[R]:
        return self.store.list(kind, namespace)

    def ensure_system_namespaces(self) -> builtins.list[Namespace]:
        """Create the namespaces kube-apiserver itself keeps (``default``, ``kube-system``,
        ``kube-public``, ``kube-node-lease``: its system-namespaces controller); the ones
        created are returned. Idempotent."""
        created = []
        for name in SYSTEM_NAMESPACES:
            if self.store.find(Namespace, None, name) is None:
                created.append(self.create(Namespace(ObjectMeta(name=name))))
        return created

    # -- writes --------------------------------------------------------------------------

    def create(self, obj: R, *, keep_status: bool = False) -> R:
        """Admit and store a new object; raise the apiserver's error and change nothing if not.

        ``keep_status=True`` is for trusted system callers (controllers creating Pods that
        already carry a status); everyone else gets a Service's status cleared, as the
        registry strategy's PrepareForCreate does.
        """
        obj = self._named(self._placed(obj, must_exist=True))
        name = obj.metadata.name or ""
        if self.store.find(type(obj), obj.metadata.namespace, name) is not None:
            raise AlreadyExistsError(type(obj).RESOURCE, name)
        obj = default_object(obj)
        if not isinstance(obj, Service):
            check(obj)
            return self.store.create(obj)
        svc: Service = obj
        if not keep_status:
            svc = replace(svc, status=ServiceStatus())
        svc, txn = self.allocations.allocate_for_create(svc)
        try:
            check(svc)
            stored = self.store.create(svc)
        except BaseException:
            txn.revert()
            raise
        txn.commit()
        return cast(R, stored)

    def update(self, obj: R) -> R:
        """Admit and store a new version of an existing object (a PUT of the main resource).

        The status always stays as stored, whatever the caller sends: every kind's registry
        strategy copies the old status in PrepareForUpdate (``pkg/registry/core/pod``,
        ``core/service``, ``core/node``, ``core/namespace`` and ``apps/deployment``,
        ``apps/replicaset`` ``strategy.go``), so ``kubectl apply`` can never change it; write
        it with :meth:`update_status`. For Services this is the update path of
        :mod:`k8s_service_lab.allocators.service_update`.
        """
        obj = self._placed(obj)
        kind = type(obj)
        old = self.store.get(kind, obj.metadata.namespace, obj.metadata.name or "")
        obj = replace(obj, metadata=_server_metadata(obj.metadata, old.metadata))
        field = status_field(old)
        if field is not None:
            obj = replace(obj, **{field: getattr(old, field)})
        obj = default_object(obj)
        if not isinstance(obj, Service):
            check_update(obj, old)
            return self.store.update(obj)
        assert isinstance(old, Service)
        svc, txn = self.allocations.allocate_for_update(obj, old)
        try:
            svc = drop_type_dependent_fields(svc, old)
            check_update(svc, old)
            stored = self.store.update(svc)
        except BaseException:
            txn.revert()
            raise
        txn.commit()
        return cast(R, stored)

    def update_status(self, obj: R) -> R:
        """Write the status (the ``/status`` subresource): the spec always stays as stored.

        What each kind's status strategy does in PrepareForUpdate: the spec is the stored one;
        metadata comes from the caller (and is validated as any metadata update) except that a
        Pod keeps its stored ``ownerReferences`` and ``deletionTimestamp``
        (``podStatusStrategy``) and a Deployment its stored labels
        (``deploymentStatusStrategy``). A Namespace's status is its ``phase``. A Service's
        status is defaulted (``ipMode: VIP`` for an ingress IP) and validated by
        ``ValidateServiceStatusUpdate``.
        """
        obj = self._placed(obj)
        old = self.store.get(type(obj), obj.metadata.namespace, obj.metadata.name or "")
        field = status_field(old)
        if field is None:
            raise TypeError(f"{type(old).__name__} has no status")
        meta = _server_metadata(obj.metadata, old.metadata)
        if isinstance(old, Pod):
            meta = replace(
                meta,
                owner_references=old.metadata.owner_references,
                deletion_timestamp=old.metadata.deletion_timestamp,
            )
        elif isinstance(old, Deployment):
            meta = replace(meta, labels=old.metadata.labels)
        new = replace(old, metadata=meta, **{field: getattr(obj, field)})
        errors = validate_object_meta_update(new.metadata, old.metadata)
        if isinstance(new, Service) and isinstance(old, Service):
            new = default_object(new)
            errors.extend(validate_service_status(new, old))
        if errors:
            raise ValidationError(type(old).GROUP_KIND, old.metadata.name or "", errors)
        return self.store.update(new)

    def bind(self, pod_namespace: str | None, pod_name: str, node_name: str) -> Pod:
        """Assign a pod to a node: what the ``pods/binding`` subresource does for a scheduler.

        Mirrors ``BindingREST`` (``pkg/registry/core/pod/storage/storage.go``): only a pod
        that is not being deleted and has no ``spec.nodeName`` yet can be bound; the write
        sets ``spec.nodeName`` and the ``PodScheduled=True`` condition together (the node
        itself is not looked up, as upstream does not either). A refusal is a ``409
        Conflict``::

            Operation cannot be fulfilled on pods/binding "web": pod web is already
            assigned to node "kind-worker"
        """
        if not node_name:
            # ValidatePodBinding: the target must name a node.
            raise ValidationError("Binding", pod_name, [required(FieldPath.root("target", "name"))])
        pod = self.store.get(Pod, pod_namespace or "default", pod_name)
        if pod.metadata.deletion_timestamp is not None:
            raise ConflictError(
                "pods/binding",
                pod_name,
                f"pod {pod_name} is being deleted, cannot be assigned to a host",
            )
        if pod.spec.node_name:
            raise ConflictError(
                "pods/binding",
                pod_name,
                f"pod {pod_name} is already assigned to node {go_quote(pod.spec.node_name)}",
            )
        bound = replace(
            pod,
            spec=replace(pod.spec, node_name=node_name),
            status=replace(
                pod.status,
                conditions=_with_condition(
                    pod.status.conditions, PodCondition("PodScheduled", "True")
                ),
            ),
        )
        return self.store.update(bound)

    def delete(
        self,
        kind: type[R],
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
    ) -> R:
        """Delete an object; see :class:`~.deletion.Deleter` for what each kind does.

        A Pod with a grace period is only *marked* (``deletionTimestamp``); it is removed by
        :meth:`finalize` once its grace period has passed, or by a delete with grace 0.
        """
        if kind.NAMESPACED and namespace is None:
            namespace = "default"
        return self._deleter.delete(kind, namespace, name, grace_period_seconds)

    def finalize(self, now: datetime | None = None) -> builtins.list[Resource]:
        """Remove every terminating Pod whose grace period is over (the kubelet's last word).

        The cluster calls this when its clock moves; returns the Pods removed.
        """
        return self._deleter.finalize(now)

    # -- helpers -------------------------------------------------------------------------

    def _placed(self, obj: R, *, must_exist: bool = False) -> R:
        """Namespaced kinds default to ``default``; a create needs that namespace to exist
        (the NamespaceLifecycle admission plugin: ``namespaces "demo" not found``)."""
        if not type(obj).NAMESPACED:
            return with_namespace(obj)
        obj = with_namespace(obj, obj.metadata.namespace or "default")
        namespace = obj.metadata.namespace or "default"
        if must_exist and self.store.find(Namespace, None, namespace) is None:
            raise NotFoundError("namespaces", namespace)
        return obj

    def _named(self, obj: R) -> R:
        """``metadata.generateName`` + five random characters, when no name is given."""
        meta = obj.metadata
        if meta.name or not meta.generate_name:
            return obj
        for _ in range(100):  # upstream retries a taken generated name a few times too
            suffix = "".join(self._names.choice(_NAME_ALPHABET) for _ in range(_NAME_SUFFIX))
            name = meta.generate_name[: _MAX_NAME - _NAME_SUFFIX] + suffix
            if self.store.find(type(obj), meta.namespace, name) is None:
                return replace(obj, metadata=replace(meta, name=name))
        raise AlreadyExistsError(type(obj).RESOURCE, meta.generate_name)


def _server_metadata(new: ObjectMeta, old: ObjectMeta) -> ObjectMeta:
    """``rest.BeforeUpdate``: uid, creation and deletion stamps come from the stored object."""
    return replace(
        new,
        uid=new.uid or old.uid,
        creation_timestamp=old.creation_timestamp,
        deletion_timestamp=old.deletion_timestamp or new.deletion_timestamp,
        deletion_grace_period_seconds=(
            old.deletion_grace_period_seconds
            if new.deletion_grace_period_seconds is None
            else new.deletion_grace_period_seconds
        ),
    )


def _with_condition(
    conditions: tuple[PodCondition, ...], condition: PodCondition
) -> tuple[PodCondition, ...]:
    """``UpdatePodCondition``: replace the condition of that type in place, else append it."""
    if any(c.type == condition.type for c in conditions):
        return tuple(condition if c.type == condition.type else c for c in conditions)
    return (*conditions, condition)
