"""What a node's nftables rules hold, whoever wrote them down: the input of the nft tracer.

An :class:`NftRuleset` is a list of tables (:class:`NftTableDump`): chains with their hook,
priority and policy, sets and maps with their elements, and rules. It comes from three
places, and the tracer does not care which: our own transactions or an
:class:`~.nftables_state.NftState` (:meth:`NftRuleset.of`), ``nft list ruleset`` text
(:func:`~.nftables_parse.parse_nft`) and ``nft -j list ruleset`` JSON
(:func:`~.nftables_json.parse_nft_json`). A dump's rules are :class:`DumpRule` objects whose
expressions are those of :mod:`.nftables` plus the few forms only a kernel dump shows
(:class:`PortMatch` for ``tcp dport 80``, :class:`Snat`, :class:`OifName`); anything else
is kept, unread, as one :class:`Opaque` expression::

    >>> from k8s_service_lab.netfilter.nftables import NftChain, NftRule, NftTransaction, add
    >>> from k8s_service_lab.netfilter.nftables import NftTable, DROP
    >>> tx = NftTransaction("ip", "t", (add(NftTable("ip", "t")), add(NftChain("c")),
    ...                                 add(NftRule("c", (DROP,)))))
    >>> rs = NftRuleset.of(tx)
    >>> rs.table("ip", "t").rules["c"][0].exprs
    (Verdict(kind='drop', chain=None),)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from k8s_service_lab.netfilter.nftables import (
    Expr,
    NftChain,
    NftElement,
    NftMap,
    NftRule,
    NftSet,
    NftTable,
    NftTransaction,
)
from k8s_service_lab.netfilter.nftables_state import NftState

__all__ = [
    "PRIORITY_NAMES",
    "AnyRule",
    "DumpExpr",
    "DumpRule",
    "NftRuleset",
    "NftTableDump",
    "OifName",
    "Opaque",
    "PortMatch",
    "Snat",
]

#: nft's named base-chain priorities for the ip, ip6 and inet families (``nft(8)``).
PRIORITY_NAMES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50}
PRIORITY_NAMES["srcnat"] = 100


@dataclass(frozen=True, slots=True)
class PortMatch:
    """``tcp dport 8000`` / ``th dport != { 80, 443 }`` / ``udp sport 1-1024``.

    ``protocol`` ``th`` is any transport header with ports; a named protocol also requires
    the packet to be of that protocol. ``values`` are ports or ``lo-hi`` ranges.
    """

    protocol: str
    field: Literal["sport", "dport"]
    values: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Snat:
    """``snat to 192.168.0.1``: rewrite the source to a fixed address (ends the chain)."""

    to: str


@dataclass(frozen=True, slots=True)
class OifName:
    """``oifname "eth0"`` / ``oifname != "veth*"``: the interface the route sends it out of."""

    name: str
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Opaque:
    """A rule's text from the first expression not modelled to its end."""

    text: str


DumpExpr: TypeAlias = Expr | PortMatch | Snat | OifName | Opaque


@dataclass(frozen=True, slots=True)
class DumpRule:
    """A rule as a dump shows it: its expressions, comment, text and line in the dump."""

    chain: str
    exprs: tuple[DumpExpr, ...]
    comment: str | None = None
    text: str | None = None
    line: int | None = None


AnyRule: TypeAlias = NftRule | DumpRule


@dataclass(frozen=True, slots=True)
class NftTableDump:
    """One table: ``family`` (``ip``, ``ip6``, ``inet``, ...), chains in order, base-chain
    policies (absent: ``accept``), rules per chain, sets and maps, elements per container."""

    family: str
    name: str
    chains: tuple[NftChain, ...] = ()
    policies: Mapping[str, str] = field(default_factory=dict)
    rules: Mapping[str, tuple[AnyRule, ...]] = field(default_factory=dict)
    containers: Mapping[str, NftSet | NftMap] = field(default_factory=dict)
    elements: Mapping[str, tuple[NftElement, ...]] = field(default_factory=dict)
    comment: str | None = None

    def chain(self, name: str) -> NftChain:
        for c in self.chains:
            if c.name == name:
                return c
        raise KeyError(name)

    @staticmethod
    def of_state(state: NftState) -> NftTableDump:
        chains = state.chains()
        containers = state.containers()
        return NftTableDump(
            state.family,
            state.name,
            tuple(chains.values()),
            {},
            {name: tuple(state.rules(name)) for name in chains},
            containers,
            {name: tuple(state.elements(name)) for name in containers},
        )


