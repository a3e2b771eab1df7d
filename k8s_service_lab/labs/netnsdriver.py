"""The ``netns`` lab driver: the kernel lab, real packets, and the tracer as a second opinion.

The driver lays the lab's cluster out as network namespaces
(:func:`~k8s_service_lab.netns.plan_lab`),
brings them up with pod servers and DNS (:func:`~k8s_service_lab.netns.kernel.lab`) and plays
every node's kube-proxy (:class:`~k8s_service_lab.netns.proxy.LabProxy`). After each step it
re-syncs the rules, as kube-proxy would; when the step changed which pods run (a new pod needs
a new namespace, which the kernel lab cannot add to a running lab yet), it takes the lab down
and up again. Connections come from a helper inside the source's namespace
(:func:`~k8s_service_lab.netns.traffic.probe`), DNS questions go from the pod to ``kube-dns``'s
ClusterIP through the real rules. Every answer is compared with the tracer's: a pod the tracer
says cannot answer, a source address it did not predict or a failure it did not expect fails
the check. Nothing here runs outside the lab's own namespaces (DESIGN §8)::

    >>> from k8s_service_lab import Cluster
    >>> disagreements(simulate(Cluster(), "external", "172.18.0.3", 1, "tcp"),
    ...     frozenset(), frozenset(), frozenset({"timeout"}))
    ['the kernel: timeout, the tracer: refused']
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from k8s_service_lab.errors import PrerequisiteError
from k8s_service_lab.labs.drivers import DriverUnavailable, model_dns
from k8s_service_lab.labs.observe import DNSResult, Traffic, simulate, source_of

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.netns import LabPlan
    from k8s_service_lab.netns.kernel import RunningLab
    from k8s_service_lab.netns.proxy import LabProxy

__all__ = ["NetnsDriver", "disagreements"]

ROOT = Path(__file__).resolve().parents[2]

# Runs inside the pod's namespace: one DNS question over UDP to the pod's nameserver. The answer
# is read with scapy's DNS layer, a reader independent of the lab's own DNS server.
_DNS_CLIENT = r"""
import json, socket, sys
from scapy.layers.dns import DNS
from k8s_service_lab.netns.dnswire import encode_query, rcode_name, type_name
server, name, qtype = sys.argv[1:4]
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(3)
    s.sendto(encode_query(name, qtype, id=7), (server, 53))
    reply = DNS(s.recv(65535))
def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)
rows = []
for i in range(reply.ancount):
    rr = reply.an[i]
    kind = type_name(rr.type)
    if kind == "SRV":
        data = f"{rr.priority} {rr.weight} {rr.port} {text(rr.target)}"
    else:
        data = text(rr.rdata)
    rows.append([kind, data])
print(json.dumps({"rcode": rcode_name(reply.rcode), "records": sorted(rows)}))
"""


def disagreements(
    predicted: Traffic, pods: frozenset[str], sources: frozenset[str], failures: frozenset[str]
) -> list[str]:
    """How observed answers differ from the tracer's ``predicted`` ones (empty: they agree)."""
    out = []
    if not pods <= predicted.pods:
        out.append(
            f"pods the tracer ruled out answered: {', '.join(sorted(pods - predicted.pods))}"
        )
    if not sources <= predicted.sources:
        out.append(
            f"the pods saw {', '.join(sorted(sources))}, the tracer said "
            f"{', '.join(sorted(predicted.sources)) or 'no answer'}"
        )
    # A packet the tracer sends nowhere in particular may fail any way on the wire.
    expected = predicted.failures
    unexpected = {f for f in failures if f not in expected and "unanswered" not in expected}
    if unexpected:
        said = ", ".join(sorted(expected)) or "answered"
        out.append(f"the kernel: {', '.join(sorted(unexpected))}, the tracer: {said}")
    return out


