"""Controllers, and the manager that runs them until the cluster settles.

A controller watches events (:class:`~k8s_service_lab.controlplane.store.WatchEvent`), queues
the keys it cares about, and reconciles them through a
:class:`~k8s_service_lab.controlplane.client.Client`. Everything is synchronous and ordered:
after each write the :class:`ControllerManager` runs every controller until none has work
left, so a lab sees the settled cluster and the same input always gives the same output::

    >>> from k8s_service_lab.controlplane.controllers import ControllerManager
    >>> from k8s_service_lab.controlplane.store import Store
    >>> manager = ControllerManager(Store(), [])
    >>> manager.run_until_idle()
    0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from k8s_service_lab.controlplane.store import Store, WatchEvent
from k8s_service_lab.errors import ServiceLabError

__all__ = ["Controller", "ControllerManager"]

#: A guard against two controllers fighting forever (a bug, never a real cluster's state).
MAX_ROUNDS = 10_000


@runtime_checkable
class Controller(Protocol):
    """One control loop: ``name``, what it ``watches``, and how it queues and reconciles."""

    name: str
    #: Resources whose events this controller wants (``"pods"``, ``"services"`` ...).
    watches: tuple[str, ...]

    def on_event(self, event: WatchEvent) -> None:
        """Note the event (queue a key); do no writes here."""

    def pending(self) -> bool:
        """True while queued work remains."""

    def process(self) -> int:
        """Reconcile what is queued; return how many keys were handled."""


class ControllerManager:
    """kube-controller-manager in miniature: feeds events to controllers and runs them."""

    def __init__(self, store: Store, controllers: Sequence[Controller]) -> None:
        self.store = store
        self.controllers = list(controllers)
        store.subscribe(self._dispatch)

    def _dispatch(self, event: WatchEvent) -> None:
        resource = type(event.object).RESOURCE
        for controller in self.controllers:
            if resource in controller.watches:
                controller.on_event(event)

    def run_until_idle(self) -> int:
        """Run controllers round-robin until none has work; return the keys handled."""
        handled = 0
        for _ in range(MAX_ROUNDS):
            busy = [c for c in self.controllers if c.pending()]
            if not busy:
                return handled
            for controller in busy:
                handled += controller.process()
        raise ServiceLabError("controllers did not settle (a controller keeps rewriting)")
