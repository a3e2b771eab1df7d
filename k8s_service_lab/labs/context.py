"""What a lab's checks see: one :class:`Context`, the same on every driver.

A check is a plain function in the lab's ``checks.py``: it takes a ``Context``, asserts what a
learner cares about, and returns one sentence saying what held (the PASS reason). State comes
from the cluster model (Services, EndpointSlices, rules); traffic and DNS come from the driver
— the tracer on ``sim``, real packets on ``netns``::

    >>> from k8s_service_lab import Cluster
    >>> from k8s_service_lab.labs.drivers import SimDriver
    >>> ctx = Context(SimDriver(Cluster()))
    >>> ctx.cluster_ip("kube-dns", "kube-system")
    '10.96.0.10'
    >>> [e.ready for e in ctx.endpoints("kube-dns", "kube-system")]
    [True, True]
    >>> ctx.dns("kube-dns.kube-system.svc.cluster.local", src="pod/kube-system/" +
    ...     ctx.pods("k8s-app=kube-dns", "kube-system")[0]).data("A")
    ('10.96.0.10',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from k8s_service_lab.labels import parse_selector
from k8s_service_lab.labs.spec import LabError

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.labs.drivers import Driver
    from k8s_service_lab.labs.observe import DNSResult, Traffic
    from k8s_service_lab.tracer import TraceResult

__all__ = ["CheckSkipped", "Context", "SliceEndpoint"]

#: Connections a traffic check opens by default: with three endpoints, the chance that one
#: of them gets none of 30 random picks is 3 x (2/3)^30, about 1 in 60,000.
DEFAULT_COUNT = 30


class CheckSkipped(Exception):
    """Raised by :meth:`Context.skip`: this driver cannot answer the check yet (with why)."""


@dataclass(frozen=True, slots=True)
class SliceEndpoint:
    """One endpoint of a Service's EndpointSlices, as ``kubectl get endpointslice -o yaml``
    shows it: the pod, its address and its three conditions."""

    pod: str | None
    address: str
    node: str | None
    ready: bool
    serving: bool
    terminating: bool
    ports: tuple[int, ...]


class Context:
    """The driver, the cluster model behind it, and questions a check may ask."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        #: Scratch space that lasts one run: a check may note a value a later step compares.
        self.notes: dict[str, Any] = {}

    @property
    def cluster(self) -> Cluster:
        return self.driver.cluster

    @property
    def driver_name(self) -> str:
        return self.driver.name

    # -- traffic and DNS (the driver answers) ----------------------------------------------

    def connect(
        self, src: str, dst: str, port: int, proto: str = "tcp", count: int = DEFAULT_COUNT
    ) -> Traffic:
        """``count`` new connections from ``src`` (``pod/NAME``, ``node/NAME``, ``external``)."""
        return self.driver.connect(src, dst, port, proto.lower(), count)

    def dns(self, name: str, qtype: str = "A", src: str = "pod/client") -> DNSResult:
        """Ask the cluster DNS (``kube-dns``) for a fully qualified ``name`` from pod ``src``."""
        return self.driver.dns(name, qtype.upper(), src)

    def trace(self, src: str, dst: str, port: int, proto: str = "tcp") -> TraceResult:
        """The tracer's walk of one new connection through the source's node (the model)."""
        from k8s_service_lab.labs.observe import SPORT, _receiving_node, source_of
        from k8s_service_lab.tracer import Packet

        source = source_of(self.cluster, src)
        node = source.node or _receiving_node(self.cluster, dst)
        tracer = self.cluster.tracer(node)
        packet = Packet(source.ip, dst, proto.lower(), SPORT, port)
        return tracer.sent(packet) if source.sends else tracer.arriving(packet)

    def skip(self, reason: str) -> NoReturn:
        """Give up on this check on this driver, saying why (reported as SKIP, never PASS)."""
        raise CheckSkipped(reason)

    # -- state (the model) -------------------------------------------------------------------

    def service(self, name: str, namespace: str = "default") -> Any:
        return self.cluster.get("Service", name, namespace)

    def cluster_ip(self, name: str, namespace: str = "default") -> str:
        ip = self.service(name, namespace).spec.cluster_ip
        if ip in (None, "None"):
            raise AssertionError(f"Service {name} has no ClusterIP (headless or ExternalName)")
        return str(ip)

    def node_port(self, name: str, port: int | None = None, namespace: str = "default") -> int:
        """The node port of the Service's port ``port`` (its first port by default)."""
        ports = self.service(name, namespace).spec.ports
        chosen = next((p for p in ports if port is None or p.port == port), None)
        if chosen is None or chosen.node_port is None:
            raise AssertionError(f"Service {name} has no node port for port {port}")
        return int(chosen.node_port)

    def lb_ip(self, name: str, namespace: str = "default") -> str:
        ingress = self.service(name, namespace).status.load_balancer_ingress
        if not ingress or ingress[0].ip is None:
            raise AssertionError(f"Service {name} has no LoadBalancer IP yet")
        return str(ingress[0].ip)

    def node_ip(self, node: str) -> str:
        return str(self.cluster.config.node(node).internal_ip)

    def pod_ip(self, name: str, namespace: str = "default") -> str:
        ip = self.cluster.get("Pod", name, namespace).status.pod_ip
        if ip is None:
            raise AssertionError(f"pod {name} has no IP")
        return str(ip)

    def pods(self, selector: str, namespace: str = "default", *, running: bool = True) -> list[str]:
        """Names of the pods ``selector`` matches, sorted (running and not terminating)."""
        wanted = parse_selector(selector)
        return sorted(
            p.metadata.name
            for p in self.cluster.list("Pod", namespace)
            if wanted.matches(p.metadata.labels)
            and (not running or (p.status.phase == "Running" and not p.metadata.deletion_timestamp))
        )

    def pod_node(self, name: str, namespace: str = "default") -> str:
        return str(self.cluster.get("Pod", name, namespace).spec.node_name)

    def endpoints(self, service: str, namespace: str = "default") -> list[SliceEndpoint]:
        """Every endpoint of every EndpointSlice of ``service``, sorted by address."""
        out = []
        for s in self.cluster.list("EndpointSlice", namespace):
            if s.metadata.labels.get("kubernetes.io/service-name") != service:
                continue
            ports = tuple(sorted(p.port for p in s.ports if p.port is not None))
            for e in s.endpoints:
                c = e.conditions
                out.append(
                    SliceEndpoint(
                        e.target_ref.name if e.target_ref is not None else None,
                        e.addresses[0],
                        e.node_name,
                        bool(c.ready),
                        bool(c.serving),
                        bool(c.terminating),
                        ports,
                    )
                )
        return sorted(out, key=lambda e: e.address)

    def render(self, mode: str = "iptables", node: str | None = None) -> str:
        """What kube-proxy loads on ``node`` in ``mode``, as text (jump rules first)."""
        from k8s_service_lab.netfilter import NftTransaction, Ruleset, to_nft, to_restore

        payload = self.cluster.render(mode, node)
        jumps = self.cluster.jump_rules(mode, node)
        if isinstance(payload, Ruleset) and isinstance(jumps, Ruleset):
            return to_restore(jumps) + to_restore(payload)
        if isinstance(payload, NftTransaction):
            return to_nft(payload)
        raise LabError(f"cannot show {mode} rules as text")
