"""A kube-proxy-shaped ruleset built from objects, and what the kernel printed for it.

``KERNEL_SAVE`` is the rule part of ``iptables-nft-save`` (v1.8.9, nf_tables) after loading
``to_restore(kube_proxy_sample())`` into an empty namespace with ``iptables-nft-restore
--noflush``; ``tests/kernel/test_netfilter_kernel.py`` re-checks it against the live kernel.
"""

from __future__ import annotations

from k8s_service_lab.netfilter import (
    DNAT,
    SNAT,
    Accept,
    Addr,
    AddrType,
    Chain,
    Comment,
    ConnMark,
    ConnTrack,
    DeleteChain,
    Drop,
    Fragment,
    Iface,
    Insert,
    Jump,
    Limit,
    Log,
    Mark,
    MarkTarget,
    Masquerade,
    Multiport,
    NfAcct,
    Physdev,
    Protocol,
    Recent,
    Reject,
    Return,
    Rule,
    Ruleset,
    State,
    Statistic,
    Table,
    TcpUdp,
    check_jumps,
    parse_save,
    to_restore,
    to_save,
)

NFACCT = ("ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts")
TCP = Protocol("tcp", module=True)
SVC = "KUBE-SVC-XPGD46QRK7WJZT7O"
SEP1, SEP2 = "KUBE-SEP-SXIVWICOYRO3J4NJ", "KUBE-SEP-RS4RBKLTHTF2IUXJ"
EXT = "KUBE-EXT-XPGD46QRK7WJZT7O"


def _port(n: int) -> TcpUdp:
    return TcpUdp("tcp", dport=n, module=False)


