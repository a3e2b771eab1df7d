"""A kernel lab that outlives the command: its recorded history, replayed into the model.

``ksl cluster up`` builds a lab and exits; ``ksl cluster scale`` runs later, in a new process,
and must know the model the kernel was built from. The model itself is not saved — its
*history* is: the kind config, the seed and every change in order (the text of each manifest
applied, each delete, scale and readiness change). The model is deterministic (names, ClusterIPs,
node ports and pod IPs all come from the seed), so replaying the history in any later process
gives back exactly the cluster whose pods and rules are in the kernel::

    >>> web = Source("web.yaml", "apiVersion: v1\\nkind: Service\\nmetadata: {name: web}\\n"
    ...     "spec: {selector: {app: web}, ports: [{port: 80}]}\\n")
    >>> state = LabState.new("demo", seed=7).with_operation(Apply((web,)))
    >>> LabState.from_json(state.to_json()) == state
    True
    >>> first, again = state.replay(), state.replay()
    >>> first.get("services", "web").spec.cluster_ip == again.get("services", "web").spec.cluster_ip
    True
    >>> perform(first, Readiness("nothing-here", "default", False))
    Traceback (most recent call last):
    ...
    k8s_service_lab.errors.NotFoundError: pods "nothing-here" not found

Each operation does what the kubectl command it stands for does, waiting included: ``kubectl
delete`` waits until the objects are gone, so :class:`Delete` lets the model's clock run past
the grace periods (the model's garbage collector deletes what the object owned);
:class:`Scale` waits the same way for the pods it removes. So a running lab never holds a
terminating pod between two commands, and the kernel can always be laid out from the model.

On disk the history is ``/run/ksl/<name>/state.json`` (``/run`` is a tmpfs: a reboot, which
takes the lab's namespaces too, takes it as well), in a directory only root can read, written
whole and renamed into place so a crash never leaves half a file. ``ksl cluster down`` removes
it, and ``/run/ksl`` once no lab is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netns.names import check_prefix

if TYPE_CHECKING:
    from k8s_service_lab.cluster import ApplyResult, Cluster
    from k8s_service_lab.config import ClusterConfig

__all__ = [
    "STATE_ROOT",
    "Apply",
    "Delete",
    "LabState",
    "LabStateError",
    "Operation",
    "Readiness",
    "Scale",
    "Source",
    "lab_names",
    "load_state",
    "perform",
    "read_sources",
    "remove_state",
    "save_state",
    "state_dir",
]

#: Where every lab keeps its state: a tmpfs, gone with a reboot as the namespaces are.
STATE_ROOT = Path("/run/ksl")
STATE_FILE = "state.json"
FORMAT_VERSION = 1


class LabStateError(ServiceLabError):
    """A lab's state is missing, unreadable, or already there when it should not be."""


# -- the operations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """One manifest as it was applied: where it came from, and its text at that moment."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Apply:
    """``kubectl apply -f``: every object of every source, in order."""

    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class Delete:
    """``kubectl delete RESOURCE NAME -n NAMESPACE`` (which waits until it is gone)."""

    resource: str
    name: str
    namespace: str | None = "default"


@dataclass(frozen=True, slots=True)
class Scale:
    """``kubectl scale deployment/NAME --replicas=N``, then waiting for removed pods to go."""

    name: str
    namespace: str
    replicas: int


@dataclass(frozen=True, slots=True)
class Readiness:
    """A pod passes (``ready``) or fails its readiness probe from now on."""

    pod: str
    namespace: str
    ready: bool


Operation: TypeAlias = Apply | Delete | Scale | Readiness


def perform(cluster: Cluster, op: Operation) -> list[str]:
    """Do ``op`` to ``cluster``; what kubectl would print for it, a line per object.

    Raises what the model raises (``NotFoundError`` for a missing object, ``DecodeError`` for
    a manifest that does not parse); then ``cluster`` is unchanged and nothing is recorded.
    """
    if isinstance(op, Apply):
        return [r.kubectl() for r in apply_sources(cluster, op.sources)]
    if isinstance(op, Delete):
        # The model's garbage collector deletes what the object owned (background).
        deleted: Any = cluster.delete(op.resource, op.name, op.namespace)
        _wait_for_terminations(cluster)
        return [f'{type(deleted).GROUP_KIND.lower()} "{op.name}" deleted']
    if isinstance(op, Scale):
        cluster.scale("deployments", op.name, op.replicas, op.namespace)
        _wait_for_terminations(cluster)
        return [f"deployment.apps/{op.name} scaled"]
    pod = cluster.set_ready(op.pod, op.ready, op.namespace)
    return [f"pod/{pod.metadata.name} {'ready' if op.ready else 'not ready'}"]


