r"""Listings cut down to one Service: what the docs show of a whole ``ksl render``.

A full render holds every Service of the cluster; a page about one Service shows only its
part. :func:`excerpt` takes either text ``ksl render`` prints — ``iptables-restore`` input
(iptables mode) or an ``nft -f`` transaction (nftables mode) — and keeps, in place, what
concerns the Service. ``docs/hooks/generate.py`` applies it to a session with a
``# excerpt: TEXT`` comment.

    >>> a, b = "KUBE-SVC-" + "A" * 16, "KUBE-SVC-" + "B" * 16
    >>> rule = f"-A {a} -m comment --comment x/a -j DROP"
    >>> text = f"*nat\n:{a} - [0:0]\n:{b} - [0:0]\n{rule}\nCOMMIT\n"
    >>> print(excerpt(text, "x/a"), end="")
    *nat
    :KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]
    -A KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment x/a -j DROP
    COMMIT
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["excerpt", "nft_excerpt", "restore_excerpt"]


_CHAIN = re.compile(r"KUBE-[A-Z]+-[A-Z0-9]{16}\b")


def excerpt(text: str, wanted: str) -> str:
    """The part of a ``ksl render`` about one thing: ``nft`` text or ``iptables-restore``."""
    if any(line.startswith("add table ") for line in text.splitlines()):
        return nft_excerpt(text, wanted)
    return restore_excerpt(text, wanted)


def restore_excerpt(text: str, wanted: str) -> str:
    """The rules of an ``iptables-restore`` text about one thing, kept in place.

    A rule is kept when it mentions ``wanted`` or belongs to a per-Service chain that a kept
    rule names (``KUBE-EXT-…`` jumps carry no comment). Each table with kept rules keeps its
    ``*table`` line, those chains' declarations and ``COMMIT``: the excerpt still loads.
    """
    out: list[str] = []
    for header, body in _tables(text):
        rules = [line for line in body if line.startswith("-")]
        kept = [wanted in rule for rule in rules]
        named: set[str] = set()
        while True:
            named = {
                m for rule, k in zip(rules, kept, strict=True) if k for m in _CHAIN.findall(rule)
            }
            more = [k or rule.split(" ")[1] in named for rule, k in zip(rules, kept, strict=True)]
            if more == kept:
                break
            kept = more
        if any(kept):
            declared = [d for d in body if d.startswith(":") and d[1:].split(" ")[0] in named]
            chosen = [rule for rule, k in zip(rules, kept, strict=True) if k]
            out.extend([header, *declared, *chosen, "COMMIT"])
    if not out:
        raise ValueError(f"no rule mentions {wanted!r}")
    return "\n".join(out) + "\n"


def _tables(text: str) -> Iterator[tuple[str, list[str]]]:
    header: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("*"):
            header, body = line, []
        elif line == "COMMIT" and header is not None:
            yield header, body
            header = None
        else:
            body.append(line)


#: One ``nft -f`` statement: verb, object kind, and the object's name (a table names itself).
_NFT = re.compile(r"(add|flush|delete) (table|chain|rule|set|map|element) \S+ (\S+)(?: (\S+))?(.*)")
_VERDICT = re.compile(r"\b(?:jump|goto) ([^\s,}]+)")
_LOOKUP = re.compile(r"@([\w-]+)")


def nft_excerpt(text: str, wanted: str) -> str:
    """The statements of an ``nft -f`` transaction about one Service, kept in order.

    Kept: the ``add table`` line; every chain whose name holds ``wanted`` with its rules;
    the map and set elements that name those chains or mention ``wanted`` (a comment), and
    the set elements holding only those elements' addresses (``cluster-ips``); the rules
    that look such an element up (``vmap @service-ips``), the rules that jump to a kept
    chain, up to the hooked base chains; and the declarations of what is kept.
    Cut: the ``flush`` / ``delete`` housekeeping, shared helper chains that kept rules
    merely jump to (``mark-for-masquerade``), and everything about other Services — so an
    excerpt teaches but, unlike :func:`restore_excerpt`'s, does not load on its own.

    >>> t = "\\n".join([
    ...     "add table ip kube-proxy", "add chain ip kube-proxy services",
    ...     "add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }",
    ...     "add rule ip kube-proxy nat-output jump services",
    ...     "add map ip kube-proxy service-ips { type ipv4_addr : verdict ; }",
    ...     "add rule ip kube-proxy services ip daddr vmap @service-ips",
    ...     "add chain ip kube-proxy service-X-a/b/tcp/p",
    ...     "add chain ip kube-proxy service-Y-c/d/tcp/p",
    ...     "flush chain ip kube-proxy service-X-a/b/tcp/p",
    ...     "add element ip kube-proxy service-ips { 10.96.0.5 : goto service-X-a/b/tcp/p }",
    ...     "add element ip kube-proxy service-ips { 10.96.0.6 : goto service-Y-c/d/tcp/p }",
    ...     "add rule ip kube-proxy service-X-a/b/tcp/p jump mark-for-masquerade"])
    >>> print(nft_excerpt(t, "a/b/"), end="")
    add table ip kube-proxy
    add chain ip kube-proxy services
    add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
    add rule ip kube-proxy nat-output jump services
    add map ip kube-proxy service-ips { type ipv4_addr : verdict ; }
    add rule ip kube-proxy services ip daddr vmap @service-ips
    add chain ip kube-proxy service-X-a/b/tcp/p
    add element ip kube-proxy service-ips { 10.96.0.5 : goto service-X-a/b/tcp/p }
    add rule ip kube-proxy service-X-a/b/tcp/p jump mark-for-masquerade
    """
    stmts = [_NftStatement.of(m) for m in map(_NFT.fullmatch, text.splitlines()) if m]
    chains = {s.name for s in stmts if s.kind == "chain" and wanted in s.name}
    keep = {
        i
        for i, s in enumerate(stmts)
        if s.kind == "element" and (wanted in s.rest or chains & s.targets)
    }
    # The Service's addresses, from its map keys: set elements of those alone are its too.
    addresses = {a for i in keep for a in _addresses(stmts[i].rest.split(" : ")[0])}
    for i, s in enumerate(stmts):
        members = _addresses(s.rest)
        if s.kind == "element" and " : " not in s.rest and members and members <= addresses:
            keep.add(i)
    looked_up = {stmts[i].name for i in keep}
    for i, s in enumerate(stmts):
        if s.kind == "rule" and (s.name in chains or s.lookups & looked_up):
            keep.add(i)
    entered = chains | {stmts[i].name for i in keep if stmts[i].kind == "rule"}
    while True:  # follow the jumps up to the base chains the kernel hooks
        callers = {i for i, s in enumerate(stmts) if s.kind == "rule" and s.targets & entered}
        keep |= callers
        more = entered | {stmts[i].name for i in callers}
        if more == entered:
            break
        entered = more
    if not keep:
        raise ValueError(f"no chain or element mentions {wanted!r}")
    named = looked_up | {ref for i in keep for ref in stmts[i].lookups}
    # A base chain is added twice (bare, then with its hook): its last declaration is the one.
    declared = {s.name: i for i, s in enumerate(stmts) if s.verb == "add" and s.kind == "chain"}
    keep |= {declared[c] for c in entered if c in declared}
    for i, s in enumerate(stmts):
        if s.verb == "add" and (
            s.kind == "table" or (s.kind in ("set", "map") and s.name in named)
        ):
            keep.add(i)
    return "\n".join(stmts[i].line for i in sorted(keep)) + "\n"


@dataclass(frozen=True, slots=True)
class _NftStatement:
    """One line of an ``nft -f`` transaction, split into the words the excerpt needs."""

    line: str
    verb: str
    kind: str
    name: str
    rest: str

    @classmethod
    def of(cls, m: re.Match[str]) -> _NftStatement:
        return cls(m.group(0), m.group(1), m.group(2), m.group(4) or m.group(3), m.group(5))

    @property
    def targets(self) -> set[str]:
        """The chains this statement jumps or goes to."""
        return set(_VERDICT.findall(self.rest))

    @property
    def lookups(self) -> set[str]:
        """The sets and maps it looks packets up in (``@name``)."""
        return set(_LOOKUP.findall(self.rest))


def _addresses(text: str) -> set[str]:
    """The IPv4 / IPv6 addresses among the words of ``text``."""
    found = set()
    for word in re.split(r"[\s{},]+", text):
        with contextlib.suppress(ValueError):
            found.add(str(ipaddress.ip_address(word)))
    return found
