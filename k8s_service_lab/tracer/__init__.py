r"""The packet tracer: where a packet goes through a node's netfilter rules, and how likely.

:class:`Tracer` evaluates any :class:`~k8s_service_lab.netfilter.Ruleset` — our backends'
output or a real node's ``iptables-save`` parsed by :func:`~k8s_service_lab.netfilter.parse_save`.

    >>> from k8s_service_lab.netfilter import parse_save
    >>> rs = parse_save("*filter\n:INPUT DROP [0:0]\nCOMMIT\n")
    >>> Tracer(rs, NodeContext.of(["172.18.0.3"])).arriving(
    ...     Packet("1.2.3.4", "172.18.0.3", "tcp", 1234, 22)).verdict
    'DROP'
"""

from __future__ import annotations

from k8s_service_lab.tracer.engine import ARRIVING, SENT, TraceError, Tracer, merge
from k8s_service_lab.tracer.index import ChainIndex, rule_key
from k8s_service_lab.tracer.matches import Flow, evaluate
from k8s_service_lab.tracer.model import Branch, Hop, NodeContext, Packet, TraceResult
from k8s_service_lab.tracer.nft_engine import NftTraceError, NftTracer
from k8s_service_lab.tracer.packets import PacketError, packet_from_scapy, rewritten, to_scapy
from k8s_service_lab.tracer.report import EndpointName, TraceReport

__all__ = [
    "ARRIVING",
    "SENT",
    "Branch",
    "ChainIndex",
    "EndpointName",
    "Flow",
    "Hop",
    "NftTraceError",
    "NftTracer",
    "NodeContext",
    "Packet",
    "PacketError",
    "TraceError",
    "TraceReport",
    "TraceResult",
    "Tracer",
    "evaluate",
    "merge",
    "packet_from_scapy",
    "rewritten",
    "rule_key",
    "to_scapy",
]
