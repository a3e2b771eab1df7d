r"""Reading ``nft -j list ruleset`` (libnftables JSON, schema version 1) into nftables objects.

The JSON form lists every object flat — ``{"nftables": [{"metainfo": ...}, {"table": ...},
{"chain": ...}, {"set": ...}, {"map": ...}, {"rule": ...}]}`` — and spells a rule as a list of
statements (``{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field":
"saddr"}}, "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}}``). :func:`parse_nft_json`
builds the same :class:`~.nftables_dump.NftRuleset` as :func:`~.nftables_parse.parse_nft`,
so the tracer cannot tell which form a node's rules came in; statements it does not model
become one :class:`~.nftables_dump.Opaque` (their JSON). Errors name the line of the
offending object (``nft -j`` prints one line; ``jq`` output has many)::

    >>> rs = parse_nft_json('{"nftables": [{"table": {"family": "ip", "name": "t"}},'
    ...     '{"chain": {"family": "ip", "table": "t", "name": "c", "type": "nat",'
    ...     ' "hook": "output", "prio": -100, "policy": "accept"}},'
    ...     '{"rule": {"family": "ip", "table": "t", "chain": "c", "expr": ['
    ...     '{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},'
    ...     '{"dnat": {"addr": "10.0.0.1", "port": 80}}]}}]}')
    >>> rule = rs.table("ip", "t").rules["c"][0]
    >>> rule.exprs, rule.text
    ((L4Proto(protocol='tcp'), Dnat(to='10.0.0.1:80')), 'meta l4proto tcp dnat to 10.0.0.1:80')
    >>> parse_nft_json('{"nftables": [{"rule": {"family": "ip", "table": "x"}}]}')
    Traceback (most recent call last):
    ...
    k8s_service_lab.netfilter.xtables.DumpError: <json>:1: nftables[0] rule: no table ip x
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

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
    NftChain,
    NftElement,
    NftMap,
    NftSet,
    NumgenVmap,
    SetUpdate,
    Verdict,
    VmapLookup,
    goto,
    jump,
)
from k8s_service_lab.netfilter.nftables_dump import (
    DumpExpr,
    DumpRule,
    NftRuleset,
    NftTableDump,
    OifName,
    Opaque,
    PortMatch,
    Snat,
)
from k8s_service_lab.netfilter.nftables_text import expr_text, quote
from k8s_service_lab.netfilter.nftables_words import check_address, check_hostport, check_port
from k8s_service_lab.netfilter.xtables import DumpError

__all__ = ["dump_text", "parse_nft_json"]

_SIMPLE = {"accept": ACCEPT, "drop": DROP, "return": RETURN, "reject": REJECT}
_START = re.compile(r'\s*\{\s*"nftables"\s*:\s*\[')


def parse_nft_json(text: str, source: str = "<json>") -> NftRuleset:
    """Every table of an ``nft -j list ruleset`` (or ``list table``) document."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise DumpError(e.msg, source=source, line=e.lineno) from None
    items = doc.get("nftables") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise DumpError('expected {"nftables": [...]}', source=source, line=1)
    lines = _item_lines(text, len(items))
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for i, item in enumerate(items):
        kind = next(iter(item), "?") if isinstance(item, dict) and len(item) == 1 else "?"
        try:
            _item(tables, kind, item[kind] if kind != "?" else item)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            why = e.args[0] if isinstance(e, ValueError) and e.args else f"bad field {e}"
            raise DumpError(f"nftables[{i}] {kind}: {why}", source=source, line=lines[i]) from None
    return NftRuleset(tuple(_table(t) for t in tables.values()))


def _item_lines(text: str, count: int) -> list[int]:
    """The line each item of the ``nftables`` array starts on (1 when it cannot tell)."""
    found = _START.match(text)
    if found is None:
        return [1] * count
    decoder, pos, out = json.JSONDecoder(), found.end(), []
    for _ in range(count):
        while text[pos] in " \t\r\n,":
            pos += 1
        out.append(text.count("\n", 0, pos) + 1)
        pos = decoder.raw_decode(text, pos)[1]
    return out


