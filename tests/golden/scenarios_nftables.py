"""Upstream nftables ``proxier_test.go`` scenarios and helpers (reference §3.5).

The harness is the iptables one (``scenarios_iptables``: node ``test-node`` 192.168.0.2, pods
in 10.0.0.0/8, ClusterIPs in 172.30.0.0/16) with the nftables fake proxier's settings: mark
``0x4000``, ``--nodeport-addresses 192.168.0.2/32``. :data:`UPSTREAM_OVERALL` is the final
table upstream's ``TestOverallNFTablesRules`` expects (``baseRules`` plus the per-Service
lines), and :func:`sort_transaction` the order its ``assertNFTablesTransactionEqual`` compares
in. Shared by the unit tests and ``tests/golden/generate_nftables.py``.
"""

from __future__ import annotations

from k8s_service_lab.backends.nftables import NftablesBackend
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.netfilter.nftables import NftTransaction
from k8s_service_lab.netfilter.nftables_state import NftState
from tests.golden.scenarios_iptables import NODE


class FakeClock:
    """A monotonic clock the test moves by hand (stale chains wait a second)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fake_nft_backend(clock: FakeClock | None = None, **kw: object) -> NftablesBackend:
    """``NewFakeProxier(v1.IPv4Protocol)`` of the nftables tests."""
    return NftablesBackend(
        ClusterConfig.default(),
        NODE,
        masquerade_mark="0x4000",
        node_port_addresses=["192.168.0.2/32", "2001:db8::1/128"],
        clock=clock or FakeClock(),
        **kw,  # type: ignore[arg-type]
    )


class FakeNft:
    """The kernel side for tests: applies each sync's cleanup, then its payload."""

    def __init__(self, backend: NftablesBackend) -> None:
        self.backend = backend
        self.state = NftState(backend.opts.nft_family, "kube-proxy")

    def run(self, payload: NftTransaction) -> None:
        if self.backend.last_cleanup is not None:
            self.state.apply(self.backend.last_cleanup)
        self.state.apply(payload)


_ORDER = {"table": 10, "chain": 9, "rule": 8, "set": 7, "map": 6, "element": 5}


