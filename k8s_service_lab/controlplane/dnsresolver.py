"""A pod's stub resolver: the resolv.conf kubelet writes, and the search glibc performs with it.

    >>> from k8s_service_lab.controlplane.dnsresolver import ResolvConf, search_candidates
    >>> conf = ResolvConf.cluster_first("default", nameserver="10.96.0.10")
    >>> print(conf.render(), end="")
    search default.svc.cluster.local svc.cluster.local cluster.local
    nameserver 10.96.0.10
    options ndots:5
    >>> search_candidates("web.other", conf)
    ('web.other.default.svc.cluster.local.', 'web.other.svc.cluster.local.', \
'web.other.cluster.local.', 'web.other.')

With ``dnsPolicy: ClusterFirst`` (the default) kubelet's ``generateSearchesForDNSClusterFirst``
puts ``<ns>.svc.<zone> svc.<zone> <zone>`` before the node's own search domains, and
``options ndots:5``. A name with fewer than five dots is therefore tried under every search
domain before it is tried as written, which is why ``web`` finds ``web.<ns>.svc.cluster.local``
and ``web.other`` finds the Service ``web`` of namespace ``other`` on the second suffix; a
trailing dot makes the name absolute and skips the search. :func:`resolve` runs that search
(glibc's ``__res_context_search``) against a :class:`~.dns.ClusterDNS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s_service_lab.api import Service
from k8s_service_lab.controlplane.dns import ClusterDNS
from k8s_service_lab.controlplane.dnsrecords import DNSAnswer, Rcode

__all__ = [
    "MAX_SEARCH_CHARS",
    "MAX_SEARCH_DOMAINS",
    "Resolution",
    "ResolvConf",
    "resolve",
    "search_candidates",
]

#: kubelet's limits on the merged search list (``validation.MaxDNSSearchPaths`` and
#: ``MaxDNSSearchListChars``); longer lists are truncated with a warning event.
MAX_SEARCH_DOMAINS = 32
MAX_SEARCH_CHARS = 2048


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """``/etc/resolv.conf`` inside a pod: nameservers, search list and ``ndots``."""

    search: tuple[str, ...]
    nameservers: tuple[str, ...] = ()
    ndots: int = 5

    @classmethod
    def cluster_first(
        cls,
        namespace: str,
        *,
        domain: str = "cluster.local",
        nameserver: str | None = None,
        node_search: tuple[str, ...] = (),
    ) -> ResolvConf:
        """What kubelet writes for ``dnsPolicy: ClusterFirst`` in ``namespace``.

        ``node_search`` is the node's own search list (kind nodes have none unless the
        cluster config sets ``networking.dnsSearch``). Duplicates are dropped and the list
        cut to kubelet's limits.
        """
        domain = domain.rstrip(".")
        wanted = (f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *node_search)
        search: list[str] = []
        chars = 0
        for item in dict.fromkeys(d.rstrip(".") for d in wanted if d):
            if len(search) == MAX_SEARCH_DOMAINS or chars + len(item) > MAX_SEARCH_CHARS:
                break
            search.append(item)
            chars += len(item) + (1 if len(search) > 1 else 0)
        return cls(tuple(search), (nameserver,) if nameserver else ())

    def render(self) -> str:
        """The file as the runtime writes kubelet's DNS config (containerd: search first)."""
        lines = [f"search {' '.join(self.search)}"] if self.search else []
        lines += [f"nameserver {ns}" for ns in self.nameservers]
        lines.append(f"options ndots:{self.ndots}")
        return "\n".join(lines) + "\n"


def search_candidates(name: str, conf: ResolvConf) -> tuple[str, ...]:
    """Every name glibc would ask for, in order, if each attempt failed.

    A trailing dot: the name alone. At least ``ndots`` dots: the name first, then the search
    domains. Fewer: the search domains first, then the name.
    """
    if name.endswith("."):
        return (name,)
    dots = name.count(".")
    with_search = tuple(f"{name}.{d}." for d in conf.search)
    if dots >= conf.ndots:
        return (f"{name}.", *with_search)
    return (*with_search, f"{name}.")


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a pod's resolver did: each query sent, with its answer, and the outcome."""

    name: str
    type: str
    conf: ResolvConf
    tries: tuple[DNSAnswer, ...]
    answer: DNSAnswer

    @property
    def queries(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tries)

    @property
    def found(self) -> bool:
        return bool(self.answer.answer)


def resolve(
    dns: ClusterDNS,
    name: str,
    qtype: str = "A",
    *,
    namespace: str = "default",
    conf: ResolvConf | None = None,
) -> Resolution:
    """Resolve ``name`` as a ``ClusterFirst`` pod in ``namespace`` would (glibc's search).

    The search stops at the first answer with records. NXDOMAIN and NODATA both move on to
    the next candidate (glibc counts NODATA and reports it if nothing better turns up), as
    does SERVFAIL; the returned :attr:`Resolution.answer` is then the first NODATA answer,
    else the first SERVFAIL, else the last answer.

    >>> from k8s_service_lab.controlplane.store import Store
    >>> from k8s_service_lab.api import Namespace, ObjectMeta
    >>> store = Store()
    >>> _ = store.create(Namespace(ObjectMeta(name="default")))
    >>> resolve(ClusterDNS(store), "example.com").queries[-1]
    'example.com.'
    """
    if conf is None:
        conf = ResolvConf.cluster_first(namespace, domain=dns.domain, nameserver=_kube_dns_ip(dns))
    tries: list[DNSAnswer] = []
    for candidate in search_candidates(name, conf):
        answer = dns.query(candidate, qtype)
        tries.append(answer)
        if answer.rcode is Rcode.NOERROR and answer.answer:
            return Resolution(name, qtype.upper(), conf, tuple(tries), answer)
    nodata = [t for t in tries if t.nodata]
    servfail = [t for t in tries if t.rcode is Rcode.SERVFAIL]
    final = (nodata or servfail or tries)[0 if nodata or servfail else -1]
    return Resolution(name, qtype.upper(), conf, tuple(tries), final)


def _kube_dns_ip(dns: ClusterDNS) -> str | None:
    """The nameserver kubelet is configured with: ``kube-system/kube-dns``'s clusterIP."""
    for svc in dns.reader.list(Service, "kube-system"):
        if svc.metadata.name == "kube-dns" and svc.spec.cluster_ip:
            return svc.spec.cluster_ip
    return None