@dataclass(frozen=True, slots=True)
class NftRuleset:
    """Every table a node holds, in order."""

    tables: tuple[NftTableDump, ...] = ()

    @staticmethod
    def of(*sources: NftRuleset | NftState | NftTransaction) -> NftRuleset:
        """One ruleset from parsed dumps, kernel states, or transactions.

        Transactions are replayed in order onto fresh tables, as ``nft -f`` would into an
        empty namespace, but without ``nft``'s checks: apply them to an
        :class:`~.nftables_state.NftState` to have them validated first.
        """
        tables: list[NftTableDump] = []
        replays: dict[tuple[str, str], _Replay] = {}
        for src in sources:
            if isinstance(src, NftRuleset):
                tables += src.tables
            elif isinstance(src, NftState):
                tables.append(NftTableDump.of_state(src))
            else:
                replays.setdefault((src.family, src.table), _Replay()).apply(src)
        tables += [r.dump(*key) for key, r in replays.items() if r.table is not None]
        return NftRuleset(tuple(tables))

    def table(self, family: str, name: str) -> NftTableDump:
        for t in self.tables:
            if (t.family, t.name) == (family, name):
                return t
        raise KeyError(f"{family} {name}")


class _Replay:
    """A table built by replaying commands: add, flush and delete, in order."""

    def __init__(self) -> None:
        self.table: NftTable | None = None
        self.chains: dict[str, NftChain] = {}
        self.rules: dict[str, list[NftRule]] = {}
        self.containers: dict[str, NftSet | NftMap] = {}
        self.elements: dict[str, dict[tuple[str, ...], NftElement]] = {}

    def apply(self, tx: NftTransaction) -> None:
        for verb, obj in tx.commands:
            if isinstance(obj, NftRule):
                self.rules[obj.chain].append(obj)
            elif isinstance(obj, NftElement):
                if verb == "add":
                    self.elements[obj.container].setdefault(obj.key, obj)
                elif verb == "delete":
                    self.elements[obj.container].pop(obj.key, None)
            elif isinstance(obj, NftChain):
                self._chain(verb, obj)
            elif isinstance(obj, NftSet | NftMap):
                self._container(verb, obj)
            elif verb == "delete":
                self.__init__()  # type: ignore[misc]
            else:
                self.table = self.table or obj

    def _chain(self, verb: str, obj: NftChain) -> None:
        if verb == "add":
            if obj.name not in self.chains or obj.is_base:
                self.chains[obj.name] = obj
            self.rules.setdefault(obj.name, [])
        elif verb == "flush":
            self.rules[obj.name] = []
        else:
            self.chains.pop(obj.name, None)
            self.rules.pop(obj.name, None)

    def _container(self, verb: str, obj: NftSet | NftMap) -> None:
        if verb == "add":
            self.containers.setdefault(obj.name, obj)
            self.elements.setdefault(obj.name, {})
        elif verb == "flush":
            self.elements[obj.name] = {}
        else:
            self.containers.pop(obj.name, None)
            self.elements.pop(obj.name, None)

    def dump(self, family: str, name: str) -> NftTableDump:
        return NftTableDump(
            family,
            name,
            tuple(self.chains.values()),
            {},
            {c: tuple(self.rules[c]) for c in self.chains},
            dict(self.containers),
            {c: tuple(e.values()) for c, e in self.elements.items()},
            None if self.table is None else self.table.comment,
        )
