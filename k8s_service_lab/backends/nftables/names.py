"""kube-proxy's nftables names: readable chain names with an 8-character hash in front.

Everything lives in one table (``ip kube-proxy`` / ``ip6 kube-proxy``), so names need no
``KUBE-`` prefix. A Service port's chains share one *base name*, ``HASH-ns/svc/proto/port``,
where ``HASH`` is the first 8 characters of standard base32 of the sha256 of the rest
(``hashAndTruncate``, ``servicePortChainNameBase`` in ``proxier.go``); an endpoint's base name
adds ``__ip/port`` (an IPv6 address with its colons turned into dots)::

    >>> names = service_port_names("ns1", "svc1", "p80", "tcp")
    >>> names.cluster, names.external
    ('service-ULMVA6XW-ns1/svc1/tcp/p80', 'external-ULMVA6XW-ns1/svc1/tcp/p80')
    >>> endpoint_names("ns1", "svc1", "p80", "tcp", "10.180.0.1", 80).chain
    'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80'
    >>> import base64, hashlib  # the same as the long way round:
    >>> base64.b32encode(hashlib.sha256(b"ns1/svc1/tcp/p80").digest()).decode()[:8]
    'ULMVA6XW'
    >>> endpoint_names("ns", "web", None, "tcp", "fd00::1", 80).affinity_set
    'affinity-L7ULKLEY-ns/web/tcp/__fd00..1/80'

The hash keeps names distinct when one is truncated (never in practice: at most 252
characters against the 240 allowed) and makes endpoint chains that differ in one digit easy
to tell apart. A ``/`` marks a chain as per-Service: no fixed chain name contains one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = [
    "CHAIN_NAME_BASE_MAX",
    "EndpointNames",
    "ServicePortNames",
    "endpoint_key",
    "endpoint_names",
    "hash_and_truncate",
    "is_affinity_set_name",
    "is_service_chain_name",
    "service_of_chain",
    "service_port_key",
    "service_port_names",
]

#: knftables.NameLengthMax (256) minus the longest prefix (16): ``chainNameBaseLengthMax``.
CHAIN_NAME_BASE_MAX = 256 - 16


# Standard base32 (RFC 4648) ten bits at a time: the 8 characters are the digest's first 40
# bits, so four table lookups replace base64.b32encode (pure Python, a third of a render).
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_PAIRS = tuple(_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024))


def hash_and_truncate(name: str) -> str:
    """``hashAndTruncate``: ``HASH8-name``, cut to 240 characters ending in ``...``."""
    n = int.from_bytes(hashlib.sha256(name.encode()).digest()[:5], "big")
    p = _PAIRS
    out = f"{p[n >> 30]}{p[(n >> 20) & 1023]}{p[(n >> 10) & 1023]}{p[n & 1023]}-{name}"
    if len(out) > CHAIN_NAME_BASE_MAX:
        out = out[: CHAIN_NAME_BASE_MAX - 3] + "..."
    return out


@dataclass(frozen=True, slots=True)
class ServicePortNames:
    """The four chain names of one Service port (``newServiceInfo``)."""

    cluster: str
    local: str
    external: str
    firewall: str


def service_port_key(namespace: str, name: str, port_name: str | None, protocol: str) -> str:
    """The unhashed part of a Service port's base name: ``ns/svc/proto/portName``."""
    return f"{namespace}/{name}/{protocol.lower()}/{port_name or ''}"


def service_port_names(
    namespace: str, name: str, port_name: str | None, protocol: str
) -> ServicePortNames:
    """``servicePortChainNameBase`` with each prefix; ``protocol`` is lower-cased."""
    base = hash_and_truncate(service_port_key(namespace, name, port_name, protocol))
    return ServicePortNames(
        f"service-{base}", f"local-{base}", f"external-{base}", f"firewall-{base}"
    )


@dataclass(frozen=True, slots=True)
class EndpointNames:
    """An endpoint's chain and its ClientIP-affinity set (``newEndpointInfo``)."""

    chain: str
    affinity_set: str


def endpoint_key(service_key: str, ip: str, port: int) -> str:
    """The unhashed part of an endpoint's base name: ``<service key>__ip/port``.

    ``service_key`` is :func:`service_port_key`'s; an IPv6 address has its colons turned
    into dots (``servicePortEndpointChainNameBase``).
    """
    return f"{service_key}__{ip.replace(':', '.')}/{port}"


def endpoint_names(
    namespace: str, name: str, port_name: str | None, protocol: str, ip: str, port: int
) -> EndpointNames:
    """``servicePortEndpointChainNameBase`` with the ``endpoint-`` and ``affinity-`` prefixes."""
    service = service_port_key(namespace, name, port_name, protocol)
    base = hash_and_truncate(endpoint_key(service, ip, port))
    return EndpointNames(f"endpoint-{base}", f"affinity-{base}")


def is_service_chain_name(chain: str) -> bool:
    """``isServiceChainName``: per-Service chains (and only they) contain a ``/``."""
    return "/" in chain


def service_of_chain(name: str) -> tuple[str, str] | None:
    """The ``(namespace, name)`` of the Service a per-Service chain or affinity set is for.

    ``prefix-HASH-ns/svc/...``: neither the prefix nor the base32 hash holds a ``-``, so the
    third ``-``-separated part starts with the Service's namespace and name::

        >>> service_of_chain("endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80")
        ('ns1', 'svc1')
        >>> service_of_chain("services") is None
        True
    """
    parts = name.split("-", 2)
    if len(parts) < 3 or "/" not in parts[2]:
        return None
    namespace, service = parts[2].split("/")[:2]
    return namespace, service


def is_affinity_set_name(name: str) -> bool:
    return name.startswith("affinity-")