def kube_proxy_sample() -> Ruleset:
    """kube-proxy's shapes (reference §1.3-§1.9) plus the other modules real nodes use."""
    c = Comment("ns1/svc1:p80")
    f = [
        Insert(
            Rule(
                "INPUT",
                (
                    ConnTrack(ctstate=("NEW",)),
                    Comment("kubernetes externally-visible service portals"),
                ),
                Jump("KUBE-EXTERNAL-SERVICES"),
            )
        ),
        Insert(Rule("FORWARD", (Comment("kubernetes forwarding rules"),), Jump("KUBE-FORWARD"))),
        Rule(
            "KUBE-SERVICES",
            (Comment("ns6/svc6:p80 has no endpoints"), TCP, Addr("d", "172.30.0.46"), _port(80)),
            Reject(),
        ),
        Rule(
            "KUBE-EXTERNAL-SERVICES",
            (
                Comment("ns2/svc2:p80 has no local endpoints"),
                AddrType(dst_type="LOCAL"),
                TCP,
                _port(3001),
            ),
            Drop(),
        ),
        Rule(
            "KUBE-NODEPORTS",
            (Comment("ns2/svc2:p80 health check node port"), TCP, _port(30000)),
            Accept(),
        ),
        Rule(
            "KUBE-FIREWALL",
            (
                Comment("block incoming localnet connections"),
                Addr("d", "127.0.0.0/8"),
                Addr("s", "127.0.0.0/8", invert=True),
                ConnTrack(ctstate=("RELATED", "ESTABLISHED", "DNAT"), ctstate_invert=True),
            ),
            Drop(),
        ),
        Rule("KUBE-FORWARD", (ConnTrack(ctstate=("INVALID",)), NfAcct(NFACCT[0])), Drop()),
        Rule(
            "KUBE-FORWARD",
            (Comment("kubernetes forwarding rules"), Mark("0x00004000", "0x00004000")),
            Accept(),
        ),
        Rule(
            "KUBE-FORWARD",
            (
                Comment("kubernetes forwarding conntrack rule"),
                ConnTrack(ctstate=("RELATED", "ESTABLISHED")),
            ),
            Accept(),
        ),
        Rule(
            "KUBE-FORWARD",
            (
                Iface("i", "eth0"),
                Iface("o", "cni+", invert=True),
                Protocol("udp"),
                Multiport("dports", (53, (8000, 8080))),
            ),
            Accept(),
        ),
        Rule("KUBE-FORWARD", (Fragment(),), Drop()),
        Rule(
            "KUBE-FORWARD",
            (
                Protocol("tcp"),
                TcpUdp("tcp", sport=(1, 1023), sport_invert=True, tcp_flags=("SYN,ACK", "SYN")),
            ),
            Reject("tcp-reset"),
        ),
        Rule(
            "KUBE-FORWARD",
            (State(("ESTABLISHED", "NEW")), Physdev(physdev_in="br0", is_bridged=False)),
            Return(),
        ),
        Rule("KUBE-FORWARD", (Limit("6/minute", 7),), Log("dropped: ", "warning")),
    ]
    n = [
        Rule("KUBE-POSTROUTING", (Mark("0x00004000", "0x00004000", invert=True),), Return()),
        Rule("KUBE-POSTROUTING", (), MarkTarget("xor-mark", "0x00004000")),
        Rule(
            "KUBE-POSTROUTING",
            (Comment("kubernetes service traffic requiring SNAT"),),
            Masquerade(random_fully=True),
        ),
        Rule("KUBE-MARK-MASQ", (), MarkTarget("or-mark", "0x00004000")),
        Rule(
            "KUBE-SERVICES",
            (Comment("ns1/svc1:p80 cluster IP"), TCP, Addr("d", "172.30.0.41"), _port(80)),
            Jump(SVC),
        ),
        Rule(
            "KUBE-NODEPORTS",
            (c, TCP, Addr("d", "127.0.0.0/8"), _port(3001), NfAcct(NFACCT[1])),
            Jump(EXT),
        ),
        Rule("KUBE-NODEPORTS", (c, TCP, _port(3001)), Jump(EXT)),
        Rule(
            EXT,
            (Comment("masquerade traffic for ns1/svc1:p80 external destinations"),),
            Jump("KUBE-MARK-MASQ"),
        ),
        Rule(EXT, (), Jump(SVC)),
        Rule(
            SVC,
            (
                Comment("ns1/svc1:p80 cluster IP"),
                TCP,
                Addr("d", "172.30.0.41"),
                _port(80),
                Addr("s", "10.0.0.0/8", invert=True),
            ),
            Jump("KUBE-MARK-MASQ"),
        ),
        Rule(
            SVC,
            (
                Comment("ns1/svc1:p80 -> 10.180.0.1:80"),
                Recent("rcheck", name=SEP1, seconds=10800, reap=True),
            ),
            Jump(SEP1),
        ),
        Rule(
            SVC,
            (Comment("ns1/svc1:p80 -> 10.180.0.1:80"), Statistic(probability="0.3333333333")),
            Jump(SEP1),
        ),
        Rule(SVC, (Comment("ns1/svc1:p80 -> 10.180.0.2:80"),), Jump(SEP2)),
        Rule(SEP1, (c, Addr("s", "10.180.0.1")), Jump("KUBE-MARK-MASQ")),
        Rule(SEP1, (c, Recent("set", name=SEP1), TCP), DNAT("10.180.0.1:80")),
        Rule(SEP2, (c, Addr("s", "10.180.0.2")), Jump("KUBE-MARK-MASQ")),
        Rule(SEP2, (c, TCP), DNAT("10.180.0.2:80")),
        Rule(
            SEP2,
            (AddrType(src_type="LOCAL", limit_iface_out=True),),
            SNAT("192.168.0.2", random_fully=True),
        ),
        Rule(SEP2, (Protocol("udp"),), Masquerade("1024-65535")),
        Rule(
            "KUBE-SERVICES",
            (
                Comment(
                    "kubernetes service nodeports; NOTE: this must be the last rule in this chain"
                ),
                AddrType(dst_type="LOCAL"),
            ),
            Jump("KUBE-NODEPORTS"),
        ),
        DeleteChain("KUBE-SEP-STALE"),
    ]
    m = [
        Rule(
            "PREROUTING",
            (
                Iface("i", "eth0"),
                Comment("AWS, primary ENI"),
                AddrType(dst_type="LOCAL", limit_iface_in=True),
            ),
            ConnMark("set-xmark", "0x80", "0x80"),
        ),
        Rule(
            "PREROUTING",
            (Iface("i", "eni+"),),
            ConnMark("restore-mark", nfmask="0x80", ctmask="0x80"),
        ),
    ]
    filter_chains = (
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
        "KUBE-FIREWALL",
    )
    nat_chains = (
        "KUBE-SERVICES",
        "KUBE-NODEPORTS",
        "KUBE-POSTROUTING",
        "KUBE-MARK-MASQ",
        SVC,
        EXT,
        SEP1,
        SEP2,
        "KUBE-SEP-STALE",
    )
    return Ruleset(4, (
        Table("filter", tuple(Chain(x) for x in filter_chains), tuple(f)),
        Table("nat", tuple(Chain(x) for x in nat_chains), tuple(n)),
        Table("mangle", (), tuple(m)),
    ))  # fmt: skip


