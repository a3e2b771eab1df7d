"""What a controller may do with the API: the narrow interface controllers are written against.

Real controllers talk to kube-apiserver through client-go; ours talk to anything that offers
these calls — the :class:`~k8s_service_lab.controlplane.apiserver.APIServer` in a cluster, or a
bare :class:`~k8s_service_lab.controlplane.store.Store` in a unit test::

    >>> from k8s_service_lab.controlplane.client import Client
    >>> from k8s_service_lab.controlplane.store import Store
    >>> isinstance(Store(), Client)
    True
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from k8s_service_lab.api import Resource
from k8s_service_lab.controlplane.store import Clock

__all__ = ["Client"]

R = TypeVar("R", bound=Resource)


@runtime_checkable
class Client(Protocol):
    """create / update / update_status / delete / get / find / list, and the cluster's clock.

    ``update`` writes the main resource (a stored status is kept); ``update_status`` writes the
    ``/status`` subresource (the stored spec is kept), as on a real apiserver. A client that
    also offers ``bind(namespace, name, node)`` (the ``pods/binding`` subresource) is used for
    binding by the scheduler.
    """

    @property
    def clock(self) -> Clock: ...

    def create(self, obj: R) -> R: ...

    def update(self, obj: R) -> R: ...

    def update_status(self, obj: R) -> R: ...

    def delete(self, kind: type[R], namespace: str | None, name: str) -> R: ...

    def get(self, kind: type[R], namespace: str | None, name: str) -> R: ...

    def find(self, kind: type[R], namespace: str | None, name: str) -> R | None: ...

    def list(self, kind: type[R], namespace: str | None = None) -> list[R]: ...
