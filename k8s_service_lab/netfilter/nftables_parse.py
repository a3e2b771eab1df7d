r"""Reading a node's nftables rules: ``nft list ruleset`` / ``nft list table`` text.

The kernel prints what it holds as nested blocks — ``table ip kube-proxy { chain services {
... } map service-ips { type ...; elements = { ... } } }`` — base chains headed ``type nat
hook prerouting priority dstnat; policy accept;``. :func:`parse_nft` reads that into an
:class:`~.nftables_dump.NftRuleset`: per table its chains (hook, priority, policy), its sets
and maps with their elements, and its rules as :class:`~.nftables_dump.DumpRule` objects whose
expressions are those of :mod:`.nftables` (``ip daddr . meta l4proto . th dport vmap
@service-ips`` is a :class:`~.nftables.VmapLookup`) plus the forms only the kernel prints
(``tcp dport 80`` is a :class:`~.nftables_dump.PortMatch`). Anything else a rule says is kept
as one :class:`~.nftables_dump.Opaque` expression, which the tracer reports as "not evaluated"
when it gets there. Sets and maps of other kinds (``counter``, ``flowtable``, ``ct helper``
blocks) are skipped: rules using them are opaque anyway.
Malformed text is a :class:`~.xtables.DumpError` naming the line::

    >>> rs = parse_nft('''table ip kube-proxy {
    ...     chain nat-prerouting {
    ...         type nat hook prerouting priority dstnat; policy accept;
    ...         ip daddr 10.96.0.1 tcp dport 443 dnat to 172.18.0.2:6443
    ...     }
    ... }''')
    >>> table = rs.table("ip", "kube-proxy")
    >>> table.chain("nat-prerouting").priority
    -100
    >>> for expr in table.rules["nat-prerouting"][0].exprs:
    ...     print(expr)
    AddrMatch(field='daddr', value='10.96.0.1', negate=False)
    PortMatch(protocol='tcp', field='dport', values=('443',), negate=False)
    Dnat(to='172.18.0.2:6443')
    >>> parse_nft("table ip t {\n chain c {\n  jump\n }\n}", source="node.nft")
    Traceback (most recent call last):
    ...
    k8s_service_lab.netfilter.xtables.DumpError: node.nft:3: jump needs a chain name

:mod:`.nftables_json` reads ``nft -j list ruleset`` into the same objects.
"""

from __future__ import annotations

import re

from k8s_service_lab.netfilter.nftables import NftChain, NftElement, NftMap, NftSet, Verdict
from k8s_service_lab.netfilter.nftables_dump import (
    PRIORITY_NAMES,
    AnyRule,
    DumpRule,
    NftRuleset,
    NftTableDump,
)
from k8s_service_lab.netfilter.nftables_words import (
    Words,
    check_address,
    check_port,
    parse_rule,
    parse_verdict,
    tokens,
    unquote,
)
from k8s_service_lab.netfilter.xtables import DumpError

__all__ = ["duration", "element", "parse_nft"]

_FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")

# --- blocks ------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+)(ms|d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0}


def duration(text: str) -> int:
    """``3h`` / ``10800s`` / ``2h59m58s`` / ``500ms`` as whole seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration {text!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


class _Lines:
    """The dump's lines as ``(number, words)``, blank and comment-only lines skipped."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self._it = iter(enumerate(text.split("\n"), 1))  # nft counts "\n" only
        self.last = 0
        self.text = ""

    def error(self, line: int, message: str) -> DumpError:
        return DumpError(message, source=self.source, line=line)

    def next(self, where: str | None = None) -> tuple[int, list[str]] | None:
        for number, text in self._it:
            try:
                words = tokens(text)
            except ValueError as e:
                raise self.error(number, str(e)) from None
            if words:
                self.last, self.text = number, text.strip()
                return number, words
        if where is not None:
            raise self.error(self.last, f"{where} is not closed: missing }}")
        return None

    def until_balanced(self, words: list[str], where: str) -> list[str]:
        """Join the following lines until the braces of ``words`` balance (element lists)."""
        depth = words.count("{") - words.count("}")
        while depth > 0:
            found = self.next(where)
            assert found is not None
            words = words + found[1]
            depth += found[1].count("{") - found[1].count("}")
        return words


