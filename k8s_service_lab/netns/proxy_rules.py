r"""The pure half of the lab's kube-proxy: what to send a node, read from rules, not the kernel.

:class:`~k8s_service_lab.netns.proxy.LabProxy` runs commands in node namespaces; the
decisions it makes about their rules live here, testable anywhere: which of kube-proxy's
jump rules a node still lacks (``EnsureRule``), which ``KUBE-`` chains a full sync must delete
because the kernel still has them, which payload line a restore tool blamed, how a full
nftables transaction is fitted to the table the kernel already holds, and which nfacct
counters a payload names::

    >>> from k8s_service_lab.netfilter import parse_save
    >>> sorted(counters_named(parse_save(
    ...     "*filter\n:F - [0:0]\n-A F -m nfacct --nfacct-name c1 -j ACCEPT\nCOMMIT\n")))
    ['c1']
"""

from __future__ import annotations

import re

from k8s_service_lab.backends.iptables.names import SERVICE_CHAIN_PREFIXES
from k8s_service_lab.backends.nftables.names import is_affinity_set_name, is_service_chain_name
from k8s_service_lab.netfilter import (
    Chain,
    DeleteChain,
    Insert,
    NfAcct,
    Rule,
    Ruleset,
    Table,
    canonical_rule,
)
from k8s_service_lab.netfilter.nftables import (
    Family,
    NftChain,
    NftSet,
    NftTransaction,
    Verb,
    delete,
    flush,
)
from k8s_service_lab.netfilter.nftables_dump import NftRuleset, NftTableDump

__all__ = [
    "chain_or_set_names",
    "counters_named",
    "delete_stale_chains",
    "missing_jumps",
    "nft_culprit",
    "nft_family",
    "nft_table_view",
    "restore_culprit",
    "with_kernel_leftovers",
]


def missing_jumps(jumps: Ruleset, current: Ruleset) -> Ruleset:
    """The part of ``jumps`` not yet in ``current``: chains to create and rules to insert.

    ``EnsureChain`` creates a chain only when absent (so an existing one keeps its rules) and
    ``EnsureRule(Prepend)`` checks with ``-C`` before inserting at the top.
    """
    fam = jumps.family
    have = {t.name: t for t in current.tables}
    tables = []
    for table in jumps.tables:
        there = have.get(table.name)
        chains = {c.name for c in there.chains} if there is not None else set()
        rules = there.rules_by_chain() if there is not None else {}
        canon = {name: {canonical_rule(r, fam) for r in rs} for name, rs in rules.items()}
        new_chains = tuple(c for c in table.chains if c.name not in chains)
        statements = []
        for st in table.statements:
            rule = st.rule if isinstance(st, Insert) else st
            if not isinstance(rule, Rule):
                continue
            if canonical_rule(rule, fam) not in canon.get(rule.chain, set()):
                statements.append(st)
        if new_chains or statements:
            tables.append(Table(table.name, new_chains, tuple(statements)))
    return Ruleset(fam, tuple(tables))


def delete_stale_chains(payload: Ruleset, kernel: Ruleset) -> Ruleset:
    """A full ``payload`` that also deletes the kernel's per-Service nat chains it leaves unused.

    kube-proxy lists the nat table before writing (``iptables-save -t nat``,
    ``GetChainsFromTable``) and ends its nat section with ``:CHAIN`` + ``-X CHAIN`` for every
    ``KUBE-SVC-``/``SVL-``/``EXT-``/``FW-``/``SEP-`` chain no Service uses, just before the
    NodePort rule that must stay last. Our backend remembers what it wrote instead, which is
    right until a restore fails; a full sync after that asks the kernel, as upstream does.
    """
    nat = payload.table("nat")
    there = kernel.table("nat")
    if nat is None or there is None:
        return payload
    declared = {c.name for c in nat.chains}
    deleted = {st.name for st in nat.statements if isinstance(st, DeleteChain)}
    stale = sorted(
        c.name
        for c in there.chains
        if c.name.startswith(SERVICE_CHAIN_PREFIXES) and c.name not in declared | deleted
    )
    if not stale:
        return payload
    statements = list(nat.statements)
    at = len(statements) - 1 if statements and isinstance(statements[-1], Rule) else len(statements)
    statements[at:at] = [DeleteChain(c) for c in stale]
    chains = (*nat.chains, *(Chain(c) for c in stale))
    fixed = Table(nat.name, chains, tuple(statements))
    return Ruleset(payload.family, tuple(fixed if t is nat else t for t in payload.tables))