def apply_sources(cluster: Cluster, sources: tuple[Source, ...]) -> list[ApplyResult]:
    """Apply each source's objects in order, keeping file and line in the results (so refusals
    read as ``kubectl apply -f web.yaml`` prints them); refused objects change nothing."""
    from k8s_service_lab.api.decode import decode_text_entries

    results = []
    for source in sources:
        for entry in decode_text_entries(source.text, source=source.name):
            (result,) = cluster.apply([entry.resource], check=False)
            results.append(replace(result, source=entry.source, line=entry.line))
    return results


def read_sources(paths: Sequence[Path]) -> tuple[Source, ...]:
    """The manifests at ``paths`` (a directory gives its ``.yaml``, ``.yml`` and ``.json``
    files, sorted, as ``kubectl apply -f`` reads it), their text as it is now: a replay must
    not depend on the files staying put."""
    from k8s_service_lab.api.decode import MANIFEST_SUFFIXES
    from k8s_service_lab.errors import DecodeError

    sources = []
    for path in paths:
        if not path.exists():
            raise DecodeError(f'the path "{path}" does not exist')
        files = [path]
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES and p.is_file()
            )
        for file in files:
            sources.append(Source(str(file), file.read_bytes().decode("utf-8-sig", "replace")))
    return tuple(sources)


def _wait_for_terminations(cluster: Cluster) -> None:
    """Let the model's clock run until no pod is terminating (``kubectl delete --wait``)."""
    from k8s_service_lab.api import Pod
    from k8s_service_lab.controlplane.deletion import parse_timestamp

    while True:
        ends = [
            parse_timestamp(p.metadata.deletion_timestamp)
            for p in cluster.list(Pod, namespace=None)
            if p.metadata.deletion_timestamp
        ]
        if not ends:
            return
        wait = (max(ends) - parse_timestamp(cluster.now())).total_seconds()
        cluster.advance(max(wait, 0) + 1)


