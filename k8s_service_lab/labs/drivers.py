"""Where a lab runs: one small :class:`Driver` protocol, and the drivers registered by name.

Every driver holds the cluster model (the lab's steps change it, as ``kubectl`` would change a
real cluster) and answers the two questions only a data plane can: what happened to some
connections, and what DNS answered. ``sim`` answers from the tracer; ``netns`` sends real
packets through the kernel lab (:mod:`.netnsdriver`); ``kind`` is the later kind tier::

    >>> from k8s_service_lab import Cluster
    >>> driver = open_driver("sim", Cluster())
    >>> driver.name, driver.connect("external", "172.18.0.3", 80, "tcp", 1).failures
    ('sim', frozenset({'refused'}))
    >>> open_driver("kind", Cluster())
    Traceback (most recent call last):
    ...
    k8s_service_lab.labs.drivers.DriverUnavailable: the kind driver is not available yet: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.labs.observe import DNSResult, Traffic, simulate

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster

__all__ = [
    "DRIVERS",
    "Driver",
    "DriverUnavailable",
    "SimDriver",
    "model_dns",
    "open_driver",
]


class DriverUnavailable(ServiceLabError):
    """This driver cannot run here (not built yet, not root, a tool missing); says what to do."""


class Driver(Protocol):
    """What the lab runtime needs from a place to run a lab."""

    name: str
    cluster: Cluster

    def changed(self) -> None:
        """The model changed (a step ran): bring the data plane up to date before next use."""

    def connect(self, src: str, dst: str, port: int, proto: str, count: int) -> Traffic:
        """``count`` new connections from ``src`` to ``dst:port``."""

    def dns(self, name: str, qtype: str, src: str) -> DNSResult:
        """A DNS question from pod ``src`` to the cluster DNS."""

    def close(self) -> None:
        """Tear down whatever the driver built (always called, also after a failure)."""


def model_dns(cluster: Cluster, name: str, qtype: str) -> DNSResult:
    """What the cluster's DNS model (CoreDNS semantics) answers for ``name``."""
    answer = cluster.dns.query(name, qtype)
    records = tuple(sorted((rr.type, rr.rdata_text) for rr in answer.answer))
    return DNSResult(name, qtype, answer.rcode.value, records)


class SimDriver:
    """The embedded cluster alone: traffic answered by the tracer, DNS by the DNS model."""

    name = "sim"

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def changed(self) -> None:
        """Nothing to do: the tracer reads the model's rules afresh every time."""

    def connect(self, src: str, dst: str, port: int, proto: str, count: int) -> Traffic:
        return simulate(self.cluster, src, dst, port, proto, count)

    def dns(self, name: str, qtype: str, src: str) -> DNSResult:
        from k8s_service_lab.labs.observe import source_of

        source_of(self.cluster, src)  # the asking pod must exist, as in the kernel lab
        return model_dns(self.cluster, name, qtype)

    def close(self) -> None:
        """Nothing was built."""


def _open_sim(cluster: Cluster, prefix: str | None) -> Driver:
    return SimDriver(cluster)


def _open_netns(cluster: Cluster, prefix: str | None) -> Driver:
    from k8s_service_lab.labs.netnsdriver import NetnsDriver

    return NetnsDriver(cluster, prefix=prefix or "ksl-lab")


def _open_kind(cluster: Cluster, prefix: str | None) -> Driver:
    raise DriverUnavailable(
        "the kind driver is not available yet: it belongs to the kind tier (DESIGN §7), which "
        "needs a Docker engine, kind and kubectl and runs with `nox -s kind` once it exists. "
        "Run the lab with --driver sim (the tracer) or --driver netns (the kernel lab, root)."
    )


#: Drivers by name, registered explicitly (STYLE: no registration by import side effects).
DRIVERS: dict[str, Callable[[Cluster, str | None], Driver]] = {
    "sim": _open_sim,
    "netns": _open_netns,
    "kind": _open_kind,
}


def open_driver(name: str, cluster: Cluster, *, prefix: str | None = None) -> Driver:
    """The driver called ``name`` over ``cluster``; ``prefix`` names kernel-lab objects."""
    try:
        opener = DRIVERS[name]
    except KeyError:
        raise ServiceLabError(f'unknown driver "{name}" (have: {", ".join(DRIVERS)})') from None
    return opener(cluster, prefix)