KERNEL_SAVE = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 3001 -j DROP
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-FORWARD -i eth0 ! -o cni+ -p udp -m multiport --dports 53,8000:8080 -j ACCEPT
-A KUBE-FORWARD -f -j DROP
-A KUBE-FORWARD -p tcp -m tcp ! --sport 1:1023 --tcp-flags SYN,ACK SYN -j REJECT --reject-with tcp-reset
-A KUBE-FORWARD -m state --state NEW,ESTABLISHED -m physdev --physdev-in br0 ! --physdev-is-bridged -j RETURN
-A KUBE-FORWARD -m limit --limit 6/min --limit-burst 7 -j LOG --log-prefix "dropped: "
-A KUBE-NODEPORTS -p tcp -m comment --comment "ns2/svc2:p80 health check node port" -m tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -d 172.30.0.46/32 -p tcp -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -d 127.0.0.0/8 -p tcp -m comment --comment "ns1/svc1:p80" -m tcp --dport 3001 -m nfacct --nfacct-name  localhost_nps_accepted_pkts -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-NODEPORTS -p tcp -m comment --comment "ns1/svc1:p80" -m tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -s 10.180.0.2/32 -m comment --comment "ns1/svc1:p80" -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -p tcp -m comment --comment "ns1/svc1:p80" -m tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m addrtype --src-type LOCAL --limit-iface-out -j SNAT --to-source 192.168.0.2 --random-fully
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -p udp -j MASQUERADE --to-ports 1024-65535
-A KUBE-SEP-SXIVWICOYRO3J4NJ -s 10.180.0.1/32 -m comment --comment "ns1/svc1:p80" -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -p tcp -m comment --comment "ns1/svc1:p80" -m recent --set --name KUBE-SEP-SXIVWICOYRO3J4NJ --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-XPGD46QRK7WJZT7O ! -s 10.0.0.0/8 -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-SXIVWICOYRO3J4NJ --mask 255.255.255.255 --rsource -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eth0 -m comment --comment "AWS, primary ENI" -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-xmark 0x80/0x80
-A PREROUTING -i eni+ -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80
COMMIT
"""


def test_save_text_is_what_the_kernel_printed() -> None:
    assert to_save(kube_proxy_sample()) == KERNEL_SAVE


def test_restore_text_is_kube_proxys_style() -> None:
    text = to_restore(kube_proxy_sample())
    lines = text.splitlines()
    assert lines[:8] == [
        "*filter",
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-EXTERNAL-SERVICES - [0:0]",
        ":KUBE-FORWARD - [0:0]",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-PROXY-FIREWALL - [0:0]",
        ":KUBE-FIREWALL - [0:0]",
        '-I INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    ]
    assert (
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O'
        in lines
    )
    assert (
        "-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-XPGD46QRK7WJZT7O"
        in lines
    )
    assert (
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80"
        in lines
    )
    assert (
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --rcheck --seconds 10800 --reap -j KUBE-SEP-SXIVWICOYRO3J4NJ'
        in lines
    )
    assert "-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000" in lines
    # -X comes where it was put: after the rules, before the NodePort tail rule's COMMIT.
    assert lines[lines.index("-X KUBE-SEP-STALE") + 1] == "COMMIT"


def test_restore_text_parses_back_to_the_same_objects() -> None:
    sample = kube_proxy_sample()
    assert parse_save(to_restore(sample)) == sample


def test_save_text_parses_back_and_prints_the_same() -> None:
    again = parse_save(KERNEL_SAVE)
    assert to_save(again) == KERNEL_SAVE


def test_sample_has_no_dangling_jumps() -> None:
    top = frozenset({"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ",
                     "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"})  # fmt: skip
    assert check_jumps(kube_proxy_sample(), top_level=top) == []
