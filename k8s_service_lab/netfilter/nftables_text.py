"""nftables objects as text: the ``nft -f`` input a transaction is sent as.

Each command is one line, written the way ``sigs.k8s.io/knftables`` writes it
(``writeOperation`` in its ``objects.go``): the verb, the object kind, family, table and name,
then — for ``add`` — the object's properties in braces (``{ type ipv4_addr ; comment "..." ;
}``), a rule's expressions and trailing ``comment "..."``, an element's key, comment and
``: value``. Base-chain priorities are numbers (knftables turns ``dstnat-10`` into ``-110``)::

    >>> from k8s_service_lab.netfilter.nftables import NftChain, NftElement, NftSet, goto
    >>> print(command_text("ip", "kube-proxy", "add",
    ...       NftChain("nat-output", "nat", "output", -100)))
    add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
    >>> print(command_text("ip", "kube-proxy", "add",
    ...       NftSet("aff", "ipv4_addr", ("dynamic", "timeout"), 10800)))
    add set ip kube-proxy aff { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
    >>> e = NftElement("service-ips", ("10.96.0.1", "tcp", "443"), goto("svc"), "web")
    >>> print(command_text("ip", "kube-proxy", "add", e))
    add element ip kube-proxy service-ips { 10.96.0.1 . tcp . 443 comment "web" : goto svc }
    >>> print(command_text("ip", "kube-proxy", "delete", e))
    delete element ip kube-proxy service-ips { 10.96.0.1 . tcp . 443 }
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k8s_service_lab.netfilter.nftables import (
    AddrLookup,
    AddrMatch,
    AddrSet,
    Counter,
    CtState,
    Dnat,
    Expr,
    Family,
    FibLocal,
    IfName,
    L4Proto,
    MarkCheck,
    MarkSet,
    Masquerade,
    NftChain,
    NftElement,
    NftMap,
    NftObject,
    NftRule,
    NftSet,
    NftTransaction,
    NumgenVmap,
    SetUpdate,
    Verb,
    Verdict,
    VmapLookup,
)

__all__ = ["command_text", "expr_text", "quote", "rule_text", "to_nft"]


def quote(text: str) -> str:
    """Go's ``%q`` for the printable strings kube-proxy uses as comments."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _verdict(v: Verdict, fam: str) -> str:
    return v.kind if v.chain is None else f"{v.kind} {v.chain}"


def _neg(negate: bool) -> str:
    return "!= " if negate else ""


_FIELD = {"saddr": "{fam} saddr", "daddr": "{fam} daddr", "l4proto": "meta l4proto"}
_FIELD["dport"] = "th dport"


def _vmap(e: VmapLookup, fam: str) -> str:
    keys = " . ".join(_FIELD[f].format(fam=fam) for f in e.fields)
    return f"{keys} vmap @{e.map_name}"


def _numgen(e: NumgenVmap, fam: str) -> str:
    entries = " , ".join(f"{i} : {_verdict(v, fam)}" for i, v in enumerate(e.targets))
    return f"numgen random mod {len(e.targets)} vmap {{ {entries} }}"


def _addr_set(e: AddrSet, fam: str) -> str:
    sep = "," if e.compact else " , "
    return f"{fam} {e.field} {_neg(e.negate)}{{ {sep.join(e.values)} }}"


_EXPR: dict[type[Any], Callable[[Any, str], str]] = {
    AddrMatch: lambda e, fam: f"{fam} {e.field} {'!= ' if e.negate else ''}{e.value}",
    AddrSet: _addr_set,
    AddrLookup: lambda e, fam: f"{fam} {e.field} {_neg(e.negate)}@{e.set_name}",
    FibLocal: lambda e, fam: f"fib {e.field} type local",
    CtState: lambda e, fam: "ct state " + ",".join(e.states),
    L4Proto: lambda e, fam: f"meta l4proto {e.protocol}",
    IfName: lambda e, fam: f"iifname {_neg(e.negate)}{e.name}",
    MarkCheck: lambda e, fam: f"mark and {e.mask} == {e.value}",
    VmapLookup: _vmap,
    NumgenVmap: _numgen,
    SetUpdate: lambda e, fam: f"update @{e.set_name} {{ {fam} {e.field} }}",
    MarkSet: lambda e, fam: f"mark set mark {e.op} {e.value}",
    Dnat: lambda e, fam: f"dnat to {e.to}",
    Masquerade: lambda e, fam: "masquerade fully-random" if e.fully_random else "masquerade",
    Counter: lambda e, fam: "counter",
    Verdict: _verdict,
}


