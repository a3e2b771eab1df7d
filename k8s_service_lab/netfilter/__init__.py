r"""The kernel's packet-filtering vocabulary as objects, with its text forms in and out.

``netfilter`` knows nothing of Kubernetes: backends translate Services into these objects,
the tracer evaluates them, and real nodes' dumps parse into the same objects.
:mod:`.xtables` holds tables, chains and rules; :mod:`.xtables_matches` the matches and
targets; :mod:`.xtables_text` writes ``iptables-restore`` and ``iptables-save`` text;
:mod:`.xtables_parse` reads either back.

    >>> from k8s_service_lab.netfilter import parse_save, to_save
    >>> rs = parse_save("*filter\n:FWD - [0:0]\n"
    ...                 "-A FWD -m mark --mark 0x00004000/0x00004000 -j ACCEPT\nCOMMIT\n")
    >>> print(to_save(rs).splitlines()[-2])
    -A FWD -m mark --mark 0x4000/0x4000 -j ACCEPT
"""

from __future__ import annotations

from k8s_service_lab.netfilter.nftables import NftTransaction
from k8s_service_lab.netfilter.nftables_dump import DumpRule, NftRuleset, NftTableDump
from k8s_service_lab.netfilter.nftables_json import parse_nft_json
from k8s_service_lab.netfilter.nftables_parse import parse_nft
from k8s_service_lab.netfilter.nftables_state import NftError, NftState
from k8s_service_lab.netfilter.nftables_text import to_nft
from k8s_service_lab.netfilter.restore import KernelTables
from k8s_service_lab.netfilter.xtables import (
    BUILTIN_CHAINS,
    Chain,
    Counters,
    DeleteChain,
    DumpError,
    Insert,
    Rule,
    Ruleset,
    Statement,
    Table,
    check_jumps,
)
from k8s_service_lab.netfilter.xtables_canon import canonical, canonical_rule, semantically_equal
from k8s_service_lab.netfilter.xtables_matches import (
    DNAT,
    SNAT,
    Accept,
    Addr,
    AddrType,
    Comment,
    ConnMark,
    ConnTrack,
    Drop,
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
    PortSpec,
    Protocol,
    Recent,
    Reject,
    Return,
    Set,
    State,
    Statistic,
    Target,
    TcpUdp,
    UnknownMatch,
    UnknownTarget,
)
from k8s_service_lab.netfilter.xtables_parse import parse_save
from k8s_service_lab.netfilter.xtables_text import rule_text, to_restore, to_save

__all__ = [
    "BUILTIN_CHAINS",
    "DNAT",
    "SNAT",
    "Accept",
    "Addr",
    "AddrType",
    "Chain",
    "Comment",
    "ConnMark",
    "ConnTrack",
    "Counters",
    "DeleteChain",
    "Drop",
    "DumpError",
    "DumpRule",
    "Fragment",
    "Goto",
    "Iface",
    "Insert",
    "Jump",
    "KernelTables",
    "Limit",
    "Log",
    "Mark",
    "MarkTarget",
    "Masquerade",
    "Match",
    "Multiport",
    "NfAcct",
    "NftError",
    "NftRuleset",
    "NftState",
    "NftTableDump",
    "NftTransaction",
    "Physdev",
    "PortSpec",
    "Protocol",
    "Recent",
    "Reject",
    "Return",
    "Rule",
    "Ruleset",
    "Set",
    "State",
    "Statement",
    "Statistic",
    "Table",
    "Target",
    "TcpUdp",
    "UnknownMatch",
    "UnknownTarget",
    "canonical",
    "canonical_rule",
    "check_jumps",
    "parse_nft",
    "parse_nft_json",
    "parse_save",
    "rule_text",
    "semantically_equal",
    "to_nft",
    "to_restore",
    "to_save",
]
