"""The object store and its watch: the part of the apiserver that controllers and kube-proxy see.

Objects are kept by ``(resource, namespace, name)``. Every write gets the next
``resourceVersion`` (one counter for the whole store, like etcd's revision) and is appended to
an event log; watchers receive ``ADDED`` / ``MODIFIED`` / ``DELETED`` events in that order, the
way kube-proxy and the controllers watch a real apiserver::

    >>> from k8s_service_lab.api import Namespace, ObjectMeta
    >>> from k8s_service_lab.controlplane.store import Store
    >>> store = Store()
    >>> seen = []
    >>> _ = store.subscribe(lambda event: seen.append(event.type.value))
    >>> ns = store.create(Namespace(ObjectMeta(name="demo")))
    >>> ns.metadata.resource_version, ns.metadata.uid is not None
    ('1', True)
    >>> _ = store.delete(Namespace, None, "demo")
    >>> seen
    ['ADDED', 'DELETED']

The store knows nothing of admission: :mod:`~k8s_service_lab.controlplane.apiserver` defaults,
allocates and validates before it writes here. Time comes from a :class:`Clock` that only moves
when told to, and uids from a seeded generator, so a run is reproducible to the byte.
"""

from __future__ import annotations

import builtins
import enum
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from k8s_service_lab.api import Resource
from k8s_service_lab.errors import AlreadyExistsError, NotFoundError, ServiceLabError

__all__ = ["Clock", "EventType", "Key", "Store", "Subscription", "WatchEvent", "status_field"]

R = TypeVar("R", bound=Resource)
#: ``(resource, namespace, name)``, e.g. ``("services", "default", "web")``.
Key = tuple[str, str | None, str]