def parse_nft(text: str, source: str = "<string>") -> NftRuleset:
    """Every ``table FAMILY NAME { ... }`` block of ``nft list ruleset`` / ``list table``."""
    lines = _Lines(text, source)
    tables: list[NftTableDump] = []
    while (found := lines.next()) is not None:
        number, words = found
        if words == ["flush", "ruleset"]:
            continue
        if len(words) != 4 or words[0] != "table" or words[3] != "{":
            raise lines.error(number, f"expected 'table FAMILY NAME {{', not {lines.text!r}")
        if words[1] not in _FAMILIES:
            raise lines.error(number, f"unknown table family {words[1]!r}")
        tables.append(_table(lines, words[1], unquote(words[2])))
    return NftRuleset(tuple(tables))


def _table(lines: _Lines, family: str, name: str) -> NftTableDump:
    where = f"table {family} {name}"
    comment: str | None = None
    chains: list[NftChain] = []
    policies: dict[str, str] = {}
    rules: dict[str, tuple[AnyRule, ...]] = {}
    containers: dict[str, NftSet | NftMap] = {}
    elements: dict[str, tuple[NftElement, ...]] = {}
    while True:
        found = lines.next(where)
        assert found is not None
        number, words = found
        if words == ["}"]:
            break
        kind = words[0]
        if kind == "comment" and len(words) == 2:
            comment = unquote(words[1])
        elif kind == "flags":
            continue
        elif kind in ("chain", "set", "map") and len(words) == 3 and words[2] == "{":
            obj = unquote(words[1])
            if obj in rules or obj in containers:
                raise lines.error(number, f"{kind} {obj} appears twice")
            if kind == "chain":
                chain, policy, body = _chain(lines, obj)
                chains.append(chain)
                rules[obj] = body
                if policy is not None:
                    policies[obj] = policy
            else:
                containers[obj], elements[obj] = _container(lines, kind, obj, number)
        elif len(words) >= 3 and words[-1] == "{" and kind.isalpha():
            lines.until_balanced(words, f"{kind} {words[1]}")  # counters, flowtables, ...
        else:
            raise lines.error(number, f"unexpected {lines.text!r} in {where}")
    return NftTableDump(family, name, tuple(chains), policies, rules, containers, elements, comment)


def _chain(lines: _Lines, name: str) -> tuple[NftChain, str | None, tuple[AnyRule, ...]]:
    chain = NftChain(name)
    policy: str | None = None
    body: list[AnyRule] = []
    while True:
        found = lines.next(f"chain {name}")
        assert found is not None
        number, words = found
        if words == ["}"]:
            return chain, policy, tuple(body)
        try:
            if not body and words[0] in ("type", "policy"):
                chain, policy = _chain_head(chain, words, policy)
            elif not body and words[0] == "comment" and len(words) == 2:
                chain = NftChain(name, chain.type, chain.hook, chain.priority, unquote(words[1]))
            else:
                exprs, comment = parse_rule(words)
                body.append(DumpRule(name, exprs, comment, lines.text.split(" #")[0], number))
        except ValueError as e:
            raise lines.error(number, str(e)) from None


def _chain_head(
    chain: NftChain, words: list[str], policy: str | None
) -> tuple[NftChain, str | None]:
    # "type nat hook prerouting priority dstnat; policy accept;" ("dstnat - 10", "-110")
    statements: list[list[str]] = [[]]
    for w in words:
        if w == ";":
            statements.append([])
        else:
            statements[-1].append(w)
    for st in filter(None, statements):
        if st[0] == "policy" and len(st) == 2 and st[1] in ("accept", "drop"):
            policy = st[1]
        elif st[0] == "type" and len(st) >= 6 and st[2] == "hook":
            rest = st[4:]
            if rest[:1] == ["device"]:
                rest = rest[2:]
            if rest[:1] != ["priority"] or len(rest) not in (2, 4):
                raise ValueError(f"bad chain header {' '.join(st)!r}")
            chain = NftChain(chain.name, st[1], st[3], _priority(rest[1:]), chain.comment)
        else:
            raise ValueError(f"bad chain header {' '.join(st)!r}")
    return chain, policy