def _item(tables: dict[tuple[str, str], dict[str, Any]], kind: str, obj: Any) -> None:
    if kind == "?":
        raise ValueError("expected an object with one key")
    if kind == "metainfo":
        return
    if kind == "table":
        key = (str(obj["family"]), str(obj["name"]))
        tables.setdefault(key, {"family": key[0], "name": key[1], "comment": obj.get("comment"),
                                "chains": [], "policies": {}, "rules": {}, "containers": {},
                                "elements": {}})  # fmt: skip
        return
    if kind not in ("chain", "set", "map", "rule"):
        return  # counters, quotas, flowtables, ct objects: rules using them are opaque
    t = tables.get((str(obj["family"]), str(obj["table"])))
    if t is None:
        raise ValueError(f"no table {obj['family']} {obj['table']}")
    name = str(obj["chain"] if kind == "rule" else obj["name"])
    if kind == "chain":
        hook = obj.get("hook")
        prio = obj.get("prio")
        if hook is not None and not isinstance(prio, int):
            raise ValueError("base chain without a numeric prio")
        t["chains"].append(NftChain(name, obj.get("type"), hook, prio, obj.get("comment")))
        t["rules"].setdefault(name, [])
        if "policy" in obj:
            t["policies"][name] = str(obj["policy"])
    elif kind == "rule":
        if name not in t["rules"]:
            raise ValueError(f"rule in unknown chain {name}")
        exprs = _exprs(obj["expr"])
        comment = obj.get("comment")
        t["rules"][name].append(DumpRule(name, exprs, comment, dump_text(exprs, comment)))
    else:
        t["containers"][name], t["elements"][name] = _container(kind, name, obj)


def _table(t: dict[str, Any]) -> NftTableDump:
    return NftTableDump(
        t["family"], t["name"], tuple(t["chains"]), t["policies"],
        {k: tuple(v) for k, v in t["rules"].items()}, t["containers"], t["elements"],
        t["comment"],
    )  # fmt: skip


def _type(value: Any) -> str:
    return " . ".join(value) if isinstance(value, list) else str(value)


def _container(kind: str, name: str, obj: dict[str, Any]) -> tuple[Any, tuple[NftElement, ...]]:
    key_type = _type(obj["type"])
    flags = obj.get("flags", ())
    flags = tuple([flags] if isinstance(flags, str) else flags)
    comment = obj.get("comment")
    if kind == "set":
        container: NftSet | NftMap = NftSet(name, key_type, flags, obj.get("timeout"), comment)
        pairs = [(e, None) for e in obj.get("elem", ())]
    else:
        container = NftMap(name, f"{key_type} : {_type(obj['map'])}", flags, comment)
        pairs = [(k, v) for k, v in obj.get("elem", ())]
    elements = []
    for key, value in pairs:
        timeout = comment = None
        if isinstance(key, dict) and "elem" in key:
            timeout, comment = key["elem"].get("timeout"), key["elem"].get("comment")
            key = key["elem"]["val"]
        parts = tuple(_value(p) for p in (key["concat"] if _is(key, "concat") else [key]))
        for part, t in zip(parts, key_type.split(" . "), strict=False):
            (check_address if t in ("ipv4_addr", "ipv6_addr") else str)(part)
        verdict = _verdict(value) if isinstance(value, dict) else None
        elements.append(NftElement(name, parts, verdict, comment, timeout))
    return container, tuple(elements)


def _is(value: Any, key: str) -> bool:
    return isinstance(value, dict) and key in value


def _value(v: Any) -> str:
    """A scalar, ``prefix`` or ``range`` as nft's text form writes it."""
    if _is(v, "prefix"):
        return check_address(f"{v['prefix']['addr']}/{v['prefix']['len']}")
    if _is(v, "range"):
        lo, hi = v["range"]
        return f"{lo}-{hi}"
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise ValueError(f"unexpected value {json.dumps(v)}")
    return str(v)


def _verdict(v: dict[str, Any]) -> Verdict:
    (kind, arg), *rest = v.items()
    if rest:
        raise ValueError(f"not a verdict: {json.dumps(v)}")
    if kind in ("jump", "goto"):
        target = str(arg["target"])
        return jump(target) if kind == "jump" else goto(target)
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    raise ValueError(f"not a verdict: {json.dumps(v)}")


def _exprs(statements: list[Any]) -> tuple[DumpExpr, ...]:
    out: list[DumpExpr] = []
    for i, st in enumerate(statements):
        found = _statement(st)
        if found is None:
            out.append(Opaque(json.dumps(statements[i:])))
            break
        out.append(found)
    return tuple(out)


