"""What the CoreDNS ``kubernetes`` plugin knows about a name: the cluster read as DNS entries.

    >>> from k8s_service_lab.api import Namespace, ObjectMeta, Service
    >>> from k8s_service_lab.api.service import ServicePort, ServiceSpec
    >>> from k8s_service_lab.controlplane.dnszone import ZoneView
    >>> from k8s_service_lab.controlplane.store import Store
    >>> store = Store()
    >>> _ = store.create(Namespace(ObjectMeta(name="default")))
    >>> _ = store.create(Service(ObjectMeta(name="web", namespace="default"), ServiceSpec(
    ...     type="ClusterIP", cluster_ip="10.96.12.34", cluster_ips=("10.96.12.34",),
    ...     ports=(ServicePort(80, name="http", protocol="TCP"),))))
    >>> [(e.host, e.port, e.owner) for e in ZoneView(store).records(
    ...     "web.default.svc.cluster.local.", "cluster.local.")]
    [('10.96.12.34', 80, 'web.default.svc.cluster.local.')]

An :class:`Entry` is CoreDNS's ``msg.Service``: a host (an address, or a name that becomes a
CNAME), a port, and the domain it lives at (an SRV target). :mod:`.dns` turns entries into
records. Lookups raise :class:`NoSuchName` where CoreDNS returns ``errNoItems`` /
``errNsNotExposed`` / ``errInvalidRequest`` (an NXDOMAIN), and return ``[]`` where it returns
no entries and no error (NODATA). Mirrors ``plugin/kubernetes/{parse,kubernetes,reverse,ns}.go``
and ``object/endpoint.go`` of coredns/coredns.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from k8s_service_lab.api import EndpointSlice, Namespace, Pod, Resource, Service
from k8s_service_lab.controlplane.store import Clock

__all__ = [
    "DNS_SCHEMA_VERSION",
    "SERVICE_NAME_LABEL",
    "Entry",
    "NoSuchName",
    "PodMode",
    "Reader",
    "RecordRequest",
    "ZoneView",
    "endpoint_hostname",
    "parse_request",
]

R = TypeVar("R", bound=Resource)

#: kubernetes/dns docs/specification.md schema version, served as TXT ``dns-version.<zone>``.
DNS_SCHEMA_VERSION = "1.1.0"
#: How an EndpointSlice names its Service (CoreDNS indexes slices by it).
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class Reader(Protocol):
    """The read side of :class:`~k8s_service_lab.controlplane.client.Client`: a clock and list."""

    clock: Clock

    def list(self, kind: type[R], namespace: str | None = None) -> list[R]: ...


class PodMode(enum.StrEnum):
    """The plugin's ``pods`` option. kubeadm's (and so kind's) Corefile says ``insecure``."""

    DISABLED = "disabled"
    VERIFIED = "verified"
    INSECURE = "insecure"


class NoSuchName(Exception):
    """The plugin's name errors: the caller answers NXDOMAIN (or falls through)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``msg.Service``: ``host`` is an address, a target name, or ``None`` beside ``text``."""

    owner: str
    ttl: int
    host: str | None = None
    port: int | None = None
    text: str | None = None

    @property
    def kind(self) -> str:
        """``A``, ``AAAA``, ``CNAME`` or ``TXT`` (``msg.Service.HostType``)."""
        if self.text is not None:
            return "TXT"
        address = self.address
        if address is None:
            return "CNAME"
        return "A" if ipaddress.ip_address(address).version == 4 else "AAAA"

    @property
    def address(self) -> str | None:
        """The host as Go's ``net.ParseIP(...).String()`` prints it, or ``None`` for a name."""
        try:
            ip = ipaddress.ip_address(self.host or "")
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)  # Go's To4() treats ::ffff:a.b.c.d as IPv4
        return str(ip)


@dataclass(frozen=True, slots=True)
class RecordRequest:
    """``parseRequest``'s result; ``None`` for a label the name did not have."""

    pod_or_svc: str | None = None
    namespace: str | None = None
    service: str | None = None
    endpoint: str | None = None
    port: str | None = None
    protocol: str | None = None


def parse_request(name: str, zone: str) -> RecordRequest:
    """Split ``[_port._proto.|endpoint.]service.namespace.svc|pod.<zone>`` (lowercase, absolute).

    >>> parse_request("_http._tcp.web.default.svc.cluster.local.", "cluster.local.")
    RecordRequest(pod_or_svc='svc', namespace='default', service='web', endpoint=None, \
port='http', protocol='tcp')
    """
    base = name[: len(name) - len(zone)].rstrip(".") if name != zone else ""
    if base in ("", "svc", "pod"):
        return RecordRequest()  # the apex and the two subtrees exist: NODATA
    segs = base.split(".")
    kind = segs.pop()
    if kind not in ("svc", "pod"):
        raise NoSuchName(name)
    namespace = segs.pop() if segs else None
    service = segs.pop() if segs else None
    if not segs:
        return RecordRequest(kind, namespace, service)
    if len(segs) == 1:
        return RecordRequest(kind, namespace, service, endpoint=segs[0])
    if len(segs) == 2:
        # Outside multicluster zones two labels are always _port._protocol.
        port, proto = (s[1:] if s.startswith("_") else s for s in segs)
        return RecordRequest(kind, namespace, service, port=port, protocol=proto)
    raise NoSuchName(name)  # too long to be any Kubernetes name