def _priority(words: list[str]) -> int:
    base = PRIORITY_NAMES.get(words[0])
    value = int(words[0]) if base is None and words[0].lstrip("-").isdigit() else base
    if value is None:
        raise ValueError(f"unknown priority {words[0]!r}")
    if len(words) == 3:
        if words[1] not in ("+", "-") or not words[2].isdigit():
            raise ValueError(f"bad priority {' '.join(words)!r}")
        value += int(words[2]) * (1 if words[1] == "+" else -1)
    return value


def _container(
    lines: _Lines, kind: str, name: str, head: int
) -> tuple[NftSet | NftMap, tuple[NftElement, ...]]:
    type_: str | None = None
    flags: tuple[str, ...] = ()
    timeout: int | None = None
    comment: str | None = None
    items: list[tuple[int, list[str]]] = []
    while True:
        found = lines.next(f"{kind} {name}")
        assert found is not None
        number, words = found
        if words == ["}"]:
            break
        try:
            key, args = words[0], [w for w in words[1:] if w != ";"]
            if key in ("type", "typeof") and args:
                type_ = " ".join(args)
            elif key == "flags" and args:
                flags = tuple(a for a in args if a != ",")
            elif key == "timeout" and len(args) == 1:
                timeout = duration(args[0])
            elif key == "comment" and len(args) == 1:
                comment = unquote(args[0])
            elif key in ("size", "gc-interval", "policy", "auto-merge", "counter"):
                continue
            elif key == "elements" and args[:2] == ["=", "{"]:
                whole = lines.until_balanced(words, f"{kind} {name}")
                cur = Words(whole[2:])
                items += [(number, item) for item in cur.braced()]
                if cur.peek() is not None:
                    raise ValueError("text after the element list")
            else:
                raise ValueError(f"unexpected {lines.text!r} in {kind} {name}")
        except ValueError as e:
            raise lines.error(number, str(e)) from None
    if type_ is None:
        raise lines.error(head, f"{kind} {name} has no type")
    obj: NftSet | NftMap = (
        NftSet(name, type_, flags, timeout, comment)
        if kind == "set"
        else NftMap(name, type_, flags, comment)
    )
    out = []
    for number, item in items:
        try:
            out.append(element(name, type_, item))
        except ValueError as e:
            raise lines.error(number, str(e)) from None
    return obj, tuple(out)


def element(container: str, type_: str, words: list[str]) -> NftElement:
    """One element as ``nft list`` prints it: ``key [. key] [timeout T] [expires T]
    [comment "c"] [: value]``; key parts checked against the container's ``type``."""
    key_type, _, value_type = type_.partition(" : ")
    key: list[str] = []
    i = 0
    while i < len(words) and words[i] not in ("timeout", "expires", "comment", "counter", ":"):
        if key and words[i] != ".":
            raise ValueError(f"bad element key {' '.join(words)!r}")
        if words[i] == ".":
            i += 1
        if i >= len(words):
            raise ValueError(f"bad element key {' '.join(words)!r}")
        key.append(words[i])
        i += 1
    timeout = comment = None
    value: Verdict | None = None
    while i < len(words):
        w, arg = words[i], words[i + 1 : i + 2]
        if w == ":":
            value = parse_verdict(words[i + 1 :]) if value_type == "verdict" else None
            break
        if w == "counter":
            i += 5
            continue
        if not arg:
            raise ValueError(f"element {w} needs a value")
        if w == "timeout":
            timeout = duration(arg[0])
        elif w == "comment":
            comment = unquote(arg[0])
        else:
            duration(arg[0])  # expires: how long this entry has left
        i += 2
    _check_key(key, key_type)
    return NftElement(container, tuple(key), value, comment, timeout)


def _check_key(key: list[str], key_type: str) -> None:
    types = key_type.split(" . ")
    if len(types) != len(key) and not key_type.startswith(("ip ", "ip6 ", "meta ", "th ")):
        raise ValueError(f"element {' . '.join(key)} does not fit type {key_type}")
    for part, t in zip(key, types, strict=False):
        if t in ("ipv4_addr", "ipv6_addr"):
            check_address(part)
        elif t == "inet_service":
            check_port(part)