#: Where a fresh lab's clock starts (any fixed instant would do; reproducibility is the point).
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """Simulated time: starts at a fixed instant and moves only with :meth:`advance`."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self._now += timedelta(seconds=seconds)
        return self._now

    def timestamp(self) -> str:
        """RFC 3339 in UTC with seconds, as ``metadata.creationTimestamp`` is written."""
        return self._now.strftime("%Y-%m-%dT%H:%M:%SZ")


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change: the object after it (for ``DELETED``, as it was last), and the one before."""

    type: EventType
    object: Resource
    old: Resource | None
    resource_version: int
    time: str

    @property
    def key(self) -> Key:
        return key_of(self.object)

    def describe(self) -> str:
        """``ADDED pods default/web-7d4b9c6f5-x2k4p`` — one line of an event log."""
        meta = self.object.metadata
        where = f"{meta.namespace}/{meta.name}" if meta.namespace else str(meta.name)
        return f"{self.type.value} {type(self.object).RESOURCE} {where}"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A watch registration; :meth:`Store.unsubscribe` ends it."""

    id: int
    resource: str | None


def key_of(obj: Resource) -> Key:
    name = obj.metadata.name
    if name is None:
        raise ServiceLabError(f"{type(obj).KIND} has no metadata.name")
    return (type(obj).RESOURCE, obj.metadata.namespace, name)


class Store:
    """Objects by key, a global resourceVersion, an ordered event log and its watchers."""

    def __init__(self, *, clock: Clock | None = None, seed: int = 0) -> None:
        self.clock = clock if clock is not None else Clock()
        self._rng = random.Random(seed)
        self._objects: dict[Key, Resource] = {}
        self._revision = 0
        self._log: list[WatchEvent] = []
        self._watchers: dict[int, tuple[str | None, Callable[[WatchEvent], None]]] = {}
        self._next_watch = 0

    # -- reads ---------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._revision

    def get(self, kind: type[R], namespace: str | None, name: str) -> R:
        obj = self._objects.get((kind.RESOURCE, namespace if kind.NAMESPACED else None, name))
        if obj is None:
            raise NotFoundError(kind.RESOURCE, name)
        assert isinstance(obj, kind)
        return obj

    def find(self, kind: type[R], namespace: str | None, name: str) -> R | None:
        try:
            return self.get(kind, namespace, name)
        except NotFoundError:
            return None

    def list(self, kind: type[R], namespace: str | None = None) -> list[R]:
        """Objects of one kind (one namespace, or all when ``None``), sorted by namespace/name."""
        found = [
            obj
            for (resource, ns, _), obj in self._objects.items()
            if resource == kind.RESOURCE and (namespace is None or ns == namespace)
        ]
        found.sort(key=lambda o: (o.metadata.namespace or "", o.metadata.name or ""))
        return [o for o in found if isinstance(o, kind)]

    def events(self, since: int = 0) -> builtins.list[WatchEvent]:
        """The event log after ``resourceVersion`` ``since`` (a lab shows "what happened")."""
        return [e for e in self._log if e.resource_version > since]

    def __iter__(self) -> Iterator[Resource]:
        return iter(list(self._objects.values()))

    # -- writes --------------------------------------------------------------------------

    def create(self, obj: R) -> R:
        """Store a new object: uid, resourceVersion, generation 1 and creationTimestamp set."""
        key = key_of(obj)
        if key in self._objects:
            raise AlreadyExistsError(key[0], key[2])
        revision = self._revision + 1
        meta = replace(
            obj.metadata,
            uid=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            resource_version=str(revision),
            generation=1,
            creation_timestamp=self.clock.timestamp(),
        )
        stored: R = replace(obj, metadata=meta)
        self._commit(EventType.ADDED, stored, None)
        return stored

    def update(self, obj: R) -> R:
        """Replace a stored object; ``generation`` moves when anything but status changes."""
        key = key_of(obj)
        old = self._objects.get(key)
        if old is None:
            raise NotFoundError(key[0], key[2])
        revision = self._revision + 1
        generation = old.metadata.generation or 1
        if _spec_of(obj) != _spec_of(old) or obj.metadata.deletion_timestamp != (
            old.metadata.deletion_timestamp
        ):
            generation += 1
        meta = replace(
            obj.metadata,
            uid=old.metadata.uid,
            resource_version=old.metadata.resource_version,
            generation=generation,
            creation_timestamp=old.metadata.creation_timestamp,
        )
        if replace(obj, metadata=meta) == old:
            return old  # a no-op write changes nothing and tells nobody, as on a real server
        stored: R = replace(obj, metadata=replace(meta, resource_version=str(revision)))
        self._commit(EventType.MODIFIED, stored, old)
        return stored

    def update_status(self, obj: R) -> R:
        """Write only ``obj``'s status onto the stored object (a bare ``/status`` subresource).

        Spec and metadata stay as stored, so a Store stands in for the apiserver as a
        controller's client in unit tests; admission (defaulting, validation, what a kind's
        status strategy lets through) is the :class:`~.apiserver.APIServer`'s business.
        """
        key = key_of(obj)
        old = self._objects.get(key)
        if old is None:
            raise NotFoundError(key[0], key[2])
        name = status_field(old)
        if name is None:
            raise TypeError(f"{type(old).__name__} has no status")
        return cast(R, self.update(replace(old, **{name: getattr(obj, name)})))

    def delete(self, kind: type[R], namespace: str | None, name: str) -> R:
        """Remove an object now (graceful deletion is the apiserver's business, not ours)."""
        obj = self.get(kind, namespace, name)
        self._commit(EventType.DELETED, obj, obj)
        return obj

    # -- watch ---------------------------------------------------------------------------

    def subscribe(
        self, handler: Callable[[WatchEvent], None], resource: str | None = None
    ) -> Subscription:
        """Call ``handler`` for every later event (of one resource, e.g. ``"services"``)."""
        self._next_watch += 1
        self._watchers[self._next_watch] = (resource, handler)
        return Subscription(self._next_watch, resource)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._watchers.pop(subscription.id, None)

    def _commit(self, kind: EventType, obj: Resource, old: Resource | None) -> None:
        self._revision += 1
        key = key_of(obj)
        if kind is EventType.DELETED:
            del self._objects[key]
        else:
            self._objects[key] = obj
        event = WatchEvent(kind, obj, old, self._revision, self.clock.timestamp())
        self._log.append(event)
        for resource, handler in list(self._watchers.values()):
            if resource is None or resource == key[0]:
                handler(event)


def status_field(obj: Resource) -> str | None:
    """The attribute holding what the ``/status`` subresource writes, if the kind has one.

    ``status`` for most kinds; a Namespace's only status is its ``phase`` (kept as a plain
    attribute here); Endpoints and EndpointSlices have none.
    """
    for name in ("status", "phase"):
        if hasattr(obj, name):
            return name
    return None


def _spec_of(obj: Resource) -> Any:
    return getattr(obj, "spec", None)
