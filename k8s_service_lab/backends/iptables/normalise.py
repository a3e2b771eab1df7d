"""Put a payload in the order upstream's tests compare in (``sortIPTablesRules``).

kube-proxy walks a Go map, so Services come out in random order; only the order of rules
*within* a chain means anything. Upstream's ``proxier_test.go`` therefore sorts before diffing:
tables by name; chains ``KUBE-NODEPORTS``, ``KUBE-SERVICES``, then other ``KUBE-*`` chains,
then the rest, each group alphabetically; rules grouped by chain in that order; and inside
``KUBE-NODEPORTS`` / ``KUBE-SERVICES`` a stable sort by Service name (the comment up to its
first space or colon), the NodePort tail rule staying last::

    >>> from k8s_service_lab.netfilter import Chain, Comment, Jump, Rule, Ruleset, Table
    >>> t = Table("nat", (Chain("KUBE-SERVICES"), Chain("KUBE-NODEPORTS")),
    ...           (Rule("KUBE-SERVICES", (Comment("b/y cluster IP"),), Jump("X")),
    ...            Rule("KUBE-SERVICES", (Comment("a/x:p cluster IP"),), Jump("Y"))))
    >>> [c.name for c in sort_rules(Ruleset(4, (t,))).tables[0].chains]
    ['KUBE-NODEPORTS', 'KUBE-SERVICES']
    >>> [r.target.chain for r in sort_rules(Ruleset(4, (t,))).tables[0].statements]
    ['Y', 'X']
"""

from __future__ import annotations

from k8s_service_lab.backends.iptables.names import (
    EXTERNAL_SERVICES,
    FIREWALL,
    FORWARD,
    KUBELET_FIREWALL,
    MARK_MASQ,
    NODE_PORTS,
    POSTROUTING,
    SERVICES,
)
from k8s_service_lab.netfilter import Comment, DeleteChain, Insert, Rule, Ruleset, Statement, Table

__all__ = ["TOP_LEVEL_CHAINS", "sort_rules"]

#: Chains that may be declared without being jumped to from the payload itself (the jumps
#: come from built-in chains, installed separately) — upstream's consistency check exempts them.
TOP_LEVEL_CHAINS = frozenset(
    {SERVICES, EXTERNAL_SERVICES, NODE_PORTS, POSTROUTING, MARK_MASQ, FORWARD, FIREWALL,
     KUBELET_FIREWALL}
)  # fmt: skip
_TAIL_PREFIX = "kubernetes service nodeports;"


def _chain_key(name: str) -> tuple[int, str]:
    if name == NODE_PORTS:
        return (0, name)
    if name == SERVICES:
        return (1, name)
    return (2 if name.startswith("KUBE-") else 3, name)


def _service_key(rule: Rule) -> tuple[int, str]:
    for m in rule.matches:
        if type(m) is Comment:
            if m.text.startswith(_TAIL_PREFIX):
                return (1, "")
            text = m.text
            for i, ch in enumerate(text):
                if ch in " :":
                    return (0, text[:i])
            return (0, text)
    return (0, "")


def _chain_of(st: Statement) -> str:
    if type(st) is Insert:
        return st.rule.chain
    if type(st) is DeleteChain:
        return st.name
    assert type(st) is Rule
    return st.chain


def sort_table(table: Table) -> Table:
    chains = sorted(table.chains, key=lambda c: _chain_key(c.name))
    groups: dict[str, list[Statement]] = {}
    for st in table.statements:
        groups.setdefault(_chain_of(st), []).append(st)
    statements: list[Statement] = []
    for name in sorted(groups, key=_chain_key):
        group = groups[name]
        rules = [st for st in group if type(st) is Rule]
        others = [st for st in group if type(st) is not Rule]
        if name in (NODE_PORTS, SERVICES):
            rules.sort(key=_service_key)
        statements += rules
        statements += others
    return Table(table.name, tuple(chains), tuple(statements))


def sort_rules(ruleset: Ruleset) -> Ruleset:
    """A copy of ``ruleset`` in ``sortIPTablesRules`` order (meaning unchanged)."""
    tables = sorted(ruleset.tables, key=lambda t: t.name)
    return Ruleset(ruleset.family, tuple(sort_table(t) for t in tables))
