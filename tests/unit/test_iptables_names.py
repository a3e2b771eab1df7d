"""Chain-name hashing against the reference §1.6 table (upstream fixture names)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.backends.iptables import (
    endpoint_chain_name,
    is_service_chain_name,
    port_proto_hash,
    service_port_chains,
)

SERVICE_HASHES = [
    ("ns1/svc1:p80", "XPGD46QRK7WJZT7O"),
    ("ns2/svc2:p80", "GNZBNJ2PO5MGZ6GT"),
    ("ns3/svc3:p80", "X27LE4BHSL4DOUIK"),
    ("ns4/svc4:p80", "4SW47YFZTEDKD3PK"),
    ("ns5/svc5:p80", "NUKIZ6OKUXPJNT4C"),
    ("ns2/svc2:p8080", "2VJB64SDSIJUP5T6"),
    ("ns4/svc4:p8082", "EBDQOQU5SJFXRIL3"),
]
ENDPOINT_CHAINS = [
    ("ns1/svc1:p80", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"),
    ("ns2/svc2:p80", "10.180.0.2:80", "KUBE-SEP-RS4RBKLTHTF2IUXJ"),
    ("ns3/svc3:p80", "10.180.0.3:80", "KUBE-SEP-OYPFS5VJICHGATKP"),
    ("ns4/svc4:p80", "10.180.0.4:80", "KUBE-SEP-UKSFD7AGPMPPLUHC"),
    ("ns4/svc4:p80", "10.180.0.5:80", "KUBE-SEP-C6EBXVWJJZMIWKLZ"),
    ("ns5/svc5:p80", "10.180.0.3:80", "KUBE-SEP-I77PXRDZVX7PMWMN"),
    ("ns1/svc1:p80", "10.0.0.0:80", "KUBE-SEP-DKGQUZGBKLTPAR56"),
    ("ns4/svc4:p8082", "10.4.0.1:8082", "KUBE-SEP-SU5STNODRYEWJAUF"),
    ("ns3/svc3:p8081", "203.0.113.4:8081", "KUBE-SEP-RUVVH7YV3PHQBDOS"),
    ("ns1/svc1:p80", "[fd00:10:180::1]:80", "KUBE-SEP-OGYCNMB4EMRUSJ6N"),
]


@pytest.mark.parametrize(("name", "digest"), SERVICE_HASHES)
def test_service_port_chains_share_one_hash(name: str, digest: str) -> None:
    chains = service_port_chains(name, "TCP")
    assert (chains.svc, chains.svl, chains.ext, chains.fw) == (
        f"KUBE-SVC-{digest}",
        f"KUBE-SVL-{digest}",
        f"KUBE-EXT-{digest}",
        f"KUBE-FW-{digest}",
    )


@pytest.mark.parametrize(("name", "endpoint", "chain"), ENDPOINT_CHAINS)
def test_endpoint_chain_names(name: str, endpoint: str, chain: str) -> None:
    assert endpoint_chain_name(name, "TCP", endpoint) == chain


def test_protocol_is_lowercased_and_part_of_the_hash() -> None:
    assert port_proto_hash("ns1/svc1:p80", "TCP") == port_proto_hash("ns1/svc1:p80", "tcp")
    assert port_proto_hash("ns1/svc1:p80", "UDP") != port_proto_hash("ns1/svc1:p80", "TCP")


def test_kind_system_service_names() -> None:
    # The chains every kind node has (hashes of the kubernetes and kube-dns ports).
    assert service_port_chains("default/kubernetes:https", "TCP").svc == "KUBE-SVC-NPX46M4PTMTKRN6Y"
    assert service_port_chains("kube-system/kube-dns:dns", "UDP").svc == "KUBE-SVC-TCOU7JCQXEZGVUNU"
    dns_tcp = service_port_chains("kube-system/kube-dns:dns-tcp", "TCP").svc
    assert dns_tcp == "KUBE-SVC-ERIFXISQEP7F7OF4"
    metrics = service_port_chains("kube-system/kube-dns:metrics", "TCP").svc
    assert metrics == "KUBE-SVC-JD5MR3NA4I4DYORP"


@settings(database=None, max_examples=200)
@given(st.text(min_size=1, max_size=40), st.sampled_from(["TCP", "UDP", "SCTP"]))
def test_names_fit_iptables_limit_and_are_base32(name: str, protocol: str) -> None:
    chains = service_port_chains(name, protocol)
    for chain in (chains.svc, chains.svl, chains.ext, chains.fw):
        assert len(chain) <= 28
        assert is_service_chain_name(chain)
    digest = base64.b32encode(hashlib.sha256((name + protocol.lower()).encode()).digest())
    assert chains.svc.endswith(digest.decode()[:16])


def test_top_level_chains_are_not_service_chains() -> None:
    assert not is_service_chain_name("KUBE-SERVICES")
    assert not is_service_chain_name("KUBE-MARK-MASQ")
