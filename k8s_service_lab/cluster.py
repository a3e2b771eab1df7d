"""The ``Cluster`` facade: a kind-shaped Kubernetes in one object, for labs, the CLI and tests.

``Cluster()`` boots what ``kind create cluster`` leaves you with (DESIGN §5): the nodes, the
system namespaces, ``default/kubernetes``, CoreDNS and ``kube-system/kube-dns``. Then
``apply`` works like ``kubectl apply -f``, the controllers settle after every write, and every
object can be read back as a real cluster would show it::

    >>> from k8s_service_lab import Cluster
    >>> cluster = Cluster()
    >>> [svc.metadata.name for svc in cluster.list("services", namespace=None)]
    ['kubernetes', 'kube-dns']
    >>> results = cluster.apply('''
    ... apiVersion: v1
    ... kind: Service
    ... metadata: {name: web}
    ... spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
    ... ''')
    >>> results[0].kubectl()
    'service/web created'
    >>> cluster.resolve("web").answer.answer[0].type
    'A'

Everything random (ClusterIPs, node ports, generated names) comes from ``seed``, and time from
a simulated clock that moves only with :meth:`Cluster.advance`: the same manifests always give
the same cluster.
"""

from __future__ import annotations

import builtins
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from k8s_service_lab.allocators.lbpool import LoadBalancerPool
from k8s_service_lab.api import KINDS, Pod, Resource
from k8s_service_lab.api.decode import Manifest, decode_text_entries, load_manifest_entries
from k8s_service_lab.backends import BACKENDS, Backend, Payload
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.controlplane.apiserver import APIServer
from k8s_service_lab.controlplane.controllers import ControllerManager
from k8s_service_lab.controlplane.controllers.endpoints import EndpointsController
from k8s_service_lab.controlplane.controllers.endpointslice import EndpointSliceController
from k8s_service_lab.controlplane.controllers.garbagecollector import GarbageCollector
from k8s_service_lab.controlplane.controllers.kubelet import Kubelet
from k8s_service_lab.controlplane.controllers.loadbalancer import LoadBalancerController
from k8s_service_lab.controlplane.controllers.replicaset import ReplicaSetController
from k8s_service_lab.controlplane.controllers.scheduler import Scheduler
from k8s_service_lab.controlplane.controllers.workloads import DeploymentController
from k8s_service_lab.controlplane.dns import ClusterDNS
from k8s_service_lab.controlplane.dnsresolver import Resolution, resolve
from k8s_service_lab.controlplane.ipam import ClusterIPAM
from k8s_service_lab.controlplane.store import Subscription, WatchEvent
from k8s_service_lab.controlplane.system import apiserver_endpoints, bootstrap_objects, joined_nodes
from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.explain import ServiceExplanation, explain_service
from k8s_service_lab.netfilter import NftTransaction, Ruleset
from k8s_service_lab.proxy import ProxyWatcher
from k8s_service_lab.tracer import NftTracer, NodeContext, Packet, Tracer, TraceResult, merge

__all__ = ["ApplyError", "ApplyResult", "Cluster"]

R = TypeVar("R", bound=Resource)

#: How long ``kind create cluster`` takes, give or take: system objects are this old at start.
BOOT_SECONDS = 60


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """One object of an apply: ``created``, ``configured``, ``unchanged`` — or its error."""

    resource: Resource
    action: str | None
    source: str | None = None
    line: int | None = None
    error: ServiceLabError | None = None

    @property
    def reference(self) -> str:
        return f"{type(self.resource).GROUP_KIND.lower()}/{self.resource.metadata.name}"

    def kubectl(self) -> str:
        """What ``kubectl apply`` prints for this object."""
        if self.error is None:
            return f"{self.reference} {self.action}"
        return self.error.kubectl_line(self.source)


class ApplyError(ServiceLabError):
    """Some objects of an apply were refused; ``results`` holds every object's outcome."""

    def __init__(self, results: Sequence[ApplyResult]):
        self.results = tuple(results)
        failed = [r for r in self.results if r.error is not None]
        super().__init__("\n".join(r.kubectl() for r in failed))


Source = str | Path | Resource | Sequence[str | Path] | Sequence[Resource]