def sort_transaction(text: str) -> list[str]:
    """Upstream ``sortNFTablesTransaction``: drop blanks and ``#`` lines; order by object
    kind (table, chain, rule, set, map, element), then object name; rules keep their order,
    other lines of one object sort as text."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]

    def key(line: str) -> tuple[int, str, str]:
        words = line.split(" ")
        if len(words) < 5:
            return (0, "", "")
        kind = words[1]
        return (-_ORDER.get(kind, 0), words[4], "" if kind == "rule" else line)

    return sorted(lines, key=key)


_EP1 = "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
_EP2 = "endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80"
_EP3 = "endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80"
_EP4 = "endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80"
_EP5 = "endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80"
_EP6 = "endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
_AFF = "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
_S1, _S2 = "service-ULMVA6XW-ns1/svc1/tcp/p80", "service-42NFTM6N-ns2/svc2/tcp/p80"
_S3, _S4 = "service-4AT6LBPK-ns3/svc3/tcp/p80", "service-LAUZTJTB-ns4/svc4/tcp/p80"
_S5 = "service-HVFWP5L3-ns5/svc5/tcp/p80"
_X2, _X3 = "external-42NFTM6N-ns2/svc2/tcp/p80", "external-4AT6LBPK-ns3/svc3/tcp/p80"
_X4, _X5 = "external-LAUZTJTB-ns4/svc4/tcp/p80", "external-HVFWP5L3-ns5/svc5/tcp/p80"
_F5 = "firewall-HVFWP5L3-ns5/svc5/tcp/p80"
_MASQ = "jump mark-for-masquerade"

_BASE = """\
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }
add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check
add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
add element ip kube-proxy nodeport-ips { 192.168.0.2 }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
"""

_SERVICES = f"""\
add chain ip kube-proxy {_S1}
add rule ip kube-proxy {_S1} ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 {_MASQ}
add rule ip kube-proxy {_S1} numgen random mod 1 vmap {{ 0 : goto {_EP1} }}
add chain ip kube-proxy {_EP1}
add rule ip kube-proxy {_EP1} ip saddr 10.180.0.1 {_MASQ}
add rule ip kube-proxy {_EP1} meta l4proto tcp dnat to 10.180.0.1:80
add element ip kube-proxy cluster-ips {{ 172.30.0.41 }}
add element ip kube-proxy service-ips {{ 172.30.0.41 . tcp . 80 : goto {_S1} }}
add chain ip kube-proxy {_S2}
add rule ip kube-proxy {_S2} ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 {_MASQ}
add rule ip kube-proxy {_S2} numgen random mod 1 vmap {{ 0 : goto {_EP2} }}
add chain ip kube-proxy {_X2}
add rule ip kube-proxy {_X2} ip saddr 10.0.0.0/8 goto {_S2} comment "short-circuit pod traffic"
add rule ip kube-proxy {_X2} fib saddr type local {_MASQ} comment "masquerade local traffic"
add rule ip kube-proxy {_X2} fib saddr type local goto {_S2} comment "short-circuit local traffic"
add chain ip kube-proxy {_EP2}
add rule ip kube-proxy {_EP2} ip saddr 10.180.0.2 {_MASQ}
add rule ip kube-proxy {_EP2} meta l4proto tcp dnat to 10.180.0.2:80
add element ip kube-proxy cluster-ips {{ 172.30.0.42 }}
add element ip kube-proxy service-ips {{ 172.30.0.42 . tcp . 80 : goto {_S2} }}
add element ip kube-proxy service-ips {{ 192.168.99.22 . tcp . 80 : goto {_X2} }}
add element ip kube-proxy service-ips {{ 1.2.3.4 . tcp . 80 : goto {_X2} }}
add element ip kube-proxy service-nodeports {{ tcp . 3001 : goto {_X2} }}
add element ip kube-proxy no-endpoint-nodeports {{ tcp . 3001 comment "ns2/svc2:p80" : drop }}
add element ip kube-proxy no-endpoint-services {{ 1.2.3.4 . tcp . 80 comment "ns2/svc2:p80" : drop }}
add element ip kube-proxy no-endpoint-services {{ 192.168.99.22 . tcp . 80 comment "ns2/svc2:p80" : drop }}
add chain ip kube-proxy {_S3}
add rule ip kube-proxy {_S3} ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 {_MASQ}
add rule ip kube-proxy {_S3} numgen random mod 1 vmap {{ 0 : goto {_EP3} }}
add chain ip kube-proxy {_X3}
add rule ip kube-proxy {_X3} {_MASQ}
add rule ip kube-proxy {_X3} goto {_S3}
add chain ip kube-proxy {_EP3}
add rule ip kube-proxy {_EP3} ip saddr 10.180.0.3 {_MASQ}
add rule ip kube-proxy {_EP3} meta l4proto tcp dnat to 10.180.0.3:80
add element ip kube-proxy cluster-ips {{ 172.30.0.43 }}
add element ip kube-proxy service-ips {{ 172.30.0.43 . tcp . 80 : goto {_S3} }}
add element ip kube-proxy service-nodeports {{ tcp . 3003 : goto {_X3} }}
add chain ip kube-proxy {_S4}
add rule ip kube-proxy {_S4} ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 {_MASQ}
add rule ip kube-proxy {_S4} numgen random mod 2 vmap {{ 0 : goto {_EP4} , 1 : goto {_EP5} }}
add chain ip kube-proxy {_X4}
add rule ip kube-proxy {_X4} {_MASQ}
add rule ip kube-proxy {_X4} goto {_S4}
add chain ip kube-proxy {_EP5}
add rule ip kube-proxy {_EP5} ip saddr 10.180.0.5 {_MASQ}
add rule ip kube-proxy {_EP5} meta l4proto tcp dnat to 10.180.0.5:80
add chain ip kube-proxy {_EP4}
add rule ip kube-proxy {_EP4} ip saddr 10.180.0.4 {_MASQ}
add rule ip kube-proxy {_EP4} meta l4proto tcp dnat to 10.180.0.4:80
add element ip kube-proxy cluster-ips {{ 172.30.0.44 }}
add element ip kube-proxy service-ips {{ 172.30.0.44 . tcp . 80 : goto {_S4} }}
add element ip kube-proxy service-ips {{ 192.168.99.33 . tcp . 80 : goto {_X4} }}
add set ip kube-proxy {_AFF} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }}
add chain ip kube-proxy {_S5}
add rule ip kube-proxy {_S5} ip daddr 172.30.0.45 ip saddr != 10.0.0.0/8 {_MASQ}
add rule ip kube-proxy {_S5} ip saddr @{_AFF} goto {_EP6}
add rule ip kube-proxy {_S5} numgen random mod 1 vmap {{ 0 : goto {_EP6} }}
add chain ip kube-proxy {_X5}
add rule ip kube-proxy {_X5} {_MASQ}
add rule ip kube-proxy {_X5} goto {_S5}
add chain ip kube-proxy {_EP6}
add rule ip kube-proxy {_EP6} ip saddr 10.180.0.3 {_MASQ}
add rule ip kube-proxy {_EP6} update @{_AFF} {{ ip saddr }}
add rule ip kube-proxy {_EP6} meta l4proto tcp dnat to 10.180.0.3:80
add chain ip kube-proxy {_F5}
add rule ip kube-proxy {_F5} ip saddr != {{ 203.0.113.0/25 }} drop
add element ip kube-proxy cluster-ips {{ 172.30.0.45 }}
add element ip kube-proxy service-ips {{ 172.30.0.45 . tcp . 80 : goto {_S5} }}
add element ip kube-proxy service-ips {{ 5.6.7.8 . tcp . 80 : goto {_X5} }}
add element ip kube-proxy service-nodeports {{ tcp . 3002 : goto {_X5} }}
add element ip kube-proxy firewall-ips {{ 5.6.7.8 . tcp . 80 : goto {_F5} }}
add element ip kube-proxy cluster-ips {{ 172.30.0.46 }}
add element ip kube-proxy no-endpoint-services {{ 172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : goto reject-chain }}
"""

#: What ``TestOverallNFTablesRules`` expects knftables' fake to hold after the first sync.
UPSTREAM_OVERALL = _BASE + _SERVICES

#: Reference §3.4: chain names upstream's tests spell out, keyed by their unhashed name.
UPSTREAM_NAMES = {
    "ns1/svc1/tcp/p80": "ULMVA6XW",
    "ns2/svc2/tcp/p80": "42NFTM6N",
    "ns3/svc3/tcp/p80": "4AT6LBPK",
    "ns4/svc4/tcp/p80": "LAUZTJTB",
    "ns5/svc5/tcp/p80": "HVFWP5L3",
    "ns1/svc1/tcp/p80__10.180.0.1/80": "5OJB2KTY",
    "ns2/svc2/tcp/p80__10.180.0.2/80": "SGOXE6O3",
    "ns3/svc3/tcp/p80__10.180.0.3/80": "UEIP74TE",
    "ns4/svc4/tcp/p80__10.180.0.4/80": "UNZV3OEC",
    "ns4/svc4/tcp/p80__10.180.0.5/80": "5RFCDDV7",
    "ns5/svc5/tcp/p80__10.180.0.3/80": "GTK6MW7G",
}
