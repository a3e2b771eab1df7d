"""One tree of errors, every one of them a :class:`ServiceLabError`.

Catch ``ServiceLabError`` to handle anything this library reports on purpose; anything else
escaping is a bug. The messages read like the apiserver's or kubectl's, and name the next step
where there is one::

    ServiceLabError
    ├── SelectorError          a label selector that does not parse or validate
    ├── DecodeError            a manifest that is not YAML, or not a Kubernetes object
    ├── ConfigError            a kind cluster config that kind would refuse
    ├── ValidationError        an object the apiserver would reject (422 Invalid), with FieldErrors
    ├── AllocationError        an allocator that cannot serve (500: "range is full")
    ├── NotFoundError          an object that does not exist
    ├── AlreadyExistsError     an object created twice
    ├── ConflictError          a write that cannot apply to the object as it stands (409)
    └── PrerequisiteError      a missing privilege or tool ("needs root: ...")

    >>> from k8s_service_lab.errors import ValidationError
    >>> from k8s_service_lab.field import FieldPath, invalid
    >>> err = ValidationError("Service", "web",
    ...     [invalid(FieldPath.root("spec", "ports").index(0).child("port"), 0,
    ...              "must be between 1 and 65535, inclusive")])
    >>> print(err.errors[0].body())
    Invalid value: 0: must be between 1 and 65535, inclusive
    >>> str(err).startswith('Service "web" is invalid: spec.ports[0].port: Invalid value: 0')
    True
"""

from __future__ import annotations

from collections.abc import Iterable

from k8s_service_lab.field import FieldError, aggregate, go_quote

__all__ = [
    "AllocationError",
    "AlreadyExistsError",
    "ConfigError",
    "ConflictError",
    "DecodeError",
    "NotFoundError",
    "PrerequisiteError",
    "SelectorError",
    "ServiceLabError",
    "ValidationError",
]


class ServiceLabError(Exception):
    """The root of every error this library raises on purpose.

    ``reason`` is the apiserver's ``Status.reason`` for errors an apiserver would return
    (kubectl prints it as ``Error from server (Invalid): ...``), else ``None``.
    """

    reason: str | None = None

    def kubectl_line(self, source: str | None = None) -> str:
        """The line kubectl prints when creating from ``source`` fails this way.

        ``Error from server (Invalid): error when creating "web.yaml": Service "web" is ...``
        for errors an apiserver returns; ``error: ...`` for the client's own.
        """
        if self.reason is None:
            return f"error: {self}"
        where = f" when creating {go_quote(source)}" if source else ""
        return f"Error from server ({self.reason}): error{where}: {self}"


class SelectorError(ServiceLabError, ValueError):
    """A label selector that does not parse or does not validate (message as apimachinery's)."""


class DecodeError(ServiceLabError):
    """A manifest that cannot be read as Kubernetes objects.

    ``source`` names the file (or ``<string>``), ``line`` is 1-based where known.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.source is not None:
            where = self.source if self.line is None else f"{self.source}:{self.line}"
            where += ": "
        return f"{where}{self.message}"


class ConfigError(ServiceLabError):
    """A kind cluster configuration that kind would refuse; names the field at fault."""


class ValidationError(ServiceLabError):
    """An object the apiserver would reject with ``422 Invalid``.

    ``kind`` is the qualified kind as the apiserver prints it (``Service``,
    ``Deployment.apps``, ``EndpointSlice.discovery.k8s.io``); ``errors`` are the field errors,
    every one of them.
    """

    reason = "Invalid"

    def __init__(self, kind: str, name: str, errors: Iterable[FieldError]):
        self.kind = kind
        self.name = name
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        body = aggregate(str(e) for e in self.errors)
        return f"{self.kind} {go_quote(self.name)} is invalid: {body}"

    def kubectl(self) -> str:
        """What kubectl prints: ``The`` in front, and one ``* error`` line each when several."""
        unique = list(dict.fromkeys(str(e) for e in self.errors))
        head = f"The {self.kind} {go_quote(self.name)} is invalid: "
        if len(unique) == 1:
            return head + unique[0]
        return head + "\n" + "\n".join(f"* {line}" for line in unique)


class AllocationError(ServiceLabError):
    """An allocator that cannot serve a dynamic request (the apiserver's 500 Internal error)."""

    reason = "InternalError"

    def __init__(self, what: str, cause: str):
        self.what = what
        self.cause = cause
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"Internal error occurred: failed to allocate {self.what}: {self.cause}"


class NotFoundError(ServiceLabError):
    """``services "web" not found`` — an object that is not there."""

    reason = "NotFound"

    def __init__(self, resource: str, name: str):
        self.resource = resource
        self.name = name
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.resource} {go_quote(self.name)} not found"


class AlreadyExistsError(ServiceLabError):
    """``services "web" already exists`` — a create of a name that is taken."""

    reason = "AlreadyExists"

    def __init__(self, resource: str, name: str):
        self.resource = resource
        self.name = name
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.resource} {go_quote(self.name)} already exists"


class PrerequisiteError(ServiceLabError):
    """Something the host must provide first: root, or a tool from a named package."""


class ConflictError(ServiceLabError):
    """A ``409 Conflict`` (``errors.NewConflict``): the write cannot be applied to the object as
    it stands, e.g. binding a pod that is already bound.

    ``Operation cannot be fulfilled on pods/binding "web": pod web is already assigned to node
    "kind-worker"`` (kubectl prefixes ``Error from server (Conflict): ``).
    """

    reason = "Conflict"

    def __init__(self, resource: str, name: str, cause: str):
        self.resource = resource
        self.name = name
        self.cause = cause
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"Operation cannot be fulfilled on {self.resource} {go_quote(self.name)}: {self.cause}"
        )