class Cluster:
    """An embedded kind-shaped cluster: an APIServer, its controllers, its DNS."""

    def __init__(self, config: ClusterConfig | None = None, *, seed: int = 0) -> None:
        self.config = config if config is not None else ClusterConfig.default()
        self.seed = seed
        self.api = APIServer(self.config, seed=seed)
        self.store = self.api.store
        self.clock = self.store.clock
        self.ipam = ClusterIPAM(self.config.cluster_nodes)
        self.lb_pool = LoadBalancerPool.for_cluster(self.config)
        self.kubelet = Kubelet(self.api, self.ipam)
        self.controllers = ControllerManager(
            self.store,
            [
                DeploymentController(self.api),
                ReplicaSetController(self.api, random.Random(seed + 2)),
                Scheduler(self.api),
                self.kubelet,
                EndpointSliceController(self.api, rng=random.Random(seed + 3)),
                EndpointsController(self.api),
                LoadBalancerController(self.api, self.lb_pool),
                GarbageCollector(self.api),
            ],
        )
        self.dns = ClusterDNS(self.store)
        self._proxies: dict[tuple[str, str, int], tuple[ProxyWatcher, Backend]] = {}
        self._boot()

    def _boot(self) -> None:
        # kubeadm init: namespaces, the control plane, kubernetes + CoreDNS; then the workers
        # join. CoreDNS is scheduled while only the control plane exists, as on kind.
        self.api.ensure_system_namespaces()
        for obj in [*bootstrap_objects(self.config), *apiserver_endpoints(self.config)]:
            if self.store.find(type(obj), obj.metadata.namespace, obj.metadata.name or "") is None:
                self.api.create(obj, keep_status=True)
        self.settle()
        for obj in joined_nodes(self.config):
            self.api.create(obj, keep_status=True)
        self.settle()
        self.advance(BOOT_SECONDS)

    # -- time and settling -----------------------------------------------------------------

    def settle(self) -> int:
        """Run the controllers until nothing changes; returns how much work they did."""
        return self.controllers.run_until_idle()

    def advance(self, seconds: float) -> None:
        """Let simulated time pass: terminating pods past their grace period go away."""
        self.clock.advance(seconds)
        self.api.finalize()
        self.settle()

    def now(self) -> str:
        return self.clock.timestamp()

    # -- writes ------------------------------------------------------------------------------

    def apply(self, source: Source, *, check: bool = True) -> builtins.list[ApplyResult]:
        """Apply objects in order, like ``kubectl apply -f``: create, or update if present.

        ``source`` is YAML text, a file or directory path (or several), or resource objects.
        Refused objects change nothing; with ``check`` (the default) an :class:`ApplyError`
        is raised after every object was tried, else the results carry the errors.
        """
        results = [self._apply_one(entry) for entry in _entries(source)]
        if check and any(r.error is not None for r in results):
            raise ApplyError(results)
        return results

    def _apply_one(self, entry: Manifest) -> ApplyResult:
        obj = entry.resource
        kind = type(obj)
        namespace = obj.metadata.namespace or ("default" if kind.NAMESPACED else None)
        try:
            existing = self.store.find(kind, namespace, obj.metadata.name or "")
            if existing is None:
                # Pods keep a manifest's status so a lab can start a pod not-ready.
                stored = self.api.create(obj, keep_status=isinstance(obj, Pod))
                action = "created"
            else:
                stored = self.api.update(_merged(obj, existing))
                action = "unchanged" if stored == existing else "configured"
        except ServiceLabError as err:
            return ApplyResult(obj, None, entry.source, entry.line, err)
        self.settle()
        return ApplyResult(stored, action, entry.source, entry.line)

    def delete(
        self,
        kind: type[R] | str,
        name: str,
        namespace: str | None = "default",
        *,
        grace_period_seconds: int | None = None,
    ) -> R:
        """Delete like ``kubectl delete``: pods terminate gracefully unless grace is 0."""
        cls = _kind(kind)
        deleted = self.api.delete(
            cls,
            namespace if cls.NAMESPACED else None,
            name,
            grace_period_seconds=grace_period_seconds,
        )
        self.settle()
        return deleted

    def scale(self, kind: type[R] | str, name: str, replicas: int, namespace: str = "default") -> R:
        """``kubectl scale``: set a Deployment's or ReplicaSet's ``spec.replicas``."""
        cls = _kind(kind)
        obj = self.store.get(cls, namespace, name)
        spec = getattr(obj, "spec", None)
        if spec is None or not hasattr(spec, "replicas"):
            raise ServiceLabError(f"{cls.RESOURCE} cannot be scaled")
        if replicas < 0:
            raise ServiceLabError(f"replicas must be 0 or more, not {replicas}")
        scaled = self.api.update(replace(obj, spec=replace(spec, replicas=replicas)))
        self.settle()
        return scaled

    def set_ready(self, name: str, ready: bool, namespace: str = "default") -> Pod:
        """Make a pod pass or fail its readiness probe (what a lab does to "break" a pod)."""
        pod = self.kubelet.set_ready(self.store.get(Pod, namespace, name), ready)
        self.settle()
        return pod

    # -- reads -------------------------------------------------------------------------------

    def get(self, kind: type[R] | str, name: str, namespace: str | None = "default") -> Any:
        """One object, like ``kubectl get KIND NAME`` (a NotFoundError when absent)."""
        cls = _kind(kind)
        return self.store.get(cls, namespace if cls.NAMESPACED else None, name)

    def list(self, kind: type[R] | str, namespace: str | None = "default") -> Any:
        """Objects of a kind in ``namespace`` (``None``: all namespaces), sorted like kubectl."""
        cls = _kind(kind)
        return self.store.list(cls, namespace if cls.NAMESPACED else None)

    def watch(
        self, handler: Callable[[WatchEvent], None], resource: str | None = None
    ) -> Subscription:
        """Call ``handler`` with every later event (of one resource, e.g. ``"pods"``)."""
        return self.store.subscribe(handler, resource)

    def events(self, since: int = 0) -> builtins.list[WatchEvent]:
        """The event log: what happened, in order (since a resourceVersion)."""
        return self.store.events(since)

    def resolve(self, name: str, qtype: str = "A", *, namespace: str = "default") -> Resolution:
        """Resolve ``name`` as a pod in ``namespace`` would (search path, ndots:5)."""
        return resolve(self.dns, name, qtype, namespace=namespace)

    # -- kube-proxy ----------------------------------------------------------------------------

    def proxy(
        self, mode: str | None = None, node: str | None = None, family: int = 4
    ) -> tuple[ProxyWatcher, Backend]:
        """The kube-proxy of ``node`` (default: the first worker) for one mode and IP family.

        Each is created on first use and then kept: it watches the store from then on, as a
        running kube-proxy does, so :meth:`sync` can send partial payloads.
        """
        mode = mode or self.config.networking.kube_proxy_mode
        if mode not in BACKENDS:
            modes = ", ".join(sorted(BACKENDS))
            raise ServiceLabError(f'kube-proxy mode "{mode}" is not modelled yet (have: {modes})')
        node = node or self.default_node()
        try:
            self.config.node(node)
        except KeyError:
            raise ServiceLabError(f'nodes "{node}" not found') from None
        wanted = "IPv4" if family == 4 else "IPv6"
        if family not in (4, 6) or not any(str(f) == wanted for f in self._families()):
            raise ServiceLabError(f"this cluster has no {wanted} service network")
        key = (mode, node, family)
        if key not in self._proxies:
            watcher = ProxyWatcher(self.store, node, wanted, self.config)
            self._proxies[key] = (watcher, BACKENDS[mode](self.config, node, family))
        return self._proxies[key]

    def default_node(self) -> str:
        """The first worker (where a Deployment's pods usually run), else the control plane."""
        nodes = self.config.cluster_nodes
        workers = [n.name for n in nodes if not n.is_control_plane]
        return workers[0] if workers else nodes[0].name

    def _families(self) -> builtins.list[str]:
        return ["IPv4" if c.version == 4 else "IPv6" for c in self.config.service_cidrs]

    def render(self, mode: str | None = None, node: str | None = None, family: int = 4) -> Payload:
        """Everything kube-proxy establishes on ``node`` now: its full payload.

        A :class:`~k8s_service_lab.netfilter.Ruleset` (``iptables-restore`` input) in
        iptables mode, an :class:`~k8s_service_lab.netfilter.NftTransaction` (``nft -f``
        input) in nftables mode.
        """
        watcher, backend = self.proxy(mode, node, family)
        return backend.render(watcher.state())

    def sync(self, mode: str | None = None, node: str | None = None, family: int = 4) -> Payload:
        """Exactly what kube-proxy would pass to ``iptables-restore --noflush`` (or ``nft -f``).

        The first sync of a node is full; later ones are partial (only the Services that
        changed since the previous sync, plus the top-level chains), as in KEP-3453.
        """
        watcher, backend = self.proxy(mode, node, family)
        payload = backend.sync(watcher.state())
        watcher.mark_synced()
        return payload

    def jump_rules(
        self, mode: str | None = None, node: str | None = None, family: int = 4
    ) -> Payload:
        """The rules kube-proxy inserts into the built-in chains, outside the payload.

        In nftables mode nothing lives outside kube-proxy's own table: an empty transaction.
        """
        return self.proxy(mode, node, family)[1].jump_rules()

    def tracer(
        self,
        node: str | None = None,
        mode: str | None = None,
        family: int = 4,
        *,
        probabilities: str = "intended",
    ) -> Tracer | NftTracer:
        """A :class:`~k8s_service_lab.tracer.Tracer` over ``node``'s rules (jumps included).

        Keep it to trace several connections as one session (``Tracer.remember``: ClientIP
        affinity). The node's context is what the kernel would use: its addresses are LOCAL,
        and it masquerades to a local pod from the pod CIDR's gateway (kindnet's veth
        address), to anything else from the node IP. ``probabilities`` says how written
        probabilities are read (``intended``, ``written`` or ``kernel``).
        """
        node = node or self.default_node()
        payload, jumps = self.render(mode, node, family), self.jump_rules(mode, node, family)
        cluster_node = self.config.node(node)
        local = [str(a) for a in cluster_node.addresses if a.version == family]
        local.append("127.0.0.1" if family == 4 else "::1")
        cidrs = [c for c in self.config.pod_cidrs if c.version == family]
        egress = [
            (str(c), str(c.network_address + 1))
            for c in cluster_node.pod_cidrs
            if c.version == family
        ]
        context = NodeContext.of(local, str(cidrs[0]) if cidrs else None, egress)
        if isinstance(payload, NftTransaction):
            # nftables mode: kube-proxy's own table is everything (no jumps outside it).
            return NftTracer(payload, context, probabilities=probabilities)
        assert isinstance(jumps, Ruleset)
        return Tracer(merge(payload, jumps), context, probabilities=probabilities)

    def trace(
        self,
        src: str,
        dst: str,
        dport: int,
        proto: str = "tcp",
        *,
        sport: int = 40000,
        node: str | None = None,
        mode: str | None = None,
    ) -> TraceResult:
        """Walk one new flow through ``node``'s kube-proxy rules (jump rules included).

        A packet whose source is one of the node's own addresses is traced as the node
        sending it (nat OUTPUT); any other as arriving on the node (nat PREROUTING).
        """
        tracer = self.tracer(node, mode, 6 if ":" in dst else 4)
        packet = Packet(src, dst, proto.lower(), sport, dport)
        return tracer.sent(packet) if tracer.node.is_local(src) else tracer.arriving(packet)

    def explain(self, name: str, namespace: str = "default") -> ServiceExplanation:
        """Why this Service has (no) endpoints, pod by pod."""
        return explain_service(self.api, namespace, name)


