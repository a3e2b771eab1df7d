"""The LoadBalancer controller: gives ``type: LoadBalancer`` Services their external address.

It plays the part of the cloud-provider service controller (as cloud-provider-kind runs it)
or of MetalLB's controller, depending on the :class:`~k8s_service_lab.allocators.lbpool.
LoadBalancerPool` style. Like both, it handles only Services **without**
``spec.loadBalancerClass`` (``wantsLoadBalancer`` in ``k8s.io/cloud-provider``'s service
controller): a class names another implementation. It writes ``status.loadBalancer.ingress``
through the ``/status`` subresource, takes the address back when the Service is deleted or
stops being a LoadBalancer, and writes nothing when nothing changed::

    >>> from k8s_service_lab.allocators.lbpool import LoadBalancerPool
    >>> from k8s_service_lab.api.decode import decode_text
    >>> from k8s_service_lab.config import ClusterConfig
    >>> from k8s_service_lab.controlplane.apiserver import APIServer
    >>> from k8s_service_lab.controlplane.controllers import ControllerManager
    >>> from k8s_service_lab.controlplane.controllers.loadbalancer import LoadBalancerController
    >>> api = APIServer(ClusterConfig.default()); _ = api.ensure_system_namespaces()
    >>> lb = LoadBalancerController(api, LoadBalancerPool.for_cluster(api.config))
    >>> manager = ControllerManager(api.store, [lb])
    >>> _ = api.create(decode_text('''
    ... apiVersion: v1
    ... kind: Service
    ... metadata: {name: web}
    ... spec: {type: LoadBalancer, ports: [{port: 80}]}
    ... ''')[0])
    >>> manager.run_until_idle()   # the Service, then the event of its own status write
    2
    >>> api.get(type(_), "default", "web").status.load_balancer_ingress[0]
    LoadBalancerIngress(ip='172.18.255.200', hostname=None, ip_mode='VIP', ports=())

When the pool has no address the Service keeps an empty status (``EXTERNAL-IP <pending>``)
and :attr:`LoadBalancerController.failures` says why, as MetalLB's ``AllocationFailed``
event would (``Failed to allocate IP for "default/web": no available IPs``).
"""

from __future__ import annotations

from dataclasses import replace

from k8s_service_lab.allocators.lbpool import LoadBalancerPool, LoadBalancerPoolError
from k8s_service_lab.api import Service
from k8s_service_lab.api.service import LoadBalancerIngress, ServiceStatus, ServiceType
from k8s_service_lab.controlplane.client import Client
from k8s_service_lab.controlplane.store import WatchEvent

__all__ = ["LoadBalancerController", "wants_load_balancer"]


def wants_load_balancer(svc: Service) -> bool:
    """``type: LoadBalancer`` and no ``loadBalancerClass`` (the default implementation's)."""
    return svc.spec.type == ServiceType.LOAD_BALANCER and svc.spec.load_balancer_class is None


class LoadBalancerController:
    """Reconciles Services against a :class:`LoadBalancerPool`; see the module docs."""

    name: str = "loadbalancer"
    watches: tuple[str, ...] = ("services",)

    def __init__(self, client: Client, pool: LoadBalancerPool) -> None:
        self.client = client
        self.pool = pool
        self._queue: dict[tuple[str | None, str], None] = {}
        #: ``namespace/name`` → why the last attempt found no address (cleared on success).
        self.failures: dict[str, str] = {}

    def on_event(self, event: WatchEvent) -> None:
        obj = event.object
        if isinstance(obj, Service):
            self._queue[(obj.metadata.namespace, obj.metadata.name or "")] = None

    def pending(self) -> bool:
        return bool(self._queue)

    def process(self) -> int:
        keys = list(self._queue)
        self._queue.clear()
        for namespace, name in keys:
            self._sync(namespace, name)
        return len(keys)

    def _sync(self, namespace: str | None, name: str) -> None:
        svc = self.client.find(Service, namespace, name)
        key = f"{namespace}/{name}"
        if svc is None:  # deleted: the address goes back
            self.pool.release(namespace, name)
            self.failures.pop(key, None)
            return
        if not wants_load_balancer(svc):
            held = self.pool.release(namespace, name)
            self.failures.pop(key, None)
            # Only clean up what we provisioned; another class's status is not ours to touch.
            if held:
                self._write(svc, ())
            return
        try:
            ips = self.pool.assign(svc)
        except LoadBalancerPoolError as err:
            self.failures[key] = f'Failed to allocate IP for "{key}": {err}'
            self._write(svc, ())
            return
        self.failures.pop(key, None)
        self._write(svc, self.pool.ingress(svc, ips))

    def _write(self, svc: Service, ingress: tuple[LoadBalancerIngress, ...]) -> None:
        desired = tuple(_defaulted(i) for i in ingress)
        if svc.status.load_balancer_ingress == desired:
            return  # idempotent: an unchanged status is not written again
        self.client.update_status(replace(svc, status=ServiceStatus(desired)))


def _defaulted(ingress: LoadBalancerIngress) -> LoadBalancerIngress:
    """Compare as stored: the apiserver defaults ``ipMode: VIP`` for an ingress IP."""
    if ingress.ip and ingress.ip_mode is None:
        return replace(ingress, ip_mode="VIP")
    return ingress
