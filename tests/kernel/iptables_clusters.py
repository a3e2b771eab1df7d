"""Random kind-shaped clusters for the iptables kernel tier, and a namespace to load them into.

A :class:`ClusterSpec` is a handful of Services (ClusterIP, NodePort or LoadBalancer, with
externalIPs, ClientIP affinity, eTP/iTP Local, source ranges) and one Deployment each, turned
into the YAML that :meth:`Cluster.apply` takes. :class:`Change` is one later edit (scale,
delete, readiness flip, port change). :func:`loaded_namespace` makes a ``ksl-t`` scratch
namespace ready for kube-proxy's payloads (the nfacct counters its rules name) and always
removes it (DESIGN §8)::

    >>> spec = ServiceSpec(0, "NodePort", (80,), replicas=2)
    >>> print(spec.service_yaml(dual=False).splitlines()[2])
    metadata: {name: svc0}
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count

from hypothesis import strategies as st

from k8s_service_lab import Cluster
from k8s_service_lab.config import ClusterConfig
from tests.kernel.conftest import PREFIX, ScratchNamespace, lab_namespaces

#: The nfacct objects kube-proxy's rules reference; they must exist before a restore.
NFACCT = ("localhost_nps_accepted_pkts", "ct_state_invalid_dropped_pkts")

DUAL_CONFIG = {
    "kind": "Cluster",
    "apiVersion": "kind.x-k8s.io/v1alpha4",
    "networking": {"ipFamily": "dual"},
    "nodes": [{"role": "control-plane"}, {"role": "worker"}, {"role": "worker"}],
}
SINGLE_CONFIG = {**DUAL_CONFIG, "networking": {}}


def missing_tools(*tools: str) -> list[str]:
    """Which of ``tools`` (and root) this host lacks, as words for a skip reason."""
    missing = [t for t in ("ip", "nfacct", *tools) if shutil.which(t) is None]
    if os.geteuid() != 0:
        missing.insert(0, "root")
    return missing


_serial = count()


@contextmanager
def loaded_namespace() -> Iterator[ScratchNamespace]:
    """A fresh scratch namespace with kube-proxy's nfacct counters; removed on any exit."""
    name = f"{PREFIX}-ipt-{os.getpid()}-{next(_serial)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ns = ScratchNamespace(name)
        ns.run("sh", "-c", " && ".join(f"nfacct add {n}" for n in NFACCT))
        yield ns
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
    assert name not in lab_namespaces()


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One Service and the Deployment behind it (``replicas`` None: no selector at all)."""

    index: int
    type: str
    ports: tuple[int, ...]
    replicas: int | None = 1
    udp: bool = False
    external_ip: bool = False
    affinity_seconds: int | None = None
    etp_local: bool = False
    itp_local: bool = False
    source_ranges: bool = False
    family_policy: str | None = None

    @property
    def name(self) -> str:
        return f"svc{self.index}"

    def service_yaml(self, *, dual: bool, ports: tuple[int, ...] | None = None) -> str:
        lines = ["apiVersion: v1", "kind: Service", f"metadata: {{name: {self.name}}}", "spec:"]
        lines.append(f"  type: {self.type}")
        if self.replicas is not None:
            lines.append(f"  selector: {{app: {self.name}}}")
        proto = "UDP" if self.udp else "TCP"
        lines.append("  ports:")
        for n, port in enumerate(ports or self.ports):
            lines.append(f"  - {{name: p{n}, port: {port}, targetPort: 80, protocol: {proto}}}")
        if self.external_ip:
            ips = [f"192.0.2.{self.index + 10}"]
            if dual and self.family_policy not in (None, "SingleStack"):
                ips.append(f"2001:db8::{self.index + 10}")
            lines.append(f"  externalIPs: [{', '.join(ips)}]")
        if self.affinity_seconds is not None:
            lines.append("  sessionAffinity: ClientIP")
            lines.append(
                f"  sessionAffinityConfig: {{clientIP: {{timeoutSeconds: {self.affinity_seconds}}}}}"
            )
        if self.etp_local and self.type != "ClusterIP":
            lines.append("  externalTrafficPolicy: Local")
        if self.itp_local:
            lines.append("  internalTrafficPolicy: Local")
        if self.source_ranges and self.type == "LoadBalancer":
            ranges = ["203.0.113.0/25"] + (["2001:db8:1::/64"] if dual else [])
            lines.append(f"  loadBalancerSourceRanges: [{', '.join(ranges)}]")
        if dual and self.family_policy is not None:
            lines.append(f"  ipFamilyPolicy: {self.family_policy}")
        return "\n".join(lines) + "\n"

    def deployment_yaml(self, replicas: int) -> str:
        return (
            "apiVersion: apps/v1\nkind: Deployment\n"
            f"metadata: {{name: {self.name}}}\n"
            f"spec:\n  replicas: {replicas}\n"
            f"  selector: {{matchLabels: {{app: {self.name}}}}}\n"
            f"  template:\n    metadata: {{labels: {{app: {self.name}}}}}\n"
            "    spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}\n"
        )


@dataclass(frozen=True, slots=True)
class Change:
    """One later edit: ``scale`` (to ``value``), ``delete``, ``ready`` (flip pod ``value``),
    or ``port`` (move the first port to ``value``), aimed at Service ``target`` modulo count."""

    kind: str
    target: int
    value: int


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    services: tuple[ServiceSpec, ...]
    dual: bool
    not_ready: tuple[int, ...]
    changes: tuple[Change, ...]
    seed: int

    def build(self) -> Cluster:
        """A cluster with every Service and Deployment applied and some pods made not-ready."""
        config = ClusterConfig.from_dict(DUAL_CONFIG if self.dual else SINGLE_CONFIG)
        cluster = Cluster(config, seed=self.seed)
        for spec in self.services:
            cluster.apply(spec.service_yaml(dual=self.dual))
            if spec.replicas is not None:
                cluster.apply(spec.deployment_yaml(spec.replicas))
        pods = workload_pods(cluster)
        for n in self.not_ready:
            if pods:
                cluster.set_ready(pods[n % len(pods)], False)
        return cluster

    def apply_change(self, cluster: Cluster, change: Change, live: dict[int, ServiceSpec]) -> None:
        """Apply one :class:`Change` to ``cluster``; ``live`` tracks the Services left."""
        if not live:
            return
        spec = live[sorted(live)[change.target % len(live)]]
        if change.kind == "delete":
            cluster.delete("services", spec.name)
            del live[spec.index]
        elif change.kind == "scale" and spec.replicas is not None:
            cluster.apply(spec.deployment_yaml(change.value))
            cluster.advance(60)  # past the grace period: terminating pods go away
        elif change.kind == "ready":
            pods = workload_pods(cluster)
            if pods:
                pod = cluster.get("pods", pods[change.value % len(pods)])
                cluster.set_ready(pod.metadata.name, not pod.status.ready)
        elif change.kind == "port":
            ports = (20000 + change.value, *spec.ports[1:])
            cluster.apply(spec.service_yaml(dual=self.dual, ports=ports))


def workload_pods(cluster: Cluster) -> list[str]:
    """The Deployments' pods in ``default``, by name."""
    return [p.metadata.name for p in cluster.list("pods") if p.metadata.name.startswith("svc")]