def endpoint_hostname(ip: str, hostname: str | None, pod_name: str | None = None) -> str:
    """The label an endpoint answers to (``endpointHostname``): hostname, else dashed IP.

    ``pod_name`` counts only with the plugin's ``endpoint_pod_names`` option (off by default).

    >>> endpoint_hostname("10.244.1.5", None), endpoint_hostname("fd00:10:244::5", None)
    ('10-244-1-5', 'fd00-10-244--5')
    """
    if hostname:
        return hostname
    if pod_name:
        return pod_name
    return ip.replace(".", "-").replace(":", "-")


@dataclass(frozen=True, slots=True)
class _Published:
    """One published address of a slice, with that slice's ports (``None``: no ports)."""

    ip: str
    label: str
    ports: tuple[tuple[int | None, str, str], ...]


def _match(pattern: str | None, value: str) -> bool:
    # matchPortAndProtocol: a label the query did not give matches anything.
    return pattern is None or pattern.lower() == value.lower()


def _cluster_ips(svc: Service) -> tuple[str, ...]:
    if svc.spec.cluster_ips:
        return svc.spec.cluster_ips
    return (svc.spec.cluster_ip,) if svc.spec.cluster_ip else ()


def _ip_key(ip: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(ip)
    return (addr.version, int(addr))


class ZoneView:
    """The cluster as the plugin's informers see it, answering by name and by address."""

    def __init__(
        self,
        reader: Reader,
        *,
        domain: str = "cluster.local",
        ttl: int = 30,
        pods: PodMode = PodMode.INSECURE,
        endpoint_pod_names: bool = False,
    ) -> None:
        self.reader = reader
        self.primary_zone = domain.lower().rstrip(".") + "."
        self.ttl = ttl
        self.pods = pods
        self.endpoint_pod_names = endpoint_pod_names

    # -- forward lookups (Records / findServices / findPods) -------------------------------

    def records(self, name: str, zone: str) -> list[Entry]:
        """``Kubernetes.Records``: entries for ``name`` in ``zone`` (both lowercase, absolute)."""
        req = parse_request(name, zone)
        if req.pod_or_svc is None:
            return []
        if name.endswith((".in-addr.arpa.", ".ip6.arpa.")):
            raise NoSuchName(name)
        if req.namespace is None or not self._namespace_exists(req.namespace):
            raise NoSuchName(name)
        if req.pod_or_svc == "pod":
            return self._find_pods(req, zone)
        return self._find_services(req, zone)

    def _namespace_exists(self, namespace: str) -> bool:
        # namespaceExposed: no `namespaces` option, so only "does the Namespace exist".
        return any(ns.metadata.name == namespace for ns in self.reader.list(Namespace))

    def _find_pods(self, req: RecordRequest, zone: str) -> list[Entry]:
        if self.pods is PodMode.DISABLED:
            raise NoSuchName(zone)
        name = req.service
        if name is None:
            return []
        owner = f"{name}.{req.namespace}.pod.{zone}"
        # findPods: exactly three dashes and no "--" reads as IPv4, anything else as IPv6.
        if name.count("-") == 3 and "--" not in name:
            ip = name.replace("-", ".")
        else:
            ip = name.replace("-", ":")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise NoSuchName(owner) from None
        if self.pods is PodMode.INSECURE:
            return [Entry(owner, self.ttl, host=ip)]
        found = [
            Entry(owner, self.ttl, host=ip)
            for pod in self.reader.list(Pod, req.namespace)
            if pod.status.pod_ip == ip  # the plugin indexes pods by status.podIP only
        ]
        if not found:
            raise NoSuchName(owner)
        return found

    def _find_services(self, req: RecordRequest, zone: str) -> list[Entry]:
        if req.service is None:
            return []
        services = [
            s
            for s in self.reader.list(Service, req.namespace)
            if _match(req.service, str(s.metadata.name))
        ]
        entries: list[Entry] = []
        found = False
        for svc in sorted(services, key=lambda s: str(s.metadata.name)):
            base = f"{svc.metadata.name}.{svc.metadata.namespace}.svc.{zone}"
            if svc.spec.type == "ExternalName":
                # External services have no endpoints; an IP literal is no CNAME target.
                target = Entry(base, self.ttl, host=svc.spec.external_name or "")
                if req.endpoint is None and target.kind == "CNAME":
                    entries.append(target)
                    found = True
                continue
            if svc.spec.headless or req.endpoint is not None:
                for pub in self._published(svc):
                    if req.endpoint is not None and req.endpoint != pub.label.lower():
                        continue
                    for port, pname, proto in pub.ports:
                        if _match(req.port, pname) and _match(req.protocol, proto):
                            entries.append(Entry(f"{pub.label}.{base}", self.ttl, pub.ip, port))
                            found = True
                continue
            for sp in svc.spec.ports:
                if not (
                    _match(req.port, sp.name or "") and _match(req.protocol, sp.protocol or "TCP")
                ):
                    continue
                found = True
                entries.extend(Entry(base, self.ttl, ip, sp.port) for ip in _cluster_ips(svc))
        if not found:
            raise NoSuchName(f"{req.service}.{req.namespace}.svc.{zone}")
        return entries

    def _published(self, svc: Service) -> list[_Published]:
        """Ready endpoints of the Service's EndpointSlices, sorted by address.

        ``EndpointSliceToEndpoints``: only ``conditions.ready`` counts (unset = ready); the
        controller already set it true for not-ready and terminating pods when the Service
        has ``publishNotReadyAddresses``. Serving/terminating are read only with the
        non-default ``terminating_endpoints`` option, which this model does not offer.
        """
        published = self._slice_addresses(str(svc.metadata.namespace), str(svc.metadata.name))
        return sorted(published, key=lambda p: (_ip_key(p.ip), p.label))

    def _slice_addresses(self, namespace: str | None, service: str | None) -> Iterator[_Published]:
        for eps in self.reader.list(EndpointSlice, namespace):
            owner = eps.metadata.labels.get(SERVICE_NAME_LABEL)
            if owner is None or (service is not None and owner != service):
                continue
            ports: tuple[tuple[int | None, str, str], ...] = tuple(
                (p.port, p.name or "", p.protocol or "") for p in eps.ports
            ) or ((None, "", ""),)  # the plugin's sentinel port -1: A records, no SRV
            for ep in eps.endpoints:
                if ep.conditions.ready is False:
                    continue
                pod_name = None
                if self.endpoint_pod_names and ep.target_ref is not None:
                    name = ep.target_ref.name
                    pod_name = name if name is not None and len(name) < 64 else None
                for ip in ep.addresses:
                    if Entry("", 0, host=ip).address is None:
                        continue  # FQDN-type slices carry names, not addresses
                    yield _Published(ip, endpoint_hostname(ip, ep.hostname, pod_name), ports)

    # -- reverse lookups (serviceRecordForIP) and the server's own name (nsAddrs) ----------

    def reverse(self, ip: str) -> list[str]:
        """Names for ``ip``: the Service owning it as a clusterIP, else every endpoint name."""
        services = sorted(
            self.reader.list(Service),
            key=lambda s: (str(s.metadata.namespace), str(s.metadata.name)),
        )
        for svc in services:
            if ip in {_canonical(c) for c in _cluster_ips(svc)}:
                return [f"{svc.metadata.name}.{svc.metadata.namespace}.svc.{self.primary_zone}"]
        names: list[str] = []
        for eps in self.reader.list(EndpointSlice):
            owner = eps.metadata.labels.get(SERVICE_NAME_LABEL)
            if owner is None:
                continue
            for pub in self._slice_addresses(eps.metadata.namespace, owner):
                if _canonical(pub.ip) == ip:
                    names.append(
                        f"{pub.label}.{owner}.{eps.metadata.namespace}.svc.{self.primary_zone}"
                    )
        return sorted(set(names))

    def ns_addresses(self, zone: str) -> list[Entry]:
        """``nsAddrs``: the name and address of the Service in front of this CoreDNS replica.

        The replica is the first ``k8s-app=kube-dns`` pod in ``kube-system`` (by name); its
        addresses are looked up among endpoints, and each Service found contributes its
        primary clusterIP (or, headless, its endpoint names). No match: ``ns.dns.<zone>``
        at the pod's own addresses.
        """
        replicas = sorted(
            (
                p
                for p in self.reader.list(Pod, "kube-system")
                if p.metadata.labels.get("k8s-app") == "kube-dns" and p.status.pod_ip
            ),
            key=lambda p: str(p.metadata.name),
        )
        if not replicas:
            return []
        local = replicas[0].status.pod_ips or (str(replicas[0].status.pod_ip),)
        entries: list[Entry] = []
        for eps in self.reader.list(EndpointSlice):
            owner = eps.metadata.labels.get(SERVICE_NAME_LABEL)
            published = list(self._slice_addresses(eps.metadata.namespace, owner))
            if owner is None or not any(p.ip in local for p in published):
                continue
            for svc in self.reader.list(Service, eps.metadata.namespace):
                if svc.metadata.name != owner:
                    continue
                base = f"{svc.metadata.name}.{svc.metadata.namespace}.svc.{zone}"
                if svc.spec.headless:
                    entries.extend(Entry(f"{p.label}.{base}", self.ttl, p.ip) for p in published)
                elif svc.spec.cluster_ip:
                    entries.append(Entry(base, self.ttl, svc.spec.cluster_ip))
        if not entries:
            entries = [Entry(f"ns.dns.{zone}", self.ttl, ip) for ip in local]
        return entries


def _canonical(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip
