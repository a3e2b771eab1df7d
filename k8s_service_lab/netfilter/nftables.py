"""nftables objects: a table, its chains, sets, maps, elements and rules, and transactions.

An nftables program is a batch of commands (``add``, ``flush``, ``delete``) on objects of one
table, sent to the kernel as one atomic transaction — that is how kube-proxy's nftables mode
(through ``sigs.k8s.io/knftables``) talks to the kernel. Rules are tuples of *expressions*
(matches, lookups, statements, a verdict) rather than text, so a tracer can evaluate them; the
text appears only in :mod:`.nftables_text`::

    >>> from k8s_service_lab.netfilter.nftables_text import to_nft
    >>> tx = NftTransaction("ip", "kube-proxy", (
    ...     add(NftChain("services")),
    ...     add(NftRule("services", (AddrMatch("daddr", "10.96.0.1"), L4Proto("tcp"),
    ...                              Dnat("10.244.1.3:443")))),
    ... ))
    >>> print(to_nft(tx), end="")
    add chain ip kube-proxy services
    add rule ip kube-proxy services ip daddr 10.96.0.1 meta l4proto tcp dnat to 10.244.1.3:443

Keys of set and map elements are strings as nft writes them (``10.96.0.1``, ``tcp``,
``443``), joined by ``.`` for concatenated types; a map element's value is a :class:`Verdict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeAlias

__all__ = [
    "ACCEPT",
    "DROP",
    "REJECT",
    "RETURN",
    "AddrLookup",
    "AddrMatch",
    "AddrSet",
    "Command",
    "Counter",
    "CtState",
    "Dnat",
    "Expr",
    "Family",
    "FibLocal",
    "Field",
    "IfName",
    "L4Proto",
    "MarkCheck",
    "MarkSet",
    "Masquerade",
    "NftChain",
    "NftElement",
    "NftMap",
    "NftObject",
    "NftRule",
    "NftSet",
    "NftTable",
    "NftTransaction",
    "NumgenVmap",
    "SetUpdate",
    "Verb",
    "Verdict",
    "VmapLookup",
    "add",
    "delete",
    "flush",
    "goto",
    "jump",
]

#: ``ip`` or ``ip6``: kube-proxy makes one table per IP family.
Family: TypeAlias = Literal["ip", "ip6"]
#: What a transaction does to an object.
Verb: TypeAlias = Literal["add", "flush", "delete"]
#: A field a rule reads: addresses (``ip saddr``), the L4 protocol, the destination port.
Field: TypeAlias = Literal["saddr", "daddr", "l4proto", "dport"]


@dataclass(frozen=True, slots=True)
class NftTable:
    """``table <family> <name>``, with an optional comment."""

    family: Family
    name: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class NftChain:
    """A chain: *base* when it has a ``type``, ``hook`` and numeric ``priority``, else regular.

    Base chains are entered by the kernel at their hook, lowest priority first (``dstnat``
    is -100, ``srcnat`` 100); regular chains only by ``jump`` or ``goto``.
    """

    name: str
    type: str | None = None
    hook: str | None = None
    priority: int | None = None
    comment: str | None = None

    @property
    def is_base(self) -> bool:
        return self.hook is not None


@dataclass(frozen=True, slots=True)
class NftSet:
    """A named set, e.g. ``type ipv4_addr``; ``flags`` like ``dynamic``, ``timeout``, ``interval``.

    ``timeout`` (seconds) is the default lifetime of elements added from the packet path.
    """

    name: str
    type: str
    flags: tuple[str, ...] = ()
    timeout: int | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class NftMap:
    """A named map; kube-proxy's are verdict maps, ``type <key> : verdict``."""

    name: str
    type: str
    flags: tuple[str, ...] = ()
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """``accept``, ``drop``, ``reject``, ``return``, or ``jump``/``goto`` to ``chain``.

    ``jump`` comes back to the calling rule's chain; ``goto`` does not (a return then goes to
    whoever jumped to the caller).
    """

    kind: Literal["accept", "drop", "reject", "return", "jump", "goto"]
    chain: str | None = None


@dataclass(frozen=True, slots=True)
class NftElement:
    """An element of set or map ``container``: its key parts, and a map's :class:`Verdict`.

    ``timeout`` (seconds) overrides the set's default; ``comment`` is kept by the kernel.
    """

    container: str
    key: tuple[str, ...]
    value: Verdict | None = None
    comment: str | None = None
    timeout: int | None = None


# --- expressions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddrMatch:
    """``ip saddr 10.0.0.0/8`` / ``ip daddr != 127.0.0.0/8``: one address or prefix."""

    field: Literal["saddr", "daddr"]
    value: str
    negate: bool = False


@dataclass(frozen=True, slots=True)
class AddrSet:
    """``ip saddr != { a , b }``: an anonymous set of addresses or prefixes.

    ``compact`` writes the elements joined by a bare comma (``{ a,b }``), as kube-proxy writes
    its ServiceCIDRs; otherwise by `` , `` as in its source-range rules.
    """

    field: Literal["saddr", "daddr"]
    values: tuple[str, ...]
    negate: bool = False
    compact: bool = False


@dataclass(frozen=True, slots=True)
class AddrLookup:
    """``ip daddr @cluster-ips``: the address is (``negate``: is not) in a named set."""

    field: Literal["saddr", "daddr"]
    set_name: str
    negate: bool = False


@dataclass(frozen=True, slots=True)
class FibLocal:
    """``fib saddr type local``: the address is one of this host's own (a routing lookup)."""

    field: Literal["saddr", "daddr"]


@dataclass(frozen=True, slots=True)
class CtState:
    """``ct state new``: the packet's conntrack state is one of ``states``."""

    states: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class L4Proto:
    """``meta l4proto tcp``."""

    protocol: str