class NetnsDriver:
    """The kernel lab as a lab driver (root; the mode the lab's kind.yaml selects)."""

    name = "netns"

    def __init__(self, cluster: Cluster, *, prefix: str = "ksl-lab", attach: bool = False) -> None:
        from k8s_service_lab.netns.kernel import lab_namespaces, require_root
        from k8s_service_lab.netns.names import check_prefix

        try:
            require_root()
        except PrerequisiteError as err:
            raise DriverUnavailable(f"{err} (or use --driver sim)") from None
        self.cluster = cluster
        self.prefix = check_prefix(prefix)
        #: Attached to a lab someone else brought up (``ksl cluster up``): read it, never
        #: build, re-sync or tear it down.
        self.attached = attach
        if attach and not lab_namespaces(prefix):
            raise DriverUnavailable(
                f'no lab "{prefix}" is up: start one with `sudo ksl cluster up`'
            )
        if not attach and lab_namespaces(prefix):
            raise DriverUnavailable(
                f'a lab with prefix "{prefix}" is already up: take it down '
                f"(ksl cluster down --all) or choose another --prefix"
            )
        self._stack: ExitStack | None = None
        self._plan: LabPlan | None = None
        self._running: RunningLab | None = None
        self._proxy: LabProxy | None = None
        self._dirty = True
        self._routed: set[str] = set()
        #: How many times the lab was built (a step that adds or removes pods rebuilds it).
        self.builds = 0

    # -- keeping the kernel in step with the model ---------------------------------------------

    def changed(self) -> None:
        self._dirty = True

    def _ensure(self) -> None:
        if not self._dirty:
            return
        if self.attached:
            from k8s_service_lab.netns import plan_lab

            self._plan = plan_lab(self.cluster, prefix=self.prefix)
            self._dirty = False
            return
        from k8s_service_lab.netns import plan_lab
        from k8s_service_lab.netns.dnsserver import ZoneSnapshot

        plan = plan_lab(self.cluster, prefix=self.prefix)
        if self._plan is None or plan != self._plan:
            self._down()
            self._up(plan)
        else:
            assert self._proxy is not None
            assert self._running is not None
            self._proxy.resync()
            if self._running.servers is not None:
                self._running.servers.update_dns(ZoneSnapshot.of(self.cluster.dns))
            self._route_vips()
        self._dirty = False

    def _up(self, plan: LabPlan) -> None:
        from k8s_service_lab.netns.kernel import lab
        from k8s_service_lab.netns.proxy import LabProxy
        from k8s_service_lab.netns.resolvconf import LabDNS

        stack = ExitStack()
        try:
            self._running = stack.enter_context(lab(plan, dns=LabDNS.of(self.cluster.dns)))
            self._proxy = LabProxy(self.cluster, plan)
            self._proxy.install()
        except BaseException:
            stack.close()
            raise
        self._stack, self._plan = stack, plan
        self._routed = set()
        self._route_vips()
        self.builds += 1

    def _route_vips(self) -> None:
        """Send LoadBalancer and external IPs from ``external`` to the first worker.

        On kind, cloud-provider-kind or MetalLB's L2 mode delivers a VIP to a node; the lab
        has neither, so a host route inside the external namespace (a lab namespace, never the
        host's) plays that part. The tracer assumes the same node (``observe._receiving_node``).
        """
        from pyroute2 import IPRoute

        assert self._plan is not None
        node = str(self.cluster.config.node(self.cluster.default_node()).internal_ip)
        vips: set[str] = set()
        for svc in self.cluster.list("Service", None):
            vips.update(i.ip for i in svc.status.load_balancer_ingress if i.ip)
            vips.update(svc.spec.external_ips)
        with IPRoute(netns=self._plan.external.name, flags=0) as ipr:
            for vip in sorted(vips - self._routed):
                if ":" not in vip:
                    ipr.route("add", dst=f"{vip}/32", gateway=node)
                    self._routed.add(vip)

    def _down(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            self._plan = self._running = self._proxy = None
            stack.close()

    def close(self) -> None:
        from k8s_service_lab.netns.kernel import destroy_all

        if self.attached:
            return  # not ours to take down
        try:
            self._down()
        finally:
            destroy_all(self.prefix)  # whatever a failure in the middle may have left

    # -- traffic and DNS -------------------------------------------------------------------------

    def _namespace(self, src: str) -> str:
        from k8s_service_lab.netns.names import Role

        assert self._plan is not None
        source = source_of(self.cluster, src)
        if source.role == "external":
            return self._plan.external.name
        role = Role.NODE if source.role == "node" else Role.POD
        return self._plan.of(role, source.subject).name

    def connect(self, src: str, dst: str, port: int, proto: str, count: int) -> Traffic:
        from k8s_service_lab.netns.traffic import Request, probe

        self._ensure()
        namespace = self._namespace(src)
        # The first connection alone, then the rest: a client that comes back (what ClientIP
        # affinity is about) rather than a burst racing the first one's -m recent record.
        answers = probe(namespace, [Request(dst, port, proto, 1)])
        if count > 1:
            answers += probe(namespace, [Request(dst, port, proto, count - 1)])
        pods = frozenset(a.hostname for a in answers if a.ok and a.hostname)
        sources = frozenset(a.source for a in answers if a.ok and a.source)
        failures = frozenset(a.error for a in answers if a.error is not None)
        # Every way one new connection may go: with affinity the tracer pins one pod, the
        # kernel may pin another; whether the connections stuck is the check's question.
        predicted = simulate(self.cluster, src, dst, port, proto, 1)
        wrong = disagreements(predicted, pods, sources, failures)
        if wrong:
            raise AssertionError(
                f"the kernel disagrees with the tracer for {dst}:{port}/{proto} from {src}: "
                + "; ".join(wrong)
            )
        return Traffic(src, dst, port, proto, pods, sources, failures, True)

    def dns(self, name: str, qtype: str, src: str) -> DNSResult:
        from k8s_service_lab.netns.resolvconf import LabDNS

        self._ensure()
        server = LabDNS.of(self.cluster.dns).nameserver or "10.96.0.10"
        proc = subprocess.run(
            ["ip", "netns", "exec", self._namespace(src), sys.executable, "-c", _DNS_CLIENT,
             server, name, qtype],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(f"DNS {qtype} {name} from {src} failed: {proc.stderr[-400:]}")
        got = json.loads(proc.stdout)
        records = tuple((str(t), str(d)) for t, d in got["records"])
        observed = DNSResult(name, qtype, str(got["rcode"]), records)
        want = model_dns(self.cluster, name, qtype)
        if (observed.rcode, observed.records) != (want.rcode, want.records):
            raise AssertionError(
                f"the lab's DNS answered {observed.rcode} {observed.records}, the model "
                f"{want.rcode} {want.records}"
            )
        return observed