def _merged(obj: Resource, existing: Resource) -> Resource:
    """What ``kubectl apply`` sends, roughly: the manifest, plus what others added on top.

    kubectl's three-way merge keeps fields it never managed — annotations and owner
    references that controllers wrote — so re-applying a manifest does not fight them.
    """
    meta, old = obj.metadata, existing.metadata
    annotations = {**old.annotations, **meta.annotations}
    merged = replace(
        meta,
        annotations=annotations,
        owner_references=meta.owner_references or old.owner_references,
        finalizers=meta.finalizers or old.finalizers,
    )
    merged_obj = replace(obj, metadata=merged)
    if hasattr(existing, "status"):
        # Status is the controllers' to write; an apply never sends it.
        merged_obj = replace(cast(Any, merged_obj), status=getattr(existing, "status"))  # noqa: B009
    return merged_obj


def _kind(kind: type[R] | str) -> type[R]:
    if not isinstance(kind, str):
        return kind
    wanted = kind.lower()
    for cls in KINDS.values():
        if wanted in (cls.RESOURCE, cls.KIND.lower()):
            return cls  # type: ignore[return-value]
    raise ServiceLabError(f'the server doesn\'t have a resource type "{kind}"')


def _entries(source: Source) -> list[Manifest]:
    if isinstance(source, Path):
        return load_manifest_entries(source)
    if isinstance(source, str):
        # YAML text has a newline or a colon; anything else is a path.
        if "\n" in source or (":" in source and not Path(source).exists()):
            return decode_text_entries(source)
        return load_manifest_entries(source)
    if not isinstance(source, Sequence):
        return [Manifest(source, "<object>", None, 0)]
    entries: list[Manifest] = []
    for i, item in enumerate(source):
        if isinstance(item, str | Path):
            entries.extend(_entries(item))
        else:
            entries.append(Manifest(item, "<object>", None, i))
    return entries