@dataclass(frozen=True, slots=True)
class IfName:
    """``iifname cni0`` / ``iifname != veth*`` (a trailing ``*`` is a prefix wildcard)."""

    name: str
    negate: bool = False


@dataclass(frozen=True, slots=True)
class MarkCheck:
    """``mark and <mask> == <value>``."""

    mask: str
    value: str


@dataclass(frozen=True, slots=True)
class VmapLookup:
    """``ip daddr . meta l4proto . th dport vmap @service-ips``: look the packet up, act.

    ``fields`` name the key parts in order; a miss falls through to the next expression's
    rule (no verdict).
    """

    fields: tuple[Field, ...]
    map_name: str


@dataclass(frozen=True, slots=True)
class NumgenVmap:
    """``numgen random mod N vmap { 0 : goto a , 1 : goto b }``: each target 1/N of the time."""

    targets: tuple[Verdict, ...]


@dataclass(frozen=True, slots=True)
class SetUpdate:
    """``update @set { ip saddr }``: add (or refresh the timeout of) the packet's address."""

    set_name: str
    field: Literal["saddr", "daddr"]


@dataclass(frozen=True, slots=True)
class MarkSet:
    """``mark set mark or 0x4000`` (``op`` ``or``) / ``mark set mark xor 0x4000``."""

    op: Literal["or", "xor"]
    value: str


@dataclass(frozen=True, slots=True)
class Dnat:
    """``dnat to 10.180.0.1:80`` (``[fd00::1]:80`` for IPv6)."""

    to: str


@dataclass(frozen=True, slots=True)
class Masquerade:
    """``masquerade`` (``fully-random``: random source ports, as kube-proxy always asks)."""

    fully_random: bool = False


@dataclass(frozen=True, slots=True)
class Counter:
    """``counter``: count packets and bytes."""


Expr: TypeAlias = (
    AddrMatch | AddrSet | AddrLookup | FibLocal | CtState | L4Proto | IfName | MarkCheck
    | VmapLookup | NumgenVmap | SetUpdate | MarkSet | Dnat | Masquerade | Counter | Verdict
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NftRule:
    """A rule of ``chain``: expressions evaluated left to right, then an optional comment."""

    chain: str
    exprs: tuple[Expr, ...]
    comment: str | None = None


NftObject: TypeAlias = NftTable | NftChain | NftSet | NftMap | NftElement | NftRule


class Command(NamedTuple):
    """One line of a transaction: a verb and the object it applies to."""

    verb: Verb
    obj: NftObject


# ``Command(verb, obj)`` goes through the NamedTuple's Python-level ``__new__``; building
# the tuple directly is the same object at half the cost (a large render makes 460,000).
_new_tuple = tuple.__new__


def add(obj: NftObject) -> Command:
    """``add``: create the object if missing (a rule is appended; an element inserted)."""
    return _new_tuple(Command, ("add", obj))


def flush(obj: NftObject) -> Command:
    """``flush``: empty a chain of its rules, or a set or map of its elements."""
    return _new_tuple(Command, ("flush", obj))


def delete(obj: NftObject) -> Command:
    """``delete``: remove the object (it must exist, and a chain must not be referenced)."""
    return _new_tuple(Command, ("delete", obj))


@dataclass(frozen=True, slots=True)
class NftTransaction:
    """The commands of one ``nft -f`` run on table ``family``/``table``: all or nothing."""

    family: Family
    table: str
    commands: tuple[Command, ...] = ()

    def __len__(self) -> int:
        return len(self.commands)

    def objects(self, kind: type[NftObject], verb: Verb | None = None) -> list[NftObject]:
        """The objects of one kind (and verb) the transaction touches, in order."""
        return [
            c.obj
            for c in self.commands
            if isinstance(c.obj, kind) and (verb is None or c.verb == verb)
        ]


def jump(chain: str) -> Verdict:
    return Verdict("jump", chain)


def goto(chain: str) -> Verdict:
    return Verdict("goto", chain)


def _direct_init(cls: type[Any]) -> None:
    """Give a frozen, slotted dataclass an ``__init__`` that fills its slots directly.

    The generated ``__init__`` of a frozen dataclass sets each field through
    ``object.__setattr__`` (the instance's own ``__setattr__`` refuses); calling each slot's
    descriptor does the same write a third faster, which a 10,000-Service render (a million
    objects) notices. Only ``__init__`` changes: the class keeps its fields, defaults,
    equality, hash, repr and immutability. The code is generated once per class at import,
    the way :mod:`dataclasses` generates its own.
    """
    names, params, env = [], [], {}
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING or not f.init:
            raise TypeError(f"{cls.__name__}.{f.name}: only plain fields are supported")
        env[f"set_{f.name}"] = cls.__dict__[f.name].__set__
        names.append(f.name)
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            env[f"default_{f.name}"] = f.default
            params.append(f"{f.name}=default_{f.name}")
    body = "".join(f"\n    set_{n}(self, {n})" for n in names) or "\n    pass"
    exec(f"def __init__(self, {', '.join(params)}):{body}", env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init


for _cls in (
    NftTable, NftChain, NftSet, NftMap, Verdict, NftElement, AddrMatch, AddrSet, AddrLookup,
    FibLocal, CtState, L4Proto, IfName, MarkCheck, VmapLookup, NumgenVmap, SetUpdate, MarkSet,
    Dnat, Masquerade, Counter, NftRule, NftTransaction,
):  # fmt: skip
    _direct_init(_cls)
del _cls

ACCEPT = Verdict("accept")
DROP = Verdict("drop")
REJECT = Verdict("reject")
RETURN = Verdict("return")