def expr_text(expr: Expr, family: Family = "ip") -> str:
    """One expression as nft writes it (``ip6`` addresses for the ``ip6`` family)."""
    return _EXPR[type(expr)](expr, family)


def rule_text(rule: NftRule, family: Family = "ip") -> str:
    """A rule's body: its expressions, then ``comment "..."`` if it has one."""
    body = " ".join([_EXPR[type(e)](e, family) for e in rule.exprs])
    return body if rule.comment is None else f"{body} comment {quote(rule.comment)}"


def _props(parts: list[str]) -> str:
    return " { " + " ".join(parts) + " }" if parts else ""


def _chain_props(c: NftChain) -> str:
    parts = []
    if c.type is not None:
        parts.append(f"type {c.type} hook {c.hook} priority {c.priority} ;")
    if c.comment is not None:
        parts.append(f"comment {quote(c.comment)} ;")
    return _props(parts)


def _set_props(s: NftSet | NftMap) -> str:
    parts = [f"type {s.type} ;"]
    if s.flags:
        parts.append(f"flags {','.join(s.flags)} ;")
    if isinstance(s, NftSet) and s.timeout is not None:
        parts.append(f"timeout {s.timeout}s ;")
    if s.comment is not None:
        parts.append(f"comment {quote(s.comment)} ;")
    return _props(parts)


def _element(verb: Verb, e: NftElement, fam: str) -> str:
    text = " . ".join(e.key)
    if verb == "add":
        if e.timeout is not None:
            text += f" timeout {e.timeout}s"
        if e.comment is not None:
            text += f" comment {quote(e.comment)}"
        if e.value is not None:
            text += f" : {_verdict(e.value, fam)}"
    return f"{{ {text} }}"


def command_text(family: Family, table: str, verb: Verb, obj: NftObject) -> str:
    """One transaction line, without its newline."""
    where = f"{family} {table}"
    if isinstance(obj, NftRule):
        if verb != "add":
            raise ValueError(f"cannot {verb} a rule without its handle")
        return f"add rule {where} {obj.chain} {rule_text(obj, family)}"
    if isinstance(obj, NftElement):
        return f"{verb} element {where} {obj.container} {_element(verb, obj, family)}"
    if isinstance(obj, NftChain):
        props = _chain_props(obj) if verb == "add" else ""
        return f"{verb} chain {where} {obj.name}{props}"
    if isinstance(obj, NftSet | NftMap):
        kind = "set" if isinstance(obj, NftSet) else "map"
        props = _set_props(obj) if verb == "add" else ""
        return f"{verb} {kind} {where} {obj.name}{props}"
    props = ""
    if verb == "add" and obj.comment is not None:
        props = f" {{ comment {quote(obj.comment)} ; }}"
    return f"{verb} table {where}{props}"


def to_nft(tx: NftTransaction) -> str:
    """The whole transaction as ``nft -f`` input: one command per line.

    Rules and regular chains are nearly every line of a large transaction, so their lines
    are built here in one f-string each (most rules have two expressions: no join); the
    rest goes through :func:`command_text`. Caching expression texts by object did not pay:
    most expressions (an endpoint's address, its DNAT target) occur once.
    """
    fam, table = tx.family, tx.table
    where = f"{fam} {table}"
    rule_at = f"add rule {where} "
    out: list[str] = []
    append = out.append
    exprs = _EXPR
    for verb, obj in tx.commands:
        if type(obj) is NftRule and verb == "add":
            ex = obj.exprs
            if len(ex) == 2:
                a, b = ex
                body = f"{exprs[type(a)](a, fam)} {exprs[type(b)](b, fam)}"
            else:
                body = " ".join([exprs[type(e)](e, fam) for e in ex])
            if obj.comment is None:
                append(f"{rule_at}{obj.chain} {body}")
            else:
                append(f"{rule_at}{obj.chain} {body} comment {quote(obj.comment)}")
        elif type(obj) is NftChain and obj.type is None and obj.comment is None:
            append(f"{verb} chain {where} {obj.name}")
        else:
            append(command_text(fam, table, verb, obj))
    append("")
    return "\n".join(out)