def _service(index: int, dual: bool) -> st.SearchStrategy[ServiceSpec]:
    return st.builds(
        ServiceSpec,
        index=st.just(index),
        type=st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
        ports=st.lists(st.integers(1, 9000), min_size=1, max_size=2, unique=True).map(tuple),
        replicas=st.none() | st.integers(0, 5),
        udp=st.booleans(),
        external_ip=st.booleans(),
        affinity_seconds=st.none() | st.sampled_from([10, 10800]),
        etp_local=st.booleans(),
        itp_local=st.booleans(),
        source_ranges=st.booleans(),
        family_policy=st.sampled_from([None, "PreferDualStack", "RequireDualStack"])
        if dual
        else st.none(),
    )


CHANGE = st.builds(
    Change,
    kind=st.sampled_from(["scale", "delete", "ready", "port"]),
    target=st.integers(0, 9),
    value=st.integers(0, 5),
)


@st.composite
def cluster_specs(draw: st.DrawFn, dual_ratio: float = 0.2) -> ClusterSpec:
    """A random cluster of 1–4 Services; dual-stack about ``dual_ratio`` of the time."""
    dual = draw(st.integers(0, 99)) < dual_ratio * 100
    n = draw(st.integers(1, 4))
    services = tuple(draw(_service(i, dual)) for i in range(n))
    not_ready = tuple(draw(st.lists(st.integers(0, 20), max_size=3)))
    changes = tuple(draw(st.lists(CHANGE, min_size=1, max_size=3)))
    return ClusterSpec(services, dual, not_ready, changes, draw(st.integers(0, 2**16)))
