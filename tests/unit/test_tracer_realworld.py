"""The tracer on a real node's ``iptables-save`` (kubeadm + flannel, 2024)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from k8s_service_lab.netfilter import parse_save
from k8s_service_lab.tracer import NodeContext, Packet, Tracer

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real-world"
# The API server endpoint of this dump is 192.168.1.5:6443, i.e. this node; pods are 10.1/16.
NODE = NodeContext.of(["192.168.1.5", "127.0.0.1"], "10.1.0.0/16")


def _tracer(probabilities: str = "intended") -> Tracer:
    text = (FIXTURES / "kubeadm-flannel-2024.iptables-save").read_text()
    return Tracer(
        parse_save(text, source="kubeadm-flannel-2024"), NODE, probabilities=probabilities
    )


def test_pod_to_kube_dns_splits_between_two_coredns_pods() -> None:
    result = _tracer().arriving(Packet("10.1.0.70", "10.2.0.10", "udp", 40000, 53))
    assert result.verdict == "DNAT"
    assert result.endpoints == (
        ("10.1.0.64", 53, Fraction(1, 2)),
        ("10.1.0.67", 53, Fraction(1, 2)),
    )
    assert not result.masquerade
    hops = [h.comment for h in result.branches[0].hops]
    assert "kube-system/kube-dns:dns cluster IP" in hops


def test_kernel_probabilities_still_sum_to_one() -> None:
    result = _tracer("kernel").arriving(Packet("10.1.0.70", "10.2.0.10", "udp", 40000, 53))
    assert sum(p for _, _, p in result.endpoints) == 1
    assert sum(b.probability for b in result.branches) == 1


def test_node_to_api_server_service_is_masqueraded() -> None:
    result = _tracer().sent(Packet("192.168.1.5", "10.2.0.1", "tcp", 40000, 443))
    assert result.verdict == "DNAT"
    assert result.endpoints == (("192.168.1.5", 6443, Fraction(1)),)
    assert result.masquerade


def test_the_one_undecidable_rule_is_named() -> None:
    # mangle's "-o virbr0 ... -j CHECKSUM": the route's interface is not part of the packet.
    result = _tracer().arriving(Packet("10.1.0.70", "10.2.0.10", "udp", 40000, 53))
    assert result.uncertain
    assert len(result.not_evaluated) == 1
    assert "-o virbr0" in result.not_evaluated[0]