def restore_culprit(stderr: str, payload: str) -> tuple[int | None, str | None]:
    """The payload line ``iptables-restore`` complained about, from its error text.

    Both tools end with ``Error occurred at line: N`` (the nft-backed one may also say
    ``line N failed``). The nft-backed tool checks jumps only when the transaction commits,
    so it blames the ``COMMIT`` line and names the chain (``Chain 'X' does not exist``); then
    the first rule of that table jumping to the chain is the culprit.
    """
    lines = payload.splitlines()
    for found in re.findall(r"line:? (\d+)", stderr):
        n = int(found)
        if not 0 < n <= len(lines):
            continue
        missing = re.search(r"Chain '([^']+)' does not exist", stderr)
        if lines[n - 1] == "COMMIT" and missing is not None:
            start = max((i for i in range(n - 1) if lines[i].startswith("*")), default=0)
            for i in range(start, n - 1):
                if lines[i].endswith(f" -j {missing[1]}") or f" -j {missing[1]} " in lines[i]:
                    return i + 1, lines[i]
        return n, lines[n - 1]
    return None, None


def nft_culprit(stderr: str, text: str) -> tuple[int | None, str | None]:
    """The transaction line ``nft -f -`` refused: it says ``/dev/stdin:LINE:COLUMNS: Error``."""
    lines = text.splitlines()
    for found in re.findall(r"^\S*?:(\d+):\d+(?:-\d+)?: Error", stderr, flags=re.MULTILINE):
        n = int(found)
        if 0 < n <= len(lines):
            return n, lines[n - 1]
    return None, None


def with_kernel_leftovers(
    tx: NftTransaction, kernel: NftRuleset
) -> tuple[NftTransaction, tuple[str, ...]]:
    """A full ``tx`` fitted to the table the kernel holds, as upstream's listing makes it;
    with the per-Service chains it flushes as leftovers.

    Upstream lists the table's chains and sets on every sync (``nftables.List``): it flushes
    every per-Service chain there that is not active, deleting it a second later, and deletes
    stale affinity sets at once (after the flushes: only rules in those chains named them).
    The backend remembers instead of listing; so here the kernel's chains that ``tx`` neither
    adds nor flushes are flushed too, its sets that ``tx`` does not add are deleted, and the
    flushes and deletions ``tx`` makes of chains and sets the kernel does not hold (gone with
    the table, say) are dropped.
    """
    try:
        table = kernel.table(tx.family, tx.table)
        have = {c.name for c in table.chains} | set(table.containers)
    except KeyError:
        table, have = None, set()
    added = chain_or_set_names(tx, NftChain, "add") | chain_or_set_names(tx, NftSet, "add")
    kept = tuple(
        c
        for c in tx.commands
        if c.verb == "add" or not isinstance(c.obj, NftChain | NftSet) or c.obj.name in added | have
    )
    touched = chain_or_set_names(tx, NftChain)
    stale = tuple(
        c.name
        for c in (table.chains if table is not None else ())
        if is_service_chain_name(c.name) and c.name not in touched
    )
    sets = chain_or_set_names(tx, NftSet)
    addr = "ipv6_addr" if tx.family == "ip6" else "ipv4_addr"
    containers = table.containers if table is not None else {}
    gone = [n for n in containers if is_affinity_set_name(n) and n not in sets]
    extra = [flush(NftChain(c)) for c in stale] + [delete(NftSet(n, addr)) for n in gone]
    return NftTransaction(tx.family, tx.table, (*kept, *extra)), stale


def counters_named(ruleset: Ruleset) -> set[str]:
    """The nfacct objects the rules of ``ruleset`` count in."""
    names: set[str] = set()
    for table in ruleset.tables:
        for st in table.statements:
            rule = st.rule if isinstance(st, Insert) else st
            if isinstance(rule, Rule):
                names.update(m.name for m in rule.matches if isinstance(m, NfAcct))
    return names


def nft_family(family: int) -> Family:
    return "ip6" if family == 6 else "ip"


def chain_or_set_names(
    tx: NftTransaction, kind: type[NftChain | NftSet], verb: Verb | None = None
) -> set[str]:
    """The names of the chains (or sets) ``tx`` touches (with ``verb``)."""
    return {o.name for o in tx.objects(kind, verb) if isinstance(o, NftChain | NftSet)}


def nft_table_view(table: NftTableDump) -> dict[str, object]:
    """What must agree between a node's kernel table and the model's: chains (hooks and rule
    counts), sets and maps, and their elements — leaving out affinity sets, which fill as
    clients connect."""
    return {
        "chains": {
            c.name: (c.hook, c.priority, len(table.rules.get(c.name, ()))) for c in table.chains
        },
        "containers": sorted(table.containers),
        "elements": {
            name: sorted((e.key, str(e.value)) for e in elements)
            for name, elements in table.elements.items()
            if not is_affinity_set_name(name)
        },
    }