def _statement(st: dict[str, Any]) -> DumpExpr | None:
    (kind, arg), *rest = st.items()
    if rest:
        raise ValueError(f"statement with two keys: {json.dumps(st)}")
    if kind in ("jump", "goto", *_SIMPLE):
        return _verdict(st)
    if kind == "counter":
        return Counter()
    if kind == "match":
        return _match(arg["op"], arg["left"], arg["right"])
    if kind == "vmap":
        key, data = arg["key"], arg["data"]
        if _is(key, "numgen") and _is(data, "set") and key["numgen"].get("mode") == "random":
            n = int(key["numgen"]["mod"])
            targets = {int(k): _verdict(v) for k, v in data["set"]}
            if key["numgen"].get("offset", 0) != 0 or sorted(targets) != list(range(n)):
                return None
            return NumgenVmap(tuple(targets[i] for i in range(n)))
        parts = key["concat"] if _is(key, "concat") else [key]
        fields = [_field(p) for p in parts]
        if None in fields or not isinstance(data, str) or not data.startswith("@"):
            return None
        return VmapLookup(tuple(f for f in fields if f is not None), data[1:])
    if kind == "mangle" and arg["key"] == {"meta": {"key": "mark"}}:
        (op, (left, value)), *_ = arg["value"].items()
        if op in ("|", "^") and left == {"meta": {"key": "mark"}} and isinstance(value, int):
            return MarkSet("or" if op == "|" else "xor", hex(value))
        return None
    if kind == "set" and arg["op"] in ("update", "add"):
        fld = _field(arg["elem"])
        if fld == "saddr":
            return SetUpdate(str(arg["set"]).lstrip("@"), "saddr")
        if fld == "daddr":
            return SetUpdate(str(arg["set"]).lstrip("@"), "daddr")
        return None
    if kind in ("dnat", "snat") and set(arg) <= {"addr", "port", "family"}:
        addr = str(arg["addr"])
        to = addr
        if "port" in arg:
            to = f"[{addr}]:{arg['port']}" if ":" in addr else f"{addr}:{arg['port']}"
        check_hostport(to)
        return Dnat(to) if kind == "dnat" else Snat(to)
    if kind == "masquerade":
        flags = (arg or {}).get("flags", ())
        return Masquerade("fully-random" in ([flags] if isinstance(flags, str) else flags))
    return None


def _field(v: Any) -> Field | None:
    if _is(v, "payload") and v["payload"].get("field") in ("saddr", "daddr", "dport"):
        if v["payload"]["field"] == "dport":
            return "dport" if v["payload"].get("protocol") == "th" else None
        return "saddr" if v["payload"]["field"] == "saddr" else "daddr"
    return "l4proto" if v == {"meta": {"key": "l4proto"}} else None


def _match(op: str, left: Any, right: Any) -> DumpExpr | None:
    if op not in ("==", "!=", "in"):
        return None
    neg = op == "!="
    if _is(left, "payload"):
        proto, fld = left["payload"].get("protocol"), left["payload"].get("field")
        if proto in ("ip", "ip6") and fld in ("saddr", "daddr"):
            side: Literal["saddr", "daddr"] = "saddr" if fld == "saddr" else "daddr"
            if isinstance(right, str) and right.startswith("@"):
                return AddrLookup(side, right[1:], neg)
            if _is(right, "set"):
                return AddrSet(side, tuple(check_address(_value(v)) for v in right["set"]), neg)
            return AddrMatch(side, check_address(_value(right)), neg)
        if proto in ("tcp", "udp", "sctp", "th") and fld in ("sport", "dport"):
            values = right["set"] if _is(right, "set") else [right]
            ports = tuple(check_port(_value(v)) for v in values)
            return PortMatch(proto, "dport" if fld == "dport" else "sport", ports, neg)
        return None
    if left == {"meta": {"key": "l4proto"}} and isinstance(right, str) and not neg:
        return L4Proto(right)
    if left == {"ct": {"key": "state"}} and not neg:
        states = right if isinstance(right, list) else [right]
        return CtState(tuple(str(s) for s in states))
    if _is(left, "meta") and left["meta"].get("key") in ("iifname", "oifname"):
        name = str(right)
        return IfName(name, neg) if left["meta"]["key"] == "iifname" else OifName(name, neg)
    if (
        _is(left, "fib")
        and left["fib"] == {"result": "type", "flags": ["saddr"]}
        and right == "local"
    ):
        return FibLocal("saddr")
    if (
        _is(left, "fib")
        and left["fib"] == {"result": "type", "flags": ["daddr"]}
        and right == "local"
    ):
        return FibLocal("daddr")
    if _is(left, "&") and left["&"][0] == {"meta": {"key": "mark"}} and not neg:
        mask, value = left["&"][1], right
        if isinstance(mask, int) and isinstance(value, int):
            return MarkCheck(hex(mask), hex(value))
    return None


def dump_text(exprs: tuple[DumpExpr, ...], comment: str | None = None) -> str:
    """A rule's expressions in nft's text form (a JSON rule has no text of its own)."""
    words = []
    for e in exprs:
        if isinstance(e, PortMatch):
            values = e.values[0] if len(e.values) == 1 else "{ " + ", ".join(e.values) + " }"
            words.append(f"{e.protocol} {e.field} {'!= ' if e.negate else ''}{values}")
        elif isinstance(e, Snat):
            words.append(f"snat to {e.to}")
        elif isinstance(e, OifName):
            words.append(f"oifname {'!= ' if e.negate else ''}{quote(e.name)}")
        elif isinstance(e, Opaque):
            words.append(e.text)
        else:
            words.append(expr_text(e))
    body = " ".join(words)
    return body if comment is None else f"{body} comment {quote(comment)}"
