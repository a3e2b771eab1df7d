"""The pieces of an xtables rule: basic matches, match modules and targets, as frozen values.

A rule is a list of *pieces* in the order they were written (``-s``, ``-p``, ``-m comment ...``)
and one target. Each value keeps its arguments as they were written (``0x00004000``,
``0.3333333333``, ``172.30.0.41``); :mod:`.xtables_canon` derives what the kernel stores and
``iptables-save`` prints (``0x4000``, ``0.33333333349``, ``172.30.0.41/32``).

    >>> TcpUdp("tcp", dport=80).dport
    80
    >>> Mark("0x00004000", "0x00004000").value_int
    16384
    >>> from fractions import Fraction
    >>> Statistic(probability="0.5000000000").fraction() == Fraction(1, 2)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "DNAT",
    "SNAT",
    "Accept",
    "Addr",
    "AddrType",
    "Comment",
    "ConnMark",
    "ConnTrack",
    "Drop",
    "Fragment",
    "Goto",
    "Iface",
    "Jump",
    "Limit",
    "Log",
    "Mark",
    "MarkTarget",
    "Masquerade",
    "Match",
    "Multiport",
    "NfAcct",
    "Physdev",
    "PortSpec",
    "Protocol",
    "Recent",
    "Reject",
    "Return",
    "Set",
    "State",
    "Statistic",
    "Target",
    "TcpUdp",
    "UnknownMatch",
    "UnknownTarget",
]

# One port (80) or an inclusive range ((3001, 3005), written 3001:3005).
PortSpec = int | tuple[int, int]


# --- basic matches: iptables' own options, no module -------------------------------------


@dataclass(frozen=True, slots=True)
class Protocol:
    """``-p tcp``; ``module=True`` is kube-proxy's ``-m tcp -p tcp`` (load the module too)."""

    name: str
    invert: bool = False
    module: bool = False


@dataclass(frozen=True, slots=True)
class Addr:
    """``-s``/``-d`` (``direction`` ``"s"`` or ``"d"``) with an address or CIDR as written."""

    direction: str
    cidr: str
    invert: bool = False


@dataclass(frozen=True, slots=True)
class Iface:
    """``-i``/``-o`` (``direction`` ``"i"`` or ``"o"``); a trailing ``+`` is a prefix wildcard."""

    direction: str
    name: str
    invert: bool = False


@dataclass(frozen=True, slots=True)
class Fragment:
    """``-f``: second and later fragments only (``! -f``: unfragmented or first)."""

    invert: bool = False


# --- match modules (-m NAME) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comment:
    """``-m comment --comment TEXT``: matches everything, documents the rule."""

    text: str


@dataclass(frozen=True, slots=True)
class TcpUdp:
    """``-m tcp``/``-m udp``/``-m sctp`` ports, and tcp flags.

    ``module=False`` marks options written without their own ``-m`` (after kube-proxy's
    ``-m tcp -p tcp``, or loaded implicitly by ``-p tcp --dport 80``).
    ``tcp_flags`` is ``(mask, compare)`` as comma lists, e.g. ``("SYN,ACK", "SYN")``.
    """

    protocol: str
    sport: PortSpec | None = None
    dport: PortSpec | None = None
    sport_invert: bool = False
    dport_invert: bool = False
    tcp_flags: tuple[str, str] | None = None
    tcp_flags_invert: bool = False
    module: bool = True


@dataclass(frozen=True, slots=True)
class Multiport:
    """``-m multiport --dports 80,443:445``; ``option`` is ``sports``, ``dports`` or ``ports``."""

    option: str
    ports: tuple[PortSpec, ...]
    invert: bool = False


@dataclass(frozen=True, slots=True)
class AddrType:
    """``-m addrtype --dst-type LOCAL``: the kernel's routing-table view of an address."""

    src_type: str | None = None
    dst_type: str | None = None
    src_invert: bool = False
    dst_invert: bool = False
    limit_iface_in: bool = False
    limit_iface_out: bool = False


@dataclass(frozen=True, slots=True)
class ConnTrack:
    """``-m conntrack``: connection state (``NEW``, ``RELATED``, ``DNAT`` ...) and origin."""

    ctstate: tuple[str, ...] | None = None
    ctstate_invert: bool = False
    ctorigsrc: str | None = None
    ctorigsrc_invert: bool = False
    ctorigdst: str | None = None
    ctorigdst_invert: bool = False
    ctstatus: tuple[str, ...] | None = None
    ctstatus_invert: bool = False
    ctdir: str | None = None


@dataclass(frozen=True, slots=True)
class State:
    """``-m state --state RELATED,ESTABLISHED`` (the older spelling of conntrack's ctstate)."""

    states: tuple[str, ...]
    invert: bool = False


@dataclass(frozen=True, slots=True)
class Mark:
    """``-m mark --mark VALUE[/MASK]``: the packet's fwmark, values as written."""

    value: str
    mask: str | None = None
    invert: bool = False

    @property
    def value_int(self) -> int:
        return int(self.value, 0)

    @property
    def mask_int(self) -> int:
        return 0xFFFFFFFF if self.mask is None else int(self.mask, 0)


