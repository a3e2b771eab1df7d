"""xtables rulesets as objects: tables of chains, rules made of matches and a target.

A :class:`Ruleset` holds one IP family's tables; a :class:`Table` declares its chains and holds
its statements in order — appended rules, ``-I`` inserts and ``-X`` deletions — exactly as an
``iptables-restore`` payload lists them. Backends build these; the tracer walks them; real
nodes' ``iptables-save`` dumps parse into them (:func:`.xtables_parse.parse_save`).

    >>> from k8s_service_lab.netfilter.xtables_matches import Comment, Jump
    >>> t = Table("nat", (Chain("KUBE-SERVICES"), Chain("KUBE-SVC-A")),
    ...           (Rule("KUBE-SERVICES", (Comment("web"),), Jump("KUBE-SVC-A")),))
    >>> [r.target for r in t.rules("KUBE-SERVICES")]
    [Jump(chain='KUBE-SVC-A')]
    >>> check_jumps(Ruleset(4, (t,)), top_level=frozenset({"KUBE-SERVICES"}))
    ['nat: chain KUBE-SVC-A is declared but empty and jumped to']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netfilter.xtables_matches import Goto, Jump, Match, Target

__all__ = [
    "BUILTIN_CHAINS",
    "ZERO",
    "Chain",
    "Counters",
    "DeleteChain",
    "DumpError",
    "Insert",
    "Rule",
    "Ruleset",
    "Statement",
    "Table",
    "check_jumps",
]

# The kernel's built-in chains per table (iptable_filter.c, iptable_nat.c, ...), in the order
# iptables-save lists them.
BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}


class DumpError(ServiceLabError, ValueError):
    """A rule dump or restore payload that does not read: ``source:LINE: what is wrong``."""

    def __init__(self, message: str, *, source: str = "<string>", line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Counters:
    """Packet and byte counters, ``[packets:bytes]``."""

    packets: int
    bytes: int


ZERO = Counters(0, 0)


@dataclass(frozen=True, slots=True)
class Chain:
    """A chain declaration: ``:NAME POLICY [packets:bytes]``.

    ``policy`` is ``ACCEPT``/``DROP`` for built-in chains and ``None`` (written ``-``) for user
    chains; every declaration line carries counters, ``[0:0]`` for a fresh chain.
    """

    name: str
    policy: str | None = None
    counters: Counters = ZERO


@dataclass(frozen=True, slots=True)
class Rule:
    """``-A chain PIECES... [-j TARGET]``; a rule without target only counts (kube-proxy's FW)."""

    chain: str
    matches: tuple[Match, ...] = ()
    target: Target | None = None
    counters: Counters | None = None


@dataclass(frozen=True, slots=True)
class Insert:
    """``-I chain [position] ...``: the rule goes before the current rule ``position`` (1-based)."""

    rule: Rule
    position: int = 1


@dataclass(frozen=True, slots=True)
class DeleteChain:
    """``-X chain``: remove an (emptied) user chain."""

    name: str


Statement = Rule | Insert | DeleteChain


@dataclass(frozen=True, slots=True)
class Table:
    """One table: declared chains in order, then statements in order."""

    name: str
    chains: tuple[Chain, ...] = ()
    statements: tuple[Statement, ...] = ()

    def chain_names(self) -> list[str]:
        return [c.name for c in self.chains]

    def is_builtin(self, chain: str) -> bool:
        return chain in BUILTIN_CHAINS.get(self.name, ())

    def rules_by_chain(self) -> dict[str, list[Rule]]:
        """Each live chain's rules after applying the statements in order (-A, -I, -X)."""
        out: dict[str, list[Rule]] = {c.name: [] for c in self.chains}
        for st in self.statements:
            if type(st) is Rule:
                out.setdefault(st.chain, []).append(st)
            elif type(st) is Insert:
                rules = out.setdefault(st.rule.chain, [])
                rules.insert(st.position - 1, st.rule)
            elif type(st) is DeleteChain:
                out.pop(st.name, None)
        return out

    def rules(self, chain: str) -> list[Rule]:
        return self.rules_by_chain().get(chain, [])

    def deleted(self) -> list[str]:
        return [st.name for st in self.statements if type(st) is DeleteChain]


@dataclass(frozen=True, slots=True)
class Ruleset:
    """One IP family's tables (``family`` 4 for iptables, 6 for ip6tables)."""

    family: int
    tables: tuple[Table, ...] = ()

    def __str__(self) -> str:
        """The ``iptables-restore`` text of this ruleset (what kube-proxy would send)."""
        from k8s_service_lab.netfilter.xtables_text import to_restore  # text lives there

        return to_restore(self)

    def table(self, name: str) -> Table | None:
        for t in self.tables:
            if t.name == name:
                return t
        return None

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables)


def check_jumps(ruleset: Ruleset, *, top_level: frozenset[str] = frozenset()) -> list[str]:
    """Consistency problems, as upstream's ``checkIPTablesRuleJumps`` looks for them.

    Every ``-j``/``-g`` target and every ``-A`` chain must be declared (and not ``-X``-ed);
    no jump may lead to an empty user chain; every declared user chain other than those in
    ``top_level`` must be jumped to. Returns one message per problem, empty when consistent.
    """
    problems: list[str] = []
    for table in ruleset.tables:
        live = table.rules_by_chain()
        declared = set(live)
        jumped: set[str] = set()
        names = {c.name for c in table.chains}
        for chain, rules in live.items():
            if chain not in names and not table.is_builtin(chain):
                problems.append(f"{table.name}: rules appended to undeclared chain {chain}")
            for rule in rules:
                target = rule.target
                if type(target) is Jump or type(target) is Goto:
                    jumped.add(target.chain)
        for name in sorted(jumped):
            if name not in declared:
                problems.append(f"{table.name}: jump to undeclared chain {name}")
            elif not live[name] and not table.is_builtin(name) and name not in top_level:
                problems.append(f"{table.name}: chain {name} is declared but empty and jumped to")
        for declared_chain in table.chains:
            name = declared_chain.name
            unused = name not in jumped and name not in top_level
            if name in live and not table.is_builtin(name) and unused:
                problems.append(f"{table.name}: chain {name} is declared but never used")
    return problems
