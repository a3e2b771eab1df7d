"""What the kernel holds after nftables transactions: one table's chains, sets, maps, rules.

:class:`NftState` applies :class:`~.nftables.NftTransaction` objects with the kernel's rules
— all or nothing; a chain or set must exist before it is flushed, filled or referenced; a
map element cannot change its value without being deleted first; a chain still jumped to
cannot be deleted — and raises :class:`NftError` where ``nft -f`` would fail. Its
:meth:`~NftState.dump` lists the result as ``add`` lines (like knftables' fake ``Dump``),
which is what upstream's unit tests compare::

    >>> from k8s_service_lab.netfilter.nftables import (
    ...     NftChain, NftRule, NftTable, NftTransaction, add, delete, jump)
    >>> state = NftState("ip", "kube-proxy")
    >>> state.apply(NftTransaction("ip", "kube-proxy", (
    ...     add(NftTable("ip", "kube-proxy")), add(NftChain("a")), add(NftChain("b")),
    ...     add(NftRule("a", (jump("b"),))))))
    >>> print(state.dump())
    add table ip kube-proxy
    add chain ip kube-proxy a
    add chain ip kube-proxy b
    add rule ip kube-proxy a jump b
    >>> state.apply(NftTransaction("ip", "kube-proxy", (delete(NftChain("b")),)))
    Traceback (most recent call last):
    ...
    k8s_service_lab.netfilter.nftables_state.NftError: delete chain b: chain is still referenced
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netfilter.nftables import (
    AddrLookup,
    Family,
    NftChain,
    NftElement,
    NftMap,
    NftObject,
    NftRule,
    NftSet,
    NftTable,
    NftTransaction,
    NumgenVmap,
    SetUpdate,
    Verb,
    Verdict,
    VmapLookup,
)
from k8s_service_lab.netfilter.nftables_text import command_text

__all__ = ["NftError", "NftState", "references"]


class NftError(ServiceLabError, ValueError):
    """A command ``nft -f`` would refuse; the whole transaction is then not applied."""


def references(rule: NftRule) -> tuple[set[str], set[str]]:
    """The chains a rule jumps or goes to, and the sets and maps it reads or writes."""
    chains: set[str] = set()
    sets: set[str] = set()
    for e in rule.exprs:
        if isinstance(e, Verdict) and e.chain is not None:
            chains.add(e.chain)
        elif isinstance(e, NumgenVmap):
            chains.update(v.chain for v in e.targets if v.chain is not None)
        elif isinstance(e, AddrLookup | SetUpdate):
            sets.add(e.set_name)
        elif isinstance(e, VmapLookup):
            sets.add(e.map_name)
    return chains, sets


@dataclass
class _Container:
    obj: NftSet | NftMap
    elements: dict[tuple[str, ...], NftElement] = field(default_factory=dict)


@dataclass
class _Tables:
    table: NftTable | None = None
    chains: dict[str, NftChain] = field(default_factory=dict)
    rules: dict[str, list[NftRule]] = field(default_factory=dict)
    containers: dict[str, _Container] = field(default_factory=dict)
    # How often each chain / set is referenced (by rules, and chains by map elements): the
    # kernel refuses to delete a referenced object, and counting keeps that check O(1).
    chain_refs: Counter[str] = field(default_factory=Counter)
    set_refs: Counter[str] = field(default_factory=Counter)

    def copy(self) -> _Tables:
        """A copy to work on (the objects are immutable; only the holders are copied)."""
        return _Tables(
            self.table,
            dict(self.chains),
            {name: list(rules) for name, rules in self.rules.items()},
            {name: _Container(c.obj, dict(c.elements)) for name, c in self.containers.items()},
            Counter(self.chain_refs),
            Counter(self.set_refs),
        )

    def count(self, rule: NftRule, step: int) -> None:
        chains, sets = references(rule)
        for c in chains:
            self.chain_refs[c] += step
        for name in sets:
            self.set_refs[name] += step

    def count_element(self, element: NftElement, step: int) -> None:
        if element.value is not None and element.value.chain:
            self.chain_refs[element.value.chain] += step


class NftState:
    """One table as the kernel holds it (``None`` table: not created yet, or deleted)."""

    def __init__(self, family: Family, table: str) -> None:
        self.family: Family = family
        self.name = table
        self._t = _Tables()

    # --- reading -------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self._t.table is not None

    def chains(self) -> dict[str, NftChain]:
        return dict(self._t.chains)

    def rules(self, chain: str) -> list[NftRule]:
        return list(self._t.rules.get(chain, ()))

    def containers(self) -> dict[str, NftSet | NftMap]:
        return {name: c.obj for name, c in self._t.containers.items()}

    def elements(self, name: str) -> list[NftElement]:
        found = self._t.containers.get(name)
        return [] if found is None else list(found.elements.values())

    def dump(self) -> str:
        """Every object as an ``add`` line: table, chains, sets, maps, rules, elements (sorted)."""
        return "\n".join(self._dump_lines())

    def _dump_lines(self) -> Iterator[str]:
        t, fam, name = self._t, self.family, self.name
        if t.table is None:
            return
        yield command_text(fam, name, "add", t.table)
        for chain in sorted(t.chains):
            yield command_text(fam, name, "add", t.chains[chain])
        for kind in (NftSet, NftMap):
            for cname in sorted(t.containers):
                if isinstance(t.containers[cname].obj, kind):
                    yield command_text(fam, name, "add", t.containers[cname].obj)
        for chain in sorted(t.chains):
            for rule in t.rules[chain]:
                yield command_text(fam, name, "add", rule)
        for cname in sorted(t.containers):
            # A set has no order of its own: list its elements sorted, as nft does.
            elements = t.containers[cname].elements
            for key in sorted(elements):
                yield command_text(fam, name, "add", elements[key])

    def dangling(self) -> list[str]:
        """References to chains, sets or maps that do not exist (empty when consistent)."""
        t = self._t
        problems = []
        for chain, rules in t.rules.items():
            for rule in rules:
                chains, sets = references(rule)
                problems += [
                    f"{chain}: jumps to missing chain {c}" for c in chains if c not in t.chains
                ]
                problems += [
                    f"{chain}: uses missing set {s}" for s in sets if s not in t.containers
                ]
        for cname, c in t.containers.items():
            for e in c.elements.values():
                if e.value is not None and e.value.chain and e.value.chain not in t.chains:
                    problems.append(f"{cname}: element points to missing chain {e.value.chain}")
        return problems

    # --- writing -------------------------------------------------------------------------

    def apply(self, tx: NftTransaction) -> None:
        """Apply every command, or none of them (raising :class:`NftError`)."""
        if (tx.family, tx.table) != (self.family, self.name):
            raise NftError(f"transaction for {tx.family} {tx.table}, not {self.family} {self.name}")
        work = self._t.copy()
        for verb, obj in tx.commands:
            self._apply(work, verb, obj)
        self._t = work

    def _apply(self, t: _Tables, verb: Verb, obj: NftObject) -> None:
        what = f"{verb} {type(obj).__name__[3:].lower()} {getattr(obj, 'name', '')}".rstrip()
        if isinstance(obj, NftTable):
            if verb == "delete":
                if t.table is None:
                    raise NftError(f"{what}: no such table")
                t.__init__()  # type: ignore[misc]
            else:
                t.table = t.table or obj
            return
        if t.table is None:
            raise NftError(f"{what}: table {self.name} does not exist")
        if isinstance(obj, NftChain):
            self._chain(t, verb, obj, what)
        elif isinstance(obj, NftSet | NftMap):
            self._container(t, verb, obj, what)
        elif isinstance(obj, NftElement):
            self._element(t, verb, obj)
        else:
            self._rule(t, obj)

    def _chain(self, t: _Tables, verb: Verb, obj: NftChain, what: str) -> None:
        old = t.chains.get(obj.name)
        if verb == "add":
            if old is None:
                t.chains[obj.name] = obj
                t.rules[obj.name] = []
            elif obj.is_base and (old.type, old.hook, old.priority) != (
                obj.type,
                obj.hook,
                obj.priority,
            ):
                raise NftError(f"{what}: chain exists with another hook or priority")
            return
        if old is None:
            raise NftError(f"{what}: no such chain")
        if verb == "flush":
            for rule in t.rules[obj.name]:
                t.count(rule, -1)
            t.rules[obj.name] = []
            return
        own = sum(c == obj.name for r in t.rules[obj.name] for c in references(r)[0])
        if t.chain_refs[obj.name] - own > 0:
            raise NftError(f"{what}: chain is still referenced")
        for rule in t.rules[obj.name]:
            t.count(rule, -1)
        del t.chains[obj.name], t.rules[obj.name]

    def _container(self, t: _Tables, verb: Verb, obj: NftSet | NftMap, what: str) -> None:
        old = t.containers.get(obj.name)
        if verb == "add":
            if old is None:
                t.containers[obj.name] = _Container(obj)
            elif (type(old.obj), old.obj.type, old.obj.flags) != (type(obj), obj.type, obj.flags):
                raise NftError(f"{what}: exists with another type or flags")
            return
        if old is None:
            raise NftError(f"{what}: no such set or map")
        if verb == "flush":
            for e in old.elements.values():
                t.count_element(e, -1)
            old.elements.clear()
            return
        if t.set_refs[obj.name] > 0:
            raise NftError(f"{what}: set is still referenced")
        for e in old.elements.values():
            t.count_element(e, -1)
        del t.containers[obj.name]

    def _element(self, t: _Tables, verb: Verb, obj: NftElement) -> None:
        what = f"{verb} element {obj.container} {{ {' . '.join(obj.key)} }}"
        c = t.containers.get(obj.container)
        if c is None:
            raise NftError(f"{what}: no such set or map")
        old = c.elements.get(obj.key)
        if verb == "delete":
            if old is None:
                raise NftError(f"{what}: no such element")
            del c.elements[obj.key]
            t.count_element(old, -1)
        elif verb == "add":
            if old is not None and old.value != obj.value:
                raise NftError(f"{what}: element exists with another value")
            if obj.value is not None and obj.value.chain and obj.value.chain not in t.chains:
                raise NftError(f"{what}: no such chain {obj.value.chain}")
            if old is None:
                c.elements[obj.key] = obj
                t.count_element(obj, 1)
        else:
            raise NftError(f"{what}: elements cannot be flushed")

    def _rule(self, t: _Tables, obj: NftRule) -> None:
        if obj.chain not in t.chains:
            raise NftError(f"add rule {obj.chain}: no such chain")
        chains, sets = references(obj)
        for c in sorted(c for c in chains if c not in t.chains):
            raise NftError(f"add rule {obj.chain}: no such chain {c}")
        for name in sorted(name for name in sets if name not in t.containers):
            raise NftError(f"add rule {obj.chain}: no such set {name}")
        t.rules[obj.chain].append(obj)
        t.count(obj, 1)
