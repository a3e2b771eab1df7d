"""What ``iptables-restore --noflush`` leaves in the kernel, payload after payload.

kube-proxy never flushes whole tables: it declares the chains it rewrites (a declaration
creates or empties a chain), appends their rules, deletes stale chains with ``-X``, and leaves
every chain it does not mention as it was — which is what makes partial syncs work. A
:class:`KernelTables` keeps that state so a series of payloads can be replayed, and prints it as
``iptables-save`` would::

    >>> from k8s_service_lab.netfilter import parse_save
    >>> kernel = KernelTables(4)
    >>> first = "*nat\\n:KUBE-SVC-A - [0:0]\\n-A KUBE-SVC-A -j RETURN\\nCOMMIT\\n"
    >>> kernel.restore(parse_save(first))
    >>> kernel.restore(parse_save("*nat\\n:KUBE-SVC-B - [0:0]\\nCOMMIT\\n"))
    >>> [c.name for c in kernel.ruleset().table("nat").chains][-2:]
    ['KUBE-SVC-A', 'KUBE-SVC-B']

Built-in chains always exist (with policy ACCEPT) and ``-I`` inserts at a position, as the
kernel does. A ``-X`` of a chain that does not exist, or that still has rules or references,
fails as ``iptables-restore`` would, with the whole payload left unapplied.
"""

from __future__ import annotations

from k8s_service_lab.netfilter.xtables import (
    BUILTIN_CHAINS,
    Chain,
    DeleteChain,
    DumpError,
    Insert,
    Rule,
    Ruleset,
    Table,
)
from k8s_service_lab.netfilter.xtables_matches import Goto, Jump

__all__ = ["KernelTables"]


class KernelTables:
    """One IP family's tables as the kernel holds them after ``--noflush`` restores."""

    def __init__(self, family: int = 4) -> None:
        self.family = family
        self._tables: dict[str, dict[str, list[Rule]]] = {}

    def _table(self, name: str) -> dict[str, list[Rule]]:
        if name not in self._tables:
            self._tables[name] = {chain: [] for chain in BUILTIN_CHAINS.get(name, ())}
        return self._tables[name]

    def restore(self, payload: Ruleset) -> None:
        """Apply one payload atomically: on any error nothing changes (one transaction)."""
        staged = {
            name: {c: list(r) for c, r in chains.items()} for name, chains in self._tables.items()
        }
        saved, self._tables = self._tables, staged
        try:
            for table in payload.tables:
                self._apply(table)
        except BaseException:
            self._tables = saved
            raise

    def ensure(self, rules: Ruleset) -> None:
        """``iptables -N`` / ``-C`` + ``-I``: make chains and rules exist, never duplicating.

        This is how kube-proxy (and kubelet) install their jumps into the built-in chains:
        a rule already present stays where it is, so whoever installed it first keeps the
        earlier place.
        """
        for table in rules.tables:
            chains = self._table(table.name)
            for chain in table.chains:
                chains.setdefault(chain.name, [])
            for st in table.statements:
                rule = st.rule if isinstance(st, Insert) else st
                if not isinstance(rule, Rule):
                    continue
                current = self._known(chains, table.name, rule.chain)
                if rule not in current:
                    position = st.position if isinstance(st, Insert) else len(current) + 1
                    current.insert(max(position - 1, 0), rule)

    def _apply(self, table: Table) -> None:
        chains = self._table(table.name)
        for chain in table.chains:
            chains[chain.name] = []  # declaring a chain creates it or empties it
        for st in table.statements:
            if isinstance(st, Rule):
                self._known(chains, table.name, st.chain).append(st)
            elif isinstance(st, Insert):
                rules = self._known(chains, table.name, st.rule.chain)
                rules.insert(max(st.position - 1, 0), st.rule)
            elif isinstance(st, DeleteChain):
                self._delete(chains, table.name, st.name)

    @staticmethod
    def _known(chains: dict[str, list[Rule]], table: str, name: str) -> list[Rule]:
        if name not in chains:
            raise DumpError(f"{table}: chain {name} does not exist", source="<restore>")
        return chains[name]

    @staticmethod
    def _delete(chains: dict[str, list[Rule]], table: str, name: str) -> None:
        if name not in chains or name in BUILTIN_CHAINS.get(table, ()):
            raise DumpError(f"{table}: cannot delete chain {name}", source="<restore>")
        if chains[name]:
            raise DumpError(f"{table}: chain {name} is not empty", source="<restore>")
        for rules in chains.values():
            for rule in rules:
                if isinstance(rule.target, Jump | Goto) and rule.target.chain == name:
                    raise DumpError(
                        f"{table}: chain {name} is still referenced", source="<restore>"
                    )
        del chains[name]

    def ruleset(self) -> Ruleset:
        """The tables now, built-in chains first, as ``iptables-save`` would list them."""
        tables = []
        for name, chains in sorted(self._tables.items()):
            builtin = BUILTIN_CHAINS.get(name, ())
            order = [c for c in builtin if c in chains] + sorted(
                c for c in chains if c not in builtin
            )
            tables.append(
                Table(
                    name,
                    tuple(Chain(c, "ACCEPT" if c in builtin else None) for c in order),
                    tuple(rule for c in order for rule in chains[c]),
                )
            )
        return Ruleset(self.family, tuple(tables))