@dataclass(frozen=True, slots=True)
class Statistic:
    """``-m statistic``: ``--mode random --probability P`` or ``--mode nth --every N``.

    ``probability`` stays the decimal string written (``0.3333333333``): :meth:`fraction` is
    that number exactly, :meth:`kernel_fraction` what the kernel keeps (a 31-bit fraction).
    """

    mode: str = "random"
    probability: str | None = None
    every: int | None = None
    packet: int | None = None
    invert: bool = False

    def fraction(self) -> Fraction:
        if self.probability is None:
            raise ValueError("not a random statistic match")
        return Fraction(self.probability)

    def kernel_fraction(self) -> Fraction:
        # libxt_statistic: probability = lround(0x80000000 * strtod(text)).
        return Fraction(int(float(self.probability or "0") * 0x80000000 + 0.5), 0x80000000)


@dataclass(frozen=True, slots=True)
class Recent:
    """``-m recent``: a list of recently seen addresses (kube-proxy's ClientIP affinity).

    ``command`` is ``set``, ``rcheck``, ``update`` or ``remove``; ``side`` ``rsource``/``rdest``.
    """

    command: str
    name: str | None = None
    seconds: int | None = None
    hitcount: int | None = None
    reap: bool = False
    rttl: bool = False
    side: str | None = None
    mask: str | None = None
    invert: bool = False


@dataclass(frozen=True, slots=True)
class NfAcct:
    """``-m nfacct --nfacct-name NAME``: count in a named nfacct object (it must exist)."""

    name: str


@dataclass(frozen=True, slots=True)
class Physdev:
    """``-m physdev``: bridge ports; ``is_*`` are ``True``, ``False`` (written ``!``) or absent."""

    physdev_in: str | None = None
    in_invert: bool = False
    physdev_out: str | None = None
    out_invert: bool = False
    is_in: bool | None = None
    is_out: bool | None = None
    is_bridged: bool | None = None


@dataclass(frozen=True, slots=True)
class Set:
    """``-m set --match-set NAME dst,dst``: membership in an ipset."""

    name: str
    flags: str
    invert: bool = False


@dataclass(frozen=True, slots=True)
class Limit:
    """``-m limit --limit 5/min --limit-burst 7`` (rate as written; absent means default)."""

    rate: str | None = None
    burst: int | None = None


@dataclass(frozen=True, slots=True)
class UnknownMatch:
    """Any other module, kept verbatim: ``-m MODULE ARGS...``."""

    module: str
    args: tuple[str, ...] = ()


Match = (
    Protocol
    | Addr
    | Iface
    | Fragment
    | Comment
    | TcpUdp
    | Multiport
    | AddrType
    | ConnTrack
    | State
    | Mark
    | Statistic
    | Recent
    | NfAcct
    | Physdev
    | Set
    | Limit
    | UnknownMatch
)


# --- targets (-j / -g) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Jump:
    """``-j CHAIN``: run a user chain, come back on ``RETURN`` or its end."""

    chain: str


@dataclass(frozen=True, slots=True)
class Goto:
    """``-g CHAIN``: continue in a user chain and do not come back."""

    chain: str


@dataclass(frozen=True, slots=True)
class Accept:
    """``-j ACCEPT``."""


@dataclass(frozen=True, slots=True)
class Drop:
    """``-j DROP``."""


@dataclass(frozen=True, slots=True)
class Return:
    """``-j RETURN``."""


@dataclass(frozen=True, slots=True)
class Reject:
    """``-j REJECT [--reject-with TYPE]`` (absent: icmp-port-unreachable)."""

    with_: str | None = None


@dataclass(frozen=True, slots=True)
class DNAT:
    """``-j DNAT --to-destination IP[:PORT]``."""

    to: str | None = None
    random: bool = False
    persistent: bool = False


@dataclass(frozen=True, slots=True)
class SNAT:
    """``-j SNAT --to-source IP[:PORT]``."""

    to: str | None = None
    random: bool = False
    random_fully: bool = False
    persistent: bool = False


@dataclass(frozen=True, slots=True)
class Masquerade:
    """``-j MASQUERADE [--to-ports P[-Q]] [--random] [--random-fully]``."""

    to_ports: str | None = None
    random: bool = False
    random_fully: bool = False


@dataclass(frozen=True, slots=True)
class MarkTarget:
    """``-j MARK --or-mark 0x4000`` etc.; ``op`` is the option without dashes.

    ``op`` is one of ``set-xmark``, ``set-mark``, ``or-mark``, ``and-mark``, ``xor-mark``;
    every form is stored by the kernel as ``--set-xmark VALUE/MASK``.
    """

    op: str
    value: str
    mask: str | None = None


@dataclass(frozen=True, slots=True)
class ConnMark:
    """``-j CONNMARK``: ``op`` ``set-xmark``/``set-mark``/``save-mark``/``restore-mark``/..."""

    op: str
    value: str | None = None
    mask: str | None = None
    nfmask: str | None = None
    ctmask: str | None = None


@dataclass(frozen=True, slots=True)
class Log:
    """``-j LOG [--log-prefix P] [--log-level L]`` plus flags like ``log-uid``."""

    prefix: str | None = None
    level: str | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UnknownTarget:
    """Any other target extension, kept verbatim: ``-j NAME ARGS...``."""

    name: str
    args: tuple[str, ...] = ()


Target = (
    Jump
    | Goto
    | Accept
    | Drop
    | Return
    | Reject
    | DNAT
    | SNAT
    | Masquerade
    | MarkTarget
    | ConnMark
    | Log
    | UnknownTarget
)
