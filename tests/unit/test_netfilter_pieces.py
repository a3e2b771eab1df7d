"""Each match and target: parsed from kube-proxy's text and from iptables-save's, printed in both.

Each case is (restore text as kube-proxy or a node would write it, the object it reads as,
the text iptables-save prints for it). The save texts are what iptables-nft-save 1.8.9
printed for the same rules in a scratch namespace, or what the real dumps in
``shared/fixtures/real-world`` show.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from k8s_service_lab.netfilter import (
    DNAT,
    SNAT,
    Accept,
    Addr,
    AddrType,
    Comment,
    ConnMark,
    ConnTrack,
    Drop,
    DumpError,
    Fragment,
    Goto,
    Iface,
    Jump,
    Limit,
    Log,
    Mark,
    MarkTarget,
    Masquerade,
    Match,
    Multiport,
    NfAcct,
    Physdev,
    Protocol,
    Recent,
    Reject,
    Return,
    Rule,
    Set,
    State,
    Statistic,
    Target,
    TcpUdp,
    UnknownMatch,
    UnknownTarget,
    parse_save,
    rule_text,
)


def _rule(text: str) -> Rule:
    rs = parse_save(f"*filter\n:C - [0:0]\n:OTHER - [0:0]\n{text}\nCOMMIT\n")
    rule = rs.tables[0].statements[0]
    assert isinstance(rule, Rule)
    return rule


MATCHES: list[tuple[str, tuple[Match, ...], str]] = [
    ("-s 10.0.0.1", (Addr("s", "10.0.0.1"),), "-s 10.0.0.1/32"),
    ("! -d 10.1.2.3/24", (Addr("d", "10.1.2.3/24", True),), "! -d 10.1.2.0/24"),
    ("-i eni+ ! -o docker0", (Iface("i", "eni+"), Iface("o", "docker0", True)), "-i eni+ ! -o docker0"),
    ("-p 6", (Protocol("6"),), "-p tcp"),
    ("! -p udp", (Protocol("udp", True),), "! -p udp"),
    ("-f", (Fragment(),), "-f"),
    ("-m comment --comment web", (Comment("web"),), "-m comment --comment web"),
    ('-m comment --comment "a b"', (Comment("a b"),), '-m comment --comment "a b"'),
    ('-m comment --comment "say \\"hi\\""', (Comment('say "hi"'),), '-m comment --comment "say \\"hi\\""'),
    ("-m comment --comment ns/web:http", (Comment("ns/web:http"),), '-m comment --comment "ns/web:http"'),
    ("-m tcp -p tcp --dport 80", (Protocol("tcp", module=True), TcpUdp("tcp", dport=80, module=False)), "-p tcp -m tcp --dport 80"),
    ("-p udp --sport 53", (Protocol("udp"), TcpUdp("udp", sport=53, module=False)), "-p udp -m udp --sport 53"),
    ("-p tcp -m tcp ! --dport 1000:2000 --tcp-flags ACK,SYN SYN", (Protocol("tcp"), TcpUdp("tcp", dport=(1000, 2000), dport_invert=True, tcp_flags=("ACK,SYN", "SYN"))), "-p tcp -m tcp ! --dport 1000:2000 --tcp-flags SYN,ACK SYN"),
    ("-p tcp -m multiport --dports 80,443:445", (Protocol("tcp"), Multiport("dports", (80, (443, 445)))), "-p tcp -m multiport --dports 80,443:445"),
    ("-m addrtype ! --src-type LOCAL --limit-iface-in", (AddrType(src_type="LOCAL", src_invert=True, limit_iface_in=True),), "-m addrtype ! --src-type LOCAL --limit-iface-in"),
    ("-m conntrack ! --ctstate ESTABLISHED,RELATED", (ConnTrack(ctstate=("ESTABLISHED", "RELATED"), ctstate_invert=True),), "-m conntrack ! --ctstate RELATED,ESTABLISHED"),
    ("-m conntrack --ctstate DNAT --ctorigdst 10.0.0.1", (ConnTrack(ctstate=("DNAT",), ctorigdst="10.0.0.1"),), "-m conntrack --ctstate DNAT --ctorigdst 10.0.0.1"),
    ("-m state --state NEW,ESTABLISHED", (State(("NEW", "ESTABLISHED")),), "-m state --state NEW,ESTABLISHED"),
    ("-m mark ! --mark 0x00004000/0x00004000", (Mark("0x00004000", "0x00004000", True),), "-m mark ! --mark 0x4000/0x4000"),
    ("-m mark --mark 8", (Mark("8"),), "-m mark --mark 0x8"),
    ("-m statistic --mode random --probability 0.2000000000", (Statistic(probability="0.2000000000"),), "-m statistic --mode random --probability 0.20000000019"),
    ("-m statistic --mode nth --every 3 --packet 1", (Statistic("nth", every=3, packet=1),), "-m statistic --mode nth --every 3 --packet 1"),
    ("-m recent --name S --rcheck --seconds 10800 --reap", (Recent("rcheck", "S", 10800, reap=True),), "-m recent --rcheck --seconds 10800 --reap --name S --mask 255.255.255.255 --rsource"),
    ("-m recent --update --hitcount 3 --rdest", (Recent("update", hitcount=3, side="rdest"),), "-m recent --update --hitcount 3 --name DEFAULT --mask 255.255.255.255 --rdest"),
    ("-m nfacct --nfacct-name c1", (NfAcct("c1"),), "-m nfacct --nfacct-name  c1"),
    ("-m physdev --physdev-out br0 ! --physdev-is-in", (Physdev(physdev_out="br0", is_in=False),), "-m physdev --physdev-out br0 ! --physdev-is-in"),
    ("-m set ! --match-set KUBE-CLUSTER-IP dst,dst", (Set("KUBE-CLUSTER-IP", "dst,dst", True),), "-m set ! --match-set KUBE-CLUSTER-IP dst,dst"),
    ("-m limit --limit 2/s --limit-burst 5", (Limit("2/s", 5),), "-m limit --limit 2/sec"),
    ("-m limit --limit 3/hour", (Limit("3/hour"),), "-m limit"),
    ("-m owner --uid-owner 0 ! --gid-owner 5", (UnknownMatch("owner", ("--uid-owner", "0", "!", "--gid-owner", "5")),), "-m owner --uid-owner 0 ! --gid-owner 5"),
    ("-m comment --comment x --unknown y", (UnknownMatch("comment", ("--comment", "x", "--unknown", "y")),), "-m comment --comment x --unknown y"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "pieces", "saved"), MATCHES, ids=[c[0] for c in MATCHES])
def test_match_reads_and_prints(text: str, pieces: tuple[Match, ...], saved: str) -> None:
    rule = _rule(f"-A C {text} -j ACCEPT")
    assert rule.matches == pieces
    assert rule_text(rule) == f"-A C {text} -j ACCEPT"
    assert rule_text(rule, save=True) == f"-A C {saved} -j ACCEPT"
    again = _rule(f"-A C {saved} -j ACCEPT")
    assert rule_text(again, save=True) == f"-A C {saved} -j ACCEPT"


TARGETS: list[tuple[str, Target, str]] = [
    ("-j OTHER", Jump("OTHER"), "-j OTHER"),
    ("-j UNDECLARED", Jump("UNDECLARED"), "-j UNDECLARED"),
    ("-g OTHER", Goto("OTHER"), "-g OTHER"),
    ("-j ACCEPT", Accept(), "-j ACCEPT"),
    ("-j DROP", Drop(), "-j DROP"),
    ("-j RETURN", Return(), "-j RETURN"),
    ("-j REJECT", Reject(), "-j REJECT --reject-with icmp-port-unreachable"),
    ("-j REJECT --reject-with host-prohib", Reject("host-prohib"), "-j REJECT --reject-with icmp-host-prohibited"),
    ("-j DNAT --to-destination 10.0.0.1:80 --random", DNAT("10.0.0.1:80", random=True), "-j DNAT --to-destination 10.0.0.1:80 --random"),
    ("-j SNAT --to-source 192.168.4.93 --random-fully", SNAT("192.168.4.93", random_fully=True), "-j SNAT --to-source 192.168.4.93 --random-fully"),
    ("-j MASQUERADE --random-fully", Masquerade(random_fully=True), "-j MASQUERADE --random-fully"),
    ("-j MASQUERADE --to-ports 1024-65535", Masquerade("1024-65535"), "-j MASQUERADE --to-ports 1024-65535"),
    ("-j MARK --or-mark 0x00004000", MarkTarget("or-mark", "0x00004000"), "-j MARK --set-xmark 0x4000/0x4000"),
    ("-j MARK --xor-mark 0x4000", MarkTarget("xor-mark", "0x4000"), "-j MARK --set-xmark 0x4000/0x0"),
    ("-j MARK --and-mark 0x4000", MarkTarget("and-mark", "0x4000"), "-j MARK --set-xmark 0x0/0xffffbfff"),
    ("-j MARK --set-mark 1", MarkTarget("set-mark", "1"), "-j MARK --set-xmark 0x1/0xffffffff"),
    ("-j CONNMARK --set-xmark 0x80/0x80", ConnMark("set-xmark", "0x80", "0x80"), "-j CONNMARK --set-xmark 0x80/0x80"),
    ("-j CONNMARK --restore-mark --mask 0x80", ConnMark("restore-mark", mask="0x80"), "-j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80"),
    ('-j LOG --log-prefix "x: " --log-level info --log-uid', Log("x: ", "info", ("log-uid",)), '-j LOG --log-prefix "x: " --log-level 6 --log-uid'),
    ("-j CHECKSUM --checksum-fill", UnknownTarget("CHECKSUM", ("--checksum-fill",)), "-j CHECKSUM --checksum-fill"),
    ("-j NOTRACK", UnknownTarget("NOTRACK"), "-j NOTRACK"),
    ("-j DNAT --to-destination 1.2.3.4 --newopt", UnknownTarget("DNAT", ("--to-destination", "1.2.3.4", "--newopt")), "-j DNAT --to-destination 1.2.3.4 --newopt"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "target", "saved"), TARGETS, ids=[c[0] for c in TARGETS])
def test_target_reads_and_prints(text: str, target: Target, saved: str) -> None:
    rule = _rule(f"-A C {text}")
    assert rule.target == target
    assert rule_text(rule) == f"-A C {text}"
    assert rule_text(rule, save=True) == f"-A C {saved}"
    assert _rule(f"-A C {saved}").target is not None


def test_kube_proxy_split_protocol_block() -> None:
    rule = _rule(
        "-A C -m comment --comment c -m tcp -p tcp -d 1.2.3.4 --dport 80 ! -s 10.0.0.0/8 -j ACCEPT"
    )
    assert rule.matches == (
        Comment("c"),
        Protocol("tcp", module=True),
        Addr("d", "1.2.3.4"),
        TcpUdp("tcp", dport=80, module=False),
        Addr("s", "10.0.0.0/8", True),
    )
    assert rule_text(rule, save=True) == (
        "-A C ! -s 10.0.0.0/8 -d 1.2.3.4/32 -p tcp -m comment --comment c -m tcp --dport 80 -j ACCEPT"
    )


def test_syn_is_its_flag_test() -> None:
    rule = _rule("-A C -p tcp -m tcp --syn -j ACCEPT")
    assert (
        rule_text(rule, save=True) == "-A C -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT"
    )


def test_target_may_be_followed_by_matches() -> None:
    rule = _rule("-A C -j ACCEPT -m comment --comment late")
    assert rule.target == Accept()
    assert rule.matches == (Comment("late"),)


def test_rule_without_target_and_with_counters() -> None:
    rs = parse_save("*nat\n:C - [0:0]\n[5:300] -A C -m comment --comment only-counts\nCOMMIT\n")
    rule = rs.tables[0].statements[0]
    assert isinstance(rule, Rule)
    assert rule.target is None
    assert rule.counters is not None
    assert rule.counters.bytes == 300
    assert rule_text(rule) == "[5:300] -A C -m comment --comment only-counts"


def test_probabilities_exact_and_as_the_kernel_keeps_them() -> None:
    stat = Statistic(probability="0.3333333333")
    assert stat.fraction() == Fraction(3333333333, 10**10)
    assert stat.kernel_fraction() == Fraction(715827883, 2**31)
    saved = {
        "0.5000000000": "0.50000000000", "0.2000000000": "0.20000000019",
        "0.1666666667": "0.16666666651", "0.1428571429": "0.14285714272",
        "0.1111111111": "0.11111111101", "0.1000000000": "0.10000000009",
    }  # fmt: skip
    for written, shown in saved.items():
        rule = Rule("C", (Statistic(probability=written),))
        assert rule_text(rule, save=True).endswith(f"--probability {shown}")


def test_ipv6_addresses_and_reject_default() -> None:
    rs = parse_save("*filter\n:C - [0:0]\n-A C -d fd00::1 -j REJECT\nCOMMIT\n", family=6)
    rule = rs.tables[0].statements[0]
    assert isinstance(rule, Rule)
    assert rule_text(rule, save=True, family=6) == (
        "-A C -d fd00::1/128 -j REJECT --reject-with icmp6-port-unreachable"
    )


BAD = [
    ("-A C -s 10.0.0.300 -j ACCEPT", "invalid address '10.0.0.300'"),
    ("-A C -s fd00::1 -j ACCEPT", "fd00::1 is not an IPv4 address"),
    ("-A C -p tcp --dport http -j ACCEPT", "invalid number 'http'"),
    ("-A C --dport 80 -j ACCEPT", "unexpected '--dport'"),
    ("-A C -m mark --mark zz -j ACCEPT", "invalid mark 'zz'"),
    ("-A C -m statistic --mode random --probability 2 -j ACCEPT", "invalid probability '2'"),
    ("-A C -m conntrack --ctstate BOGUS -j ACCEPT", "invalid state 'BOGUS'"),
    ("-A C -m comment ! --comment x -j ACCEPT", "option --comment cannot be inverted"),
    ("-A C -j", "-j needs a target name"),
    ("-A C -j ACCEPT -j DROP", "unexpected -j"),
    ("-A C ! ! -s 1.2.3.4", "! twice"),
    ("-A C -m comment --comment \"open", "unterminated quote"),
    ("-A C ! -m comment --comment x", "a match module cannot be inverted"),
    ("-Z C", "unknown command '-Z'"),
    ("[1:x] -A C", "invalid counters '[1:x]'"),
    (":C2 ACCEPT [0:0]", "user chain C2 cannot have policy ACCEPT"),
    (":C - [0:0]", "chain C declared twice"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_lines_name_file_and_line(line: str, message: str) -> None:
    with pytest.raises(DumpError) as info:
        parse_save(f"# dump\n*filter\n:C - [0:0]\n{line}\nCOMMIT\n", source="node.save")
    assert info.value.line == 4
    assert info.value.source == "node.save"
    assert str(info.value) == f"node.save:4: {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-A C -j ACCEPT\n", "<string>:1: '-A' outside a table (no *table line)"),
        ("*filter\n-A C -j ACCEPT\n", "<string>:3: table filter has no COMMIT"),
        ("*filter\n*nat\n", "<string>:2: table filter has no COMMIT before *nat"),
        ("*bogus\n", "<string>:1: unknown table 'bogus'"),
        ("*filter\n:INPUT - [0:0]\nCOMMIT\n", "<string>:2: built-in chain INPUT needs a policy ACCEPT or DROP, not -"),
    ],
)  # fmt: skip
def test_structural_errors(text: str, message: str) -> None:
    with pytest.raises(
        DumpError,
        match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*") + "$",
    ):
        parse_save(text)
