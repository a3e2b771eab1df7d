"""Pods by namespace and label, and the Services whose selector could pick a Pod.

Upstream controllers answer "which Services select this Pod?" by listing every Service of the
namespace and matching each selector (``GetPodServiceMemberships``). With 10,000 Services that
is a scan per Pod event; this index answers it from the Pod's own labels instead. A Service
selector is an AND of ``key=value`` pairs, so a Service can only select a Pod that carries at
least one of those pairs: the candidates are the union, over the Pod's labels, of the Services
indexed under that pair, and :meth:`Selector.matches` makes the final call::

    >>> from k8s_service_lab.api import ObjectMeta, Pod, Service
    >>> from k8s_service_lab.api.service import ServiceSpec
    >>> from k8s_service_lab.controlplane.podindex import PodIndex
    >>> index = PodIndex()
    >>> index.upsert_pod(Pod(ObjectMeta(name="web-0", namespace="default", labels={"app": "web"})))
    >>> index.upsert_service(Service(ObjectMeta(name="web", namespace="default"),
    ...                              ServiceSpec(selector={"app": "web"})))
    >>> [p.metadata.name for p in index.pods_for_service(index.service("default", "web"))]
    ['web-0']
    >>> sorted(index.services_for_labels("default", {"app": "web", "x": "y"}))
    ['web']

Services without a selector (``None`` or ``{}``, which storage cannot tell apart) select
nothing here: "a nil selector means match nothing, not everything".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from k8s_service_lab.api import Pod, Service
from k8s_service_lab.labels import Selector

__all__ = ["PodIndex", "service_selector"]

K = TypeVar("K")
V = TypeVar("V")

#: ``(namespace, label key, label value)``.
LabelKey = tuple[str, str, str]


def service_selector(service: Service) -> Mapping[str, str] | None:
    """The selector a controller acts on: ``None`` for none, ``{}`` included (kubernetes#25836)."""
    selector = service.spec.selector
    return selector if selector else None


class PodIndex:
    """Pods and Services of every namespace, indexed by label pair and by node."""

    def __init__(self) -> None:
        self._pods: dict[tuple[str, str], Pod] = {}
        self._pods_by_label: dict[LabelKey, set[str]] = {}
        self._pods_by_namespace: dict[str, set[str]] = {}
        self._pods_by_node: dict[str, set[tuple[str, str]]] = {}
        self._services: dict[tuple[str, str], Service] = {}
        self._services_by_label: dict[LabelKey, set[str]] = {}
        self._selectors: dict[tuple[str, str], Selector] = {}

    # -- pods ----------------------------------------------------------------------------

    def pod(self, namespace: str, name: str) -> Pod | None:
        return self._pods.get((namespace, name))

    def upsert_pod(self, pod: Pod) -> Pod | None:
        """Index ``pod`` (replacing the stored version); return the version it replaced."""
        key = _key(pod)
        old = self._pods.get(key)
        if old is not None:
            self._unindex_pod(old)
        self._pods[key] = pod
        ns, name = key
        self._pods_by_namespace.setdefault(ns, set()).add(name)
        for label, value in pod.metadata.labels.items():
            self._pods_by_label.setdefault((ns, label, value), set()).add(name)
        if pod.spec.node_name is not None:
            self._pods_by_node.setdefault(pod.spec.node_name, set()).add(key)
        return old

    def remove_pod(self, namespace: str, name: str) -> Pod | None:
        old = self._pods.pop((namespace, name), None)
        if old is not None:
            self._unindex_pod(old)
        return old

    def _unindex_pod(self, pod: Pod) -> None:
        ns, name = _key(pod)
        _discard(self._pods_by_namespace, ns, name)
        for label, value in pod.metadata.labels.items():
            _discard(self._pods_by_label, (ns, label, value), name)
        if pod.spec.node_name is not None:
            _discard(self._pods_by_node, pod.spec.node_name, (ns, name))

    def pods_matching(self, namespace: str, selector: Mapping[str, str]) -> list[Pod]:
        """Pods of ``namespace`` carrying every pair of ``selector``, sorted by name.

        An empty ``selector`` matches every Pod of the namespace (a label-set selector with
        no requirements); callers that follow Service rules check for that first.
        """
        if not selector:
            names: Iterable[str] = self._pods_by_namespace.get(namespace, set())
        else:
            sets = [self._pods_by_label.get((namespace, k, v)) for k, v in selector.items()]
            present = [s for s in sets if s is not None]
            if len(present) < len(sets):
                return []
            present.sort(key=len)
            names = present[0].intersection(*present[1:]) if len(present) > 1 else present[0]
        return [self._pods[(namespace, n)] for n in sorted(names)]

    def pods_for_service(self, service: Service | None) -> list[Pod]:
        """The Pods a Service selects (none when it has no selector)."""
        if service is None:
            return []
        selector = service_selector(service)
        if selector is None:
            return []
        return self.pods_matching(service.metadata.namespace or "default", selector)

    def pods_on_node(self, node_name: str) -> list[Pod]:
        return [self._pods[k] for k in sorted(self._pods_by_node.get(node_name, set()))]

    # -- services ------------------------------------------------------------------------

    def service(self, namespace: str, name: str) -> Service | None:
        return self._services.get((namespace, name))

    def upsert_service(self, service: Service) -> Service | None:
        key = _key(service)
        old = self._services.get(key)
        if old is not None:
            self._unindex_service(old)
        self._services[key] = service
        selector = service_selector(service)
        if selector is not None:
            self._selectors[key] = Selector.from_set(selector)
        for label, value in (selector or {}).items():
            self._services_by_label.setdefault((key[0], label, value), set()).add(key[1])
        return old

    def remove_service(self, namespace: str, name: str) -> Service | None:
        old = self._services.pop((namespace, name), None)
        if old is not None:
            self._unindex_service(old)
        return old

    def _unindex_service(self, service: Service) -> None:
        ns, name = _key(service)
        self._selectors.pop((ns, name), None)
        for label, value in (service_selector(service) or {}).items():
            _discard(self._services_by_label, (ns, label, value), name)

    def services_for_labels(self, namespace: str, labels: Mapping[str, str]) -> set[str]:
        """Names of the Services of ``namespace`` whose selector matches ``labels``."""
        candidates: set[str] = set()
        for label, value in labels.items():
            found = self._services_by_label.get((namespace, label, value))
            if found:
                candidates |= found
        matching = set()
        for name in candidates:
            selector = self._selectors.get((namespace, name))
            if selector is not None and selector.matches(labels):
                matching.add(name)
        return matching

    def services_for_pod(self, pod: Pod) -> set[str]:
        return self.services_for_labels(_key(pod)[0], pod.metadata.labels)


def _key(obj: Pod | Service) -> tuple[str, str]:
    return (obj.metadata.namespace or "default", obj.metadata.name or "")


def _discard(index: dict[K, set[V]], key: K, member: V) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(member)
        if not members:
            del index[key]
