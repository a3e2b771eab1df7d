r"""How one nftables rule reads: the words of a rule line, as expression objects.

``nft list`` prints a rule as a line of words — ``ip daddr 172.30.0.41 ip saddr !=
10.0.0.0/8 jump mark-for-masquerade``. :func:`parse_rule` turns those words into the
expressions of :mod:`.nftables` (plus :class:`~.nftables_dump.PortMatch`,
:class:`~.nftables_dump.Snat` and :class:`~.nftables_dump.OifName`, which only dumps show), in
both spellings nft knows: the one the kernel prints (``meta mark & 0x00004000 ==
0x00000000``) and the one ``nft -f`` input uses (``mark and 0x4000 == 0``). From the first
expression it does not model to the rule's end, the words are kept as one
:class:`~.nftables_dump.Opaque`; a known expression with a missing or bad argument is a
``ValueError`` (the block reader adds the line number)::

    >>> parse_rule(tokens('meta l4proto tcp dnat to 10.180.0.1:80 comment "ns1/svc1"'))
    ((L4Proto(protocol='tcp'), Dnat(to='10.180.0.1:80')), 'ns1/svc1')
    >>> parse_rule(tokens("ip saddr 10.0.0.0/8 log prefix x drop"))[0][1]
    Opaque(text='log prefix x drop')
    >>> parse_rule(tokens("ip saddr 10.0.0.0/33 drop"))
    Traceback (most recent call last):
    ...
    ValueError: '10.0.0.0/33' does not appear to be an IPv4 or IPv6 network
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from k8s_service_lab.netfilter.nftables import (
    ACCEPT,
    DROP,
    REJECT,
    RETURN,
    AddrLookup,
    AddrMatch,
    AddrSet,
    Counter,
    CtState,
    Dnat,
    FibLocal,
    Field,
    IfName,
    L4Proto,
    MarkCheck,
    MarkSet,
    Masquerade,
    NumgenVmap,
    SetUpdate,
    Verdict,
    VmapLookup,
)
from k8s_service_lab.netfilter.nftables_dump import DumpExpr, OifName, Opaque, PortMatch, Snat

__all__ = [
    "Words",
    "check_address",
    "check_hostport",
    "check_port",
    "parse_rule",
    "parse_verdict",
    "tokens",
    "unquote",
]


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[{},;]|[^\s{},;"]+|(?P<bad>")')
_FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")


def tokens(text: str) -> list[str]:
    """One line's words as nft's scanner reads what ``nft list`` prints: quoted strings,
    the punctuation ``{ } , ;`` and bare words (``a.b``, ``10.0.0.1:80``); ``#`` starts a
    comment (``# handle 4`` with ``-a``)."""
    out = []
    for m in _TOKEN.finditer(text):
        if m.group("bad") is not None:
            raise ValueError("unterminated quoted string")
        if m.group(0).startswith("#"):
            break
        out.append(m.group(0))
    return out


def unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return re.sub(r"\\(.)", r"\1", word[1:-1])
    return word


def check_address(value: str) -> str:
    """An address, prefix or ``lo-hi`` range as nft prints one (ValueError otherwise)."""
    for part in (value,) if "/" in value else value.split("-", 1):
        ipaddress.ip_network(part, strict=False)
    return value


def check_hostport(value: str) -> str:
    """A NAT target: ``10.0.0.1``, ``10.0.0.1:80``, ``[fd00::1]:80`` or a bare IPv6 address."""
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {value!r}")
        port = rest[1:] or None
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, None
    ipaddress.ip_address(host)
    if port is not None:
        check_port(port)
    return value


def check_port(value: str) -> str:
    for part in value.split("-", 1):
        if not part.isdigit() or int(part) > 65535:
            raise ValueError(f"bad port {value!r}")
    return value


class Words:
    """A cursor over one rule's words."""

    def __init__(self, words: list[str]) -> None:
        self.w = words
        self.i = 0

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.w[j] if j < len(self.w) else None

    def take(self, what: str) -> str:
        word = self.peek()
        if word is None or word in ("{", "}", ",", ";"):
            raise ValueError(what)
        self.i += 1
        return word

    def listed(self, what: str) -> list[str]:
        """``a,b,c``: words joined by commas (``ct state established,related``)."""
        out = [self.take(what)]
        while self.peek() == ",":
            self.i += 1
            out.append(self.take(what))
        return out

    def braced(self) -> list[list[str]]:
        """The comma-separated items of ``{ a , b c }`` (cursor on the ``{``)."""
        if self.peek() != "{":
            raise ValueError("expected {")
        self.i += 1
        depth = 1
        items: list[list[str]] = []
        cur: list[str] = []
        while True:
            word = self.peek()
            if word is None:
                raise ValueError("unbalanced { }")
            self.i += 1
            if word == "," and depth == 1:
                items.append(cur)
                cur = []
                continue
            depth += {"{": 1, "}": -1}.get(word, 0)
            if depth == 0:
                break
            cur.append(word)
        items.append(cur)
        if any(not item for item in items):
            raise ValueError("empty element in { }")
        return items


# --- rule bodies -------------------------------------------------------------------------

_SELECTORS: dict[tuple[str, str], Field] = {
    ("ip", "saddr"): "saddr",
    ("ip", "daddr"): "daddr",
    ("ip6", "saddr"): "saddr",
    ("ip6", "daddr"): "daddr",
    ("meta", "l4proto"): "l4proto",
    ("th", "dport"): "dport",
}
# Words that begin an expression: where an optional argument list ends.
_KEYWORDS = frozenset((
    "counter", "accept", "drop", "return", "continue", "jump", "goto", "reject", "ip", "ip6",
    "tcp", "udp", "sctp", "th", "meta", "mark", "fib", "ct", "iifname", "oifname", "numgen",
    "update", "add", "dnat", "snat", "masquerade", "log", "limit",
))  # fmt: skip
_SIMPLE = {"accept": ACCEPT, "drop": DROP, "return": RETURN, "reject": REJECT}


def parse_verdict(words: list[str]) -> Verdict:
    """``accept``, ``drop``, ``reject [with ...]``, ``return``, ``jump X``, ``goto X``."""
    kind = words[0] if words else ""
    if kind in ("jump", "goto"):
        if len(words) != 2:
            raise ValueError(f"{kind} needs a chain name")
        return Verdict("jump" if kind == "jump" else "goto", unquote(words[1]))
    if kind in ("accept", "drop", "return") and len(words) == 1:
        return _SIMPLE[kind]
    if kind == "reject":
        return REJECT
    raise ValueError(f"not a verdict: {' '.join(words) or 'nothing'}")


def parse_rule(words: list[str]) -> tuple[tuple[DumpExpr, ...], str | None]:
    """A rule's expressions and trailing comment (ValueError when malformed)."""
    comment = None
    if len(words) >= 2 and words[-2] == "comment":
        comment = unquote(words[-1])
        words = words[:-2]
    cur = Words(words)
    exprs: list[DumpExpr] = []
    while cur.peek() is not None:
        start = cur.i
        expr = _expr(cur)
        if expr is None:
            exprs.append(Opaque(" ".join(words[start:])))
            break
        exprs.append(expr)
    return tuple(exprs), comment


def _expr(c: Words) -> DumpExpr | None:
    """The expression at the cursor, or None (cursor unmoved) when it is not modelled."""
    start = c.i
    found = _known(c, c.take("missing expression"), c.peek(0))
    if found is None:
        c.i = start
    return found


def _known(c: Words, w: str, nxt: str | None) -> DumpExpr | None:
    if w == "counter":
        while c.peek() in ("packets", "bytes"):
            c.i += 1
            c.take("counter needs a number")
        return Counter()
    if w in ("accept", "drop", "return"):
        return _SIMPLE[w]
    if w in ("jump", "goto"):
        return parse_verdict([w, c.take(f"{w} needs a chain name")])
    if w == "reject":
        if c.peek() == "with":  # "reject with icmp port-unreachable", "with tcp reset"
            c.i += 1
            c.take("reject with needs a type")
            if c.peek() is not None:
                c.i += 1
        return Verdict("reject")
    if (w, nxt) in _SELECTORS and c.peek(1) == ".":
        c.i -= 1
        return _vmap(c)
    if w in ("ip", "ip6") and nxt in ("saddr", "daddr"):
        c.i += 1
        return _addr(c, "saddr" if nxt == "saddr" else "daddr")
    if w in ("tcp", "udp", "sctp", "th") and nxt in ("dport", "sport"):
        c.i += 1
        negate = _negation(c)
        values = [i[0] for i in c.braced()] if c.peek() == "{" else [c.take(f"{w} {nxt} port")]
        side: Literal["sport", "dport"] = "dport" if nxt == "dport" else "sport"
        return PortMatch(w, side, tuple(map(check_port, values)), negate)
    if w == "meta" and nxt == "l4proto" and c.peek(1) not in ("!=", "{", None):
        c.i += 1
        return L4Proto(c.take("meta l4proto needs a protocol"))
    if (w == "meta" and nxt == "mark") or w == "mark":
        return _mark(c, w)
    if w == "fib" and nxt in ("saddr", "daddr") and c.w[c.i + 1 : c.i + 3] == ["type", "local"]:
        c.i += 3
        return FibLocal("saddr" if nxt == "saddr" else "daddr")
    if w == "ct" and nxt == "state" and c.peek(1) not in ("!=", "{", None):
        c.i += 1
        return CtState(tuple(c.listed("ct state needs a state")))
    if w in ("iifname", "oifname"):
        negate = _negation(c)
        name = unquote(c.take(f"{w} needs a name"))
        return IfName(name, negate) if w == "iifname" else OifName(name, negate)
    if w == "numgen":
        return _numgen(c)
    if w in ("update", "add") and nxt is not None and nxt.startswith("@") and len(nxt) > 1:
        c.i += 1
        inner = c.braced() if c.peek() == "{" else []
        if len(inner) == 1 and inner[0] in (["ip", "saddr"], ["ip6", "saddr"]):
            return SetUpdate(nxt[1:], "saddr")
        if len(inner) == 1 and inner[0] in (["ip", "daddr"], ["ip6", "daddr"]):
            return SetUpdate(nxt[1:], "daddr")
        return None
    if w in ("dnat", "snat"):
        if c.peek() in ("ip", "ip6"):
            c.i += 1
        if c.take(f"{w} needs 'to'") != "to":
            raise ValueError(f"{w} needs 'to'")
        to = check_hostport(c.take(f"{w} to needs an address"))
        if c.peek() not in (None, *_KEYWORDS):
            return None  # flags (random, persistent) or a map lookup: not modelled
        return Dnat(to) if w == "dnat" else Snat(to)
    if w == "masquerade":
        flags = c.listed("flags") if c.peek() not in (None, *_KEYWORDS) else []
        return Masquerade("fully-random" in flags)
    return None


def _negation(c: Words) -> bool:
    if c.peek() in ("!=", "=="):
        c.i += 1
        return c.w[c.i - 1] == "!="
    return False


def _addr(c: Words, side: Literal["saddr", "daddr"]) -> DumpExpr:
    negate = _negation(c)
    if c.peek() == "{":
        return AddrSet(side, tuple(check_address(" ".join(v)) for v in c.braced()), negate)
    value = c.take(f"ip {side} needs an address")
    if value.startswith("@") and len(value) > 1:
        return AddrLookup(side, value[1:], negate)
    return AddrMatch(side, check_address(value), negate)


def _mark(c: Words, first: str) -> DumpExpr | None:
    # Kernel form "meta mark & 0x4000 == 0x0", "meta mark set meta mark | 0x4000"; and the
    # input form our to_nft writes, "mark and 0x4000 == 0", "mark set mark or 0x4000".
    if first == "meta":
        c.i += 1
    word = c.take("mark needs an operation")
    if word in ("&", "and"):
        mask = c.take("mark & needs a mask")
        if c.take("mark & needs ==") != "==":
            return None
        return MarkCheck(_hex(mask), _hex(c.take("mark & M == needs a value")))
    if word != "set":
        return None
    if c.peek() == "meta":
        c.i += 1
    if c.take("mark set needs a value") != "mark":
        return None
    op = {"|": "or", "or": "or", "^": "xor", "xor": "xor"}.get(c.take("mark set needs an op"))
    value = _hex(c.take("mark set needs a value"))
    return None if op is None else MarkSet("or" if op == "or" else "xor", value)


def _hex(text: str) -> str:
    int(text, 0)
    return text


def _vmap(c: Words) -> DumpExpr | None:
    fields: list[Field] = []
    while True:
        pair = (c.take("incomplete concatenation"), c.take("incomplete concatenation"))
        if pair not in _SELECTORS:
            return None
        fields.append(_SELECTORS[pair])
        if c.peek() != ".":
            break
        c.i += 1
    target = c.peek(1) or ""
    if c.peek() != "vmap" or not target.startswith("@") or len(target) < 2:
        return None
    c.i += 2
    return VmapLookup(tuple(fields), target[1:])


def _numgen(c: Words) -> DumpExpr | None:
    if c.w[c.i : c.i + 2] != ["random", "mod"]:
        return None
    c.i += 2
    mod = c.take("numgen random mod needs a number")
    if not mod.isdigit() or int(mod) < 1:
        raise ValueError(f"bad numgen modulus {mod!r}")
    if c.peek() == "offset":
        c.i += 1
        if c.take("offset needs a number") != "0":
            return None
    if c.peek() != "vmap" or c.peek(1) != "{":
        return None
    c.i += 1
    targets: dict[int, Verdict] = {}
    for item in c.braced():
        if len(item) < 3 or item[1] != ":" or not item[0].isdigit():
            raise ValueError(f"bad numgen map element {' '.join(item)!r}")
        targets[int(item[0])] = parse_verdict(item[2:])
    if sorted(targets) != list(range(int(mod))):
        return None  # indexes that select nothing: a miss the model does not follow
    return NumgenVmap(tuple(targets[i] for i in range(int(mod))))
