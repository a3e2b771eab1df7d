"""Cluster DNS: the answers CoreDNS's ``kubernetes`` plugin gives, read from the cluster state.

    >>> from k8s_service_lab.api import Namespace, ObjectMeta, Service
    >>> from k8s_service_lab.api.service import ServicePort, ServiceSpec
    >>> from k8s_service_lab.controlplane.dns import ClusterDNS
    >>> from k8s_service_lab.controlplane.dnsrecords import format_answer
    >>> from k8s_service_lab.controlplane.store import Store
    >>> store = Store()
    >>> _ = store.create(Namespace(ObjectMeta(name="default")))
    >>> _ = store.create(Service(ObjectMeta(name="web", namespace="default"), ServiceSpec(
    ...     type="ClusterIP", cluster_ip="10.96.12.34", cluster_ips=("10.96.12.34",),
    ...     ports=(ServicePort(80, name="http", protocol="TCP"),))))
    >>> dns = ClusterDNS(store)
    >>> format_answer(dns.query("web.default.svc.cluster.local", "A")).split("\\t")
    ['web.default.svc.cluster.local.', '30', 'IN', 'A', '10.96.12.34']
    >>> dns.query("nope.default.svc.cluster.local", "A").rcode.value
    'NXDOMAIN'

The server modelled is the one kubeadm (and so kind) installs::

    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    forward . /etc/resolv.conf

so answers carry TTL 30 (the plugin's own default is 5), ``<a-b-c-d>.<ns>.pod`` names answer
unchecked, and reverse names the plugin cannot answer pass to ``forward``. The response
rules mirror ``plugin/kubernetes/handler.go`` and ``plugin/backend_lookup.go``: a name error
is NXDOMAIN with the zone's SOA in the authority section; a name with no records of the type
is NOERROR with that SOA (NODATA). Records come out sorted, where CoreDNS returns informer
order and its ``loadbalance`` plugin then shuffles address records.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable
from dataclasses import replace

from k8s_service_lab.controlplane.dnsrecords import (
    DNSAnswer,
    Rcode,
    ResourceRecord,
    SOAData,
    SRVData,
    address_from_reverse,
)
from k8s_service_lab.controlplane.dnszone import (
    DNS_SCHEMA_VERSION,
    Entry,
    NoSuchName,
    PodMode,
    Reader,
    ZoneView,
)

__all__ = ["DEFAULT_TTL", "PLUGIN_DEFAULT_TTL", "ClusterDNS", "PodMode", "Upstream"]

#: ``ttl 30`` in kubeadm's Corefile; the plugin's built-in default is 5 (``defaultTTL``).
DEFAULT_TTL = 30
PLUGIN_DEFAULT_TTL = 5
#: The ``dns-version`` TXT record's TTL (``Services`` in kubernetes.go).
SCHEMA_TXT_TTL = 28800
#: CoreDNS stops following CNAMEs inside its zone after this many (backend_lookup.go).
MAX_CNAME_CHAIN = 7

#: What answers for names the plugin hands on: ``forward . /etc/resolv.conf``.
Upstream = Callable[[str, str], DNSAnswer]


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _dedup(records: Iterable[ResourceRecord]) -> tuple[ResourceRecord, ...]:
    # dnsutil.Dedup drops identical RRs from a message's sections.
    return tuple(dict.fromkeys(records))


class ClusterDNS:
    """The ``kubernetes`` plugin over a cluster: :meth:`query` answers one question."""

    def __init__(
        self,
        reader: Reader,
        *,
        domain: str = "cluster.local",
        ttl: int = DEFAULT_TTL,
        pods: PodMode = PodMode.INSECURE,
        reverse_zones: tuple[str, ...] = ("in-addr.arpa", "ip6.arpa"),
        fallthrough: bool = True,
        endpoint_pod_names: bool = False,
        upstream: Upstream | None = None,
        serial: int | None = None,
    ) -> None:
        self.reader = reader
        self.view = ZoneView(
            reader, domain=domain, ttl=ttl, pods=pods, endpoint_pod_names=endpoint_pod_names
        )
        self.domain = self.view.primary_zone
        self.ttl = ttl
        self.zones = (self.domain, *(_fqdn(z.lower()) for z in reverse_zones))
        self.fallthrough = fallthrough
        self.upstream = upstream
        self._serial = serial

    # -- the handler (handler.go ServeDNS) ------------------------------------------------

    def query(self, name: str, qtype: str) -> DNSAnswer:
        """Answer ``qtype`` for ``name`` (relative names are taken as absolute)."""
        qname = _fqdn(name)
        lname = qname.lower()
        qtype = qtype.upper()
        zone = self._zone_of(lname)
        if zone is None:
            return self._forward(qname, qtype)
        zone_text = qname[len(qname) - len(zone) :]  # keeps the query's case, as CoreDNS does
        try:
            records, extra = self._dispatch(qname, lname, qtype, zone)
        except NoSuchName:
            if self.fallthrough and zone != self.domain:
                return self._forward(qname, qtype)
            return DNSAnswer(qname, qtype, Rcode.NXDOMAIN, authority=(self.soa(zone_text),))
        if not records:
            return DNSAnswer(qname, qtype, Rcode.NOERROR, authority=(self.soa(zone_text),))
        return DNSAnswer(qname, qtype, Rcode.NOERROR, _dedup(records), additional=_dedup(extra))

    def soa(self, zone: str) -> ResourceRecord:
        """The zone's SOA as ``plugin.SOA`` builds it: TTL and minimum = the plugin TTL."""
        zone = _fqdn(zone)
        data = SOAData(
            mname=f"ns.dns.{zone}",
            rname=f"hostmaster.{zone}",
            serial=self.serial(),
            refresh=7200,
            retry=1800,
            expire=86400,
            minimum=self.ttl,
        )
        return ResourceRecord(zone, min(300, self.ttl), "SOA", data)

    def serial(self) -> int:
        """The SOA serial: CoreDNS uses the Unix time of the last change it watched.

        The lab's clock at query time stands in for it unless a ``serial`` was given.
        """
        if self._serial is not None:
            return self._serial
        return int(self.reader.clock.now().timestamp())

    def _zone_of(self, lname: str) -> str | None:
        matches = [z for z in self.zones if lname == z or lname.endswith("." + z)]
        return max(matches, key=len) if matches else None

    def _forward(self, qname: str, qtype: str) -> DNSAnswer:
        if self.upstream is None:
            # forward with no reachable upstream answers SERVFAIL.
            return DNSAnswer(qname, qtype, Rcode.SERVFAIL, authoritative=False, forwarded=True)
        return replace(self.upstream(qname, qtype), forwarded=True)

    def _dispatch(
        self, qname: str, lname: str, qtype: str, zone: str
    ) -> tuple[list[ResourceRecord], list[ResourceRecord]]:
        if qtype in ("A", "AAAA"):
            return self._address(qname, lname, qtype, zone, ()), []
        if qtype == "SRV":
            return self._srv(qname, lname, zone)
        if qtype == "PTR":
            return self._ptr(qname, lname, zone), []
        if qtype == "TXT":
            entries = self._services(lname, qtype, zone)
            return [ResourceRecord(qname, e.ttl, "TXT", e.text or "") for e in entries], []
        if qtype == "CNAME":
            entries = self._services(lname, qtype, zone)
            if entries and entries[0].kind == "CNAME":
                return [
                    ResourceRecord(qname, entries[0].ttl, "CNAME", _fqdn(str(entries[0].host)))
                ], []
            return [], []
        if qtype == "SOA":
            return [self.soa(qname[len(qname) - len(zone) :])], []
        if qtype == "NS" and lname == zone:
            return self._ns(qname, zone)
        # Any other type: a fake A lookup tells NODATA from NXDOMAIN.
        self._address(qname, lname, "A", zone, ())
        return [], []

    # -- ServiceBackend.Services (kubernetes.go) --------------------------------------------

    def _services(self, lname: str, qtype: str, zone: str) -> list[Entry]:
        if qtype == "TXT":
            label = lname[: len(lname) - len(zone)].rstrip(".")
            if label == "dns-version":
                return [Entry(lname, SCHEMA_TXT_TTL, text=DNS_SCHEMA_VERSION)]
            return []  # TXT answers NODATA for every other name, existing or not
        if lname == f"ns.dns.{zone}":
            return [e for e in self.view.ns_addresses(zone) if e.kind == qtype]
        entries = self.view.records(lname, zone)
        if qtype == "SRV":
            entries = [e for e in entries if e.kind != "CNAME"]  # no SRV for ExternalName
        return entries

    # -- record builders (backend_lookup.go) ------------------------------------------------

    def _address(
        self,
        qname: str,
        lname: str,
        qtype: str,
        zone: str,
        previous: tuple[ResourceRecord, ...],
    ) -> list[ResourceRecord]:
        """``plugin.A`` / ``plugin.AAAA``: addresses of ``qtype``'s family, CNAMEs chased."""
        records: list[ResourceRecord] = []
        seen: set[str] = set()
        for entry in self._services(lname, qtype, zone):
            kind = entry.kind
            if kind == "CNAME":
                target = _fqdn(str(entry.host))
                if target.lower() == lname or len(previous) > MAX_CNAME_CHAIN:
                    continue  # x CNAME x, or a chain too long
                cname = ResourceRecord(qname, entry.ttl, "CNAME", target)
                if any(p.data == target for p in previous):
                    continue
                ltarget = target.lower()
                if ltarget == zone or ltarget.endswith("." + zone):
                    try:
                        chased = self._address(target, ltarget, qtype, zone, (*previous, cname))
                    except NoSuchName:
                        chased = []
                    if chased:
                        records += [cname, *chased]
                    continue
                # An outside target is resolved through the Corefile's upstream; with none
                # reachable the CNAME stands alone.
                records.append(cname)
                if self.upstream is not None:
                    records += self.upstream(target, qtype).answer
                continue
            address = entry.address
            if kind == qtype and address is not None and address not in seen:
                seen.add(address)
                records.append(ResourceRecord(qname, entry.ttl, qtype, address))
        return records

    def _srv(
        self, qname: str, lname: str, zone: str
    ) -> tuple[list[ResourceRecord], list[ResourceRecord]]:
        """``plugin.SRV``: priority 0, weight ``floor(100 / N)`` over all N entries."""
        entries = self._services(lname, "SRV", zone)
        records: list[ResourceRecord] = []
        extra: list[ResourceRecord] = []
        targets: set[tuple[str, int]] = set()
        addresses: set[tuple[str, str]] = set()
        # Every entry counts toward the total, portless ones and duplicates included (N
        # entries of default weight 100 at priority 0), so a dual-stack Service's single SRV
        # per port carries weight 50.
        total = 100 * len(entries)
        for entry in sorted(entries, key=lambda e: (e.owner, e.port or 0)):
            if entry.port is None:
                continue
            weight = max(1, math.floor(100.0 / float(total) * 100.0))
            address = str(entry.address)
            if (entry.owner, entry.port) not in targets:
                targets.add((entry.owner, entry.port))
                data = SRVData(0, weight, entry.port, entry.owner)
                records.append(ResourceRecord(qname, entry.ttl, "SRV", data))
            if (entry.owner, address) not in addresses:
                addresses.add((entry.owner, address))
                extra.append(ResourceRecord(entry.owner, entry.ttl, entry.kind, address))
        return records, sorted(extra, key=lambda r: (r.name, r.type, _ip_sort(str(r.data))))

    def _ptr(self, qname: str, lname: str, zone: str) -> list[ResourceRecord]:
        """``Kubernetes.Reverse``: a clusterIP's Service, else the endpoint names of the IP."""
        ip = address_from_reverse(lname)
        if ip is None:
            self.view.records(lname, zone)  # only decides NODATA vs NXDOMAIN
            return []
        names = self.view.reverse(ip)
        if not names:
            raise NoSuchName(lname)
        return [ResourceRecord(qname, self.ttl, "PTR", name) for name in names]

    def _ns(self, qname: str, zone: str) -> tuple[list[ResourceRecord], list[ResourceRecord]]:
        records: list[ResourceRecord] = []
        extra: list[ResourceRecord] = []
        for entry in self.view.ns_addresses(zone):
            records.append(ResourceRecord(qname, entry.ttl, "NS", entry.owner))
            extra.append(ResourceRecord(entry.owner, entry.ttl, entry.kind, str(entry.address)))
        return records, extra


def _ip_sort(text: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(text)
    return (addr.version, int(addr))