# -- the state -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabState:
    """Everything a later command needs to rebuild a lab's model, and its server's PID."""

    name: str
    seed: int
    config: Source | None
    operations: tuple[Operation, ...]
    supervisor: int | None = None

    @classmethod
    def new(cls, name: str, *, seed: int = 0, config: Source | None = None) -> LabState:
        return cls(check_prefix(name), seed, config, ())

    def with_operation(self, op: Operation) -> LabState:
        return replace(self, operations=(*self.operations, op))

    def with_supervisor(self, pid: int | None) -> LabState:
        return replace(self, supervisor=pid)

    def cluster_config(self) -> ClusterConfig | None:
        """The kind config the lab was made with (``None``: kind's default shape)."""
        from k8s_service_lab.config import parse_config

        if self.config is None:
            return None
        return parse_config(self.config.text, source=self.config.name)

    def replay(self) -> Cluster:
        """The model as it stands: a fresh cluster with the same seed, every operation redone."""
        from k8s_service_lab.cluster import Cluster

        cluster = Cluster(self.cluster_config(), seed=self.seed)
        for op in self.operations:
            perform(cluster, op)
        return cluster

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "name": self.name,
            "seed": self.seed,
            "config": _source_json(self.config) if self.config is not None else None,
            "operations": [_op_json(op) for op in self.operations],
            "supervisor": self.supervisor,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabState:
        """Read :meth:`to_json`'s output back; :class:`LabStateError` when it is not that."""
        try:
            if data["version"] != FORMAT_VERSION:
                raise LabStateError(f"lab state version {data['version']} is not supported")
            config = data["config"]
            supervisor = data["supervisor"]
            return cls(
                check_prefix(str(data["name"])),
                int(data["seed"]),
                _source(config) if config is not None else None,
                tuple(_op(op) for op in data["operations"]),
                int(supervisor) if supervisor is not None else None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise LabStateError(f"unreadable lab state: {type(err).__name__}: {err}") from None


def _source_json(source: Source) -> dict[str, str]:
    return {"name": source.name, "text": source.text}


def _source(data: Mapping[str, Any]) -> Source:
    return Source(str(data["name"]), str(data["text"]))


def _op_json(op: Operation) -> dict[str, Any]:
    if isinstance(op, Apply):
        return {"op": "apply", "sources": [_source_json(s) for s in op.sources]}
    if isinstance(op, Delete):
        return {"op": "delete", "resource": op.resource, "name": op.name, "namespace": op.namespace}
    if isinstance(op, Scale):
        return {"op": "scale", "name": op.name, "namespace": op.namespace, "replicas": op.replicas}
    return {"op": "readiness", "pod": op.pod, "namespace": op.namespace, "ready": op.ready}


def _op(data: Mapping[str, Any]) -> Operation:
    kind = data["op"]
    if kind == "apply":
        return Apply(tuple(_source(s) for s in data["sources"]))
    if kind == "delete":
        namespace = data["namespace"]
        return Delete(str(data["resource"]), str(data["name"]), namespace and str(namespace))
    if kind == "scale":
        return Scale(str(data["name"]), str(data["namespace"]), int(data["replicas"]))
    if kind == "readiness":
        return Readiness(str(data["pod"]), str(data["namespace"]), bool(data["ready"]))
    raise ValueError(f"unknown operation {kind!r}")


# -- on disk -------------------------------------------------------------------------------------


def state_dir(name: str, root: Path = STATE_ROOT) -> Path:
    """``<root>/<name>``: the lab's directory (its state, its server's log)."""
    return root / check_prefix(name)


def save_state(state: LabState, root: Path = STATE_ROOT, *, create: bool = False) -> Path:
    """Write ``state`` (atomically); with ``create``, refuse if the lab has a state already.

    Directories are made ``0700``: a manifest may hold anything, and only root runs labs.
    """
    directory = state_dir(state.name, root)
    if create:
        for _ in range(3):  # another lab's `down` may remove an empty root in between
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                directory.mkdir(mode=0o700)
                break
            except FileExistsError:
                raise LabStateError(
                    f'lab "{state.name}" is up already (its state is in {directory}): '
                    f'take it down with "ksl cluster down --name {state.name}"'
                ) from None
            except FileNotFoundError:
                continue
    path = directory / STATE_FILE
    partial = directory / f".{STATE_FILE}.{os.getpid()}"
    try:
        partial.touch(mode=0o600)
        partial.write_text(json.dumps(state.to_json(), indent=1) + "\n")
        partial.replace(path)
    except FileNotFoundError:
        raise LabStateError(f'lab "{state.name}" has no state directory {directory}') from None
    return path


def load_state(name: str, root: Path = STATE_ROOT) -> LabState:
    """The state of lab ``name``; :class:`LabStateError` saying what to do when there is none."""
    path = state_dir(name, root) / STATE_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LabStateError(
            f'no lab "{name}" is up (no {path}): start one with "sudo ksl cluster up"'
        ) from None
    except PermissionError:
        raise LabStateError(
            f'cannot read {path}: the kernel lab needs root (run "sudo ksl ...")'
        ) from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise LabStateError(f"unreadable lab state {path}: {err}") from None
    state = LabState.from_json(data)
    if state.name != name:
        raise LabStateError(f'{path} holds the state of lab "{state.name}", not "{name}"')
    return state


def remove_state(name: str, root: Path = STATE_ROOT) -> bool:
    """Remove the lab's directory, and ``root`` once no lab is left; whether there was one."""
    directory = state_dir(name, root)
    existed = directory.exists()
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):  # missing, or other labs are still up
        root.rmdir()
    return existed


def lab_names(root: Path = STATE_ROOT) -> tuple[str, ...]:
    """The labs that have a state under ``root``, sorted (none when it cannot be read)."""
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return ()
    return tuple(e for e in entries if (root / e / STATE_FILE).is_file())
