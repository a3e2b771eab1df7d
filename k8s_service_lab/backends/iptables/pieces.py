"""Pieces of kube-proxy's per-endpoint rules, built once and shared between rules and syncs.

A 10,000-Service cluster has a hundred thousand endpoint rules, and most of their pieces
repeat: the same ``-m statistic --probability`` values in every ``KUBE-SVC-`` chain, the same
``KUBE-SEP-`` name in a jump, a chain declaration and a ``--name``. Building each piece once
and sharing the object keeps a render cheap, and lets
:func:`~k8s_service_lab.netfilter.to_restore` (which caches text by object) write it once::

    >>> probability(3)
    '0.3333333333'
    >>> statistic(3) is statistic(3), statistic_only(3) == (statistic(3),)
    (True, True)
    >>> e = EndpointPieces("ns1/svc1:p80", "tcp", "10.180.0.1", 80)
    >>> e.sep, e.dnat.to, e.arrow[0].text
    ('KUBE-SEP-SXIVWICOYRO3J4NJ', '10.180.0.1:80', 'ns1/svc1:p80 -> 10.180.0.1:80')
"""

from __future__ import annotations

from k8s_service_lab.backends.iptables.names import endpoint_chain_name
from k8s_service_lab.netfilter import DNAT, Addr, Chain, Comment, Jump, Match, Recent, Statistic
from k8s_service_lab.proxy.model import join_host_port

__all__ = ["EndpointPieces", "probability", "statistic", "statistic_only"]


def probability(n: int) -> str:
    """``proxier.probability(n)``: ``1/n`` printed with Go's ``%0.10f``."""
    return f"{1.0 / n:0.10f}"


# Upstream precomputes these strings for n <= 1000; sharing the match objects also lets the
# serialiser render each one once.
_STATISTICS = tuple(
    Statistic("random", probability(n)) if n else Statistic("random", "0") for n in range(1001)
)


def statistic(n: int) -> Statistic:
    """The ``--probability 1/n`` match, shared for ``n <= 1000``."""
    return _STATISTICS[n] if n < len(_STATISTICS) else Statistic("random", probability(n))


# The same matches as one-element tuples: a rule without a comment shares them.
_STATISTIC_ONLY = tuple((s,) for s in _STATISTICS)


class EndpointPieces:
    """The pieces every rule of one endpoint (of one Service port) is built from.

    Built once per endpoint and shared by every render: the ``KUBE-SEP-`` hash is the costly
    part, and shared pieces let :func:`~k8s_service_lab.netfilter.to_restore` write each one
    once. The comment and the ``-m recent --set`` are made only when a render needs them.
    """

    __slots__ = ("_arrow", "_set", "chain", "dnat", "endpoint", "jump", "name", "sep", "source")

    def __init__(self, name: str, proto: str, ip: str, port: int) -> None:
        endpoint = join_host_port(ip, port)
        sep = endpoint_chain_name(name, proto, endpoint)
        self.name = name
        self.endpoint = endpoint
        self.sep = sep
        self.jump = Jump(sep)
        self.chain = Chain(sep)
        self.source: tuple[Match, ...] = (Addr("s", ip),)
        self.dnat = DNAT(endpoint)
        self._arrow: tuple[Match, ...] | None = None
        self._set: Recent | None = None

    @property
    def arrow(self) -> tuple[Match, ...]:
        """The per-endpoint comment of the KUBE-SVC rules, ``NAME -> IP:PORT``."""
        if self._arrow is None:
            self._arrow = (Comment(f"{self.name} -> {self.endpoint}"),)
        return self._arrow

    @property
    def recent_set(self) -> Recent:
        """``-m recent --name KUBE-SEP-... --set``: ClientIP affinity's record."""
        if self._set is None:
            self._set = Recent("set", name=self.sep)
        return self._set


def statistic_only(n: int) -> tuple[Match, ...]:
    """``(statistic(n),)``, the same tuple every time for ``n <= 1000``."""
    return _STATISTIC_ONLY[n] if n < len(_STATISTIC_ONLY) else (statistic(n),)
