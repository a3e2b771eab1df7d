"""Reading ``iptables-save`` dumps and ``iptables-restore`` payloads into xtables objects.

One reader serves both forms: ``*table``, ``:CHAIN POLICY [p:b]``, ``-A``/``-I``/``-N``/``-X``,
``[p:b] -A ...`` counter prefixes, ``COMMIT`` and ``#`` comment lines. Words are split as
``iptables-restore`` splits them (double quotes group, a backslash inside quotes escapes the
next character; single quotes are ordinary characters). Anything malformed is a
:class:`.DumpError` naming the source and line — never a silent skip.

    >>> rs = parse_save('''*nat
    ... :KUBE-SEP-X - [0:0]
    ... -A KUBE-SEP-X -p tcp -m comment --comment "ns/web" -j DNAT --to-destination 10.244.1.3:80
    ... COMMIT
    ... ''')
    >>> rs.table("nat").rules("KUBE-SEP-X")[0].target
    DNAT(to='10.244.1.3:80', random=False, persistent=False)
    >>> parse_save("*nat\\n-A X -j\\nCOMMIT\\n", source="node.txt")
    Traceback (most recent call last):
    ...
    k8s_service_lab.netfilter.xtables.DumpError: node.txt:2: -j needs a target name
"""

from __future__ import annotations

import gc
import ipaddress
from collections.abc import Set as AbstractSet

from k8s_service_lab.netfilter.xtables import (
    BUILTIN_CHAINS,
    ZERO,
    Chain,
    Counters,
    DeleteChain,
    DumpError,
    Insert,
    Rule,
    Ruleset,
    Statement,
    Table,
)
from k8s_service_lab.netfilter.xtables_matches import (
    Addr,
    Fragment,
    Goto,
    Iface,
    Jump,
    Match,
    Protocol,
    Target,
    TcpUdp,
    UnknownMatch,
    UnknownTarget,
)
from k8s_service_lab.netfilter.xtables_options import (
    MATCH_OPTIONS,
    PORT_OPTIONS,
    TARGET_OPTIONS,
    Option,
    build_match,
    build_target,
)

__all__ = ["parse_save", "split_words"]

_BASIC = frozenset(
    ["-s", "--source", "--src", "-d", "--destination", "--dst", "-i", "--in-interface",
     "-o", "--out-interface", "-p", "--protocol", "-f", "--fragment", "-m", "--match",
     "-j", "--jump", "-g", "--goto"]
)  # fmt: skip
_ADDR = {"-s": "s", "--source": "s", "--src": "s", "-d": "d", "--destination": "d", "--dst": "d"}
_IFACE = {"-i": "i", "--in-interface": "i", "-o": "o", "--out-interface": "o"}
_PROTO_OPTIONS = {**PORT_OPTIONS, "--tcp-flags": 2, "--syn": 0}
_POLICIES = frozenset(["ACCEPT", "DROP"])
# Target extensions that are not chains (kept verbatim unless typed in TARGET_OPTIONS).
_EXTENSIONS = frozenset(
    ["CHECKSUM", "CLASSIFY", "CT", "DSCP", "HL", "IDLETIMER", "LED", "NETMAP", "NFLOG",
     "NFQUEUE", "NOTRACK", "QUEUE", "RATEEST", "REDIRECT", "SECMARK", "CONNSECMARK", "SET",
     "SYNPROXY", "TCPMSS", "TCPOPTSTRIP", "TEE", "TOS", "TPROXY", "TRACE", "TTL", "ULOG",
     "AUDIT", "CLUSTERIP", "ECN", "MIRROR", "SAME"]
)  # fmt: skip


def split_words(line: str) -> list[str]:
    """Split one line as ``iptables-restore`` does (``ValueError`` on an open quote).

    A quote may open in the middle of a word (``a"b c"`` is one word ``ab c``) and a closing
    quote ends the word; a backslash escapes the next character inside quotes only.
    """
    if '"' not in line:
        return line.split()
    if "\\" in line:
        return _split_escaped(line)
    parts = line.split('"')
    if len(parts) % 2 == 0:
        raise ValueError("unterminated quote")
    words: list[str] = []
    for k, part in enumerate(parts):
        if k % 2 == 0:
            words.extend(part.split())
        elif parts[k - 1] and not parts[k - 1][-1].isspace() and (k > 1 or words):
            words[-1] += part
        else:
            words.append(part)
    return words


def _split_escaped(line: str) -> list[str]:
    words: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in line:
        if quoted:
            if escaped:
                buf.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
                words.append("".join(buf))
                buf = []
            else:
                buf.append(ch)
        elif ch == '"':
            quoted = True
        elif ch.isspace():
            if buf:
                words.append("".join(buf))
                buf = []
        else:
            buf.append(ch)
    if quoted:
        raise ValueError("unterminated quote")
    if buf:
        words.append("".join(buf))
    return words


class _RuleReader:
    """Reads the words after ``-A CHAIN`` into pieces and a target."""

    def __init__(self, words: list[str], start: int, chains: AbstractSet[str], family: int) -> None:
        self.family = family
        self.words = words
        self.i = start
        self.chains = chains
        self.pieces: list[Match] = []
        self.target: Target | None = None
        self.protocols: set[str] = set()  # protocol set by -p, or module loaded
        self.addrs: dict[str, str] = {}

    def read(self) -> tuple[tuple[Match, ...], Target | None]:
        words, n = self.words, len(self.words)
        while self.i < n:
            word = words[self.i]
            invert = False
            if word == "!":
                invert = True
                self.i += 1
                if self.i == n:
                    raise ValueError("! at the end of the rule")
                word = words[self.i]
                if word == "!":
                    raise ValueError("! twice")
            self.i += 1
            if word in _ADDR or word in _IFACE or word in ("-p", "--protocol"):
                self._basic(word, self._value(word), invert)
            elif word in ("-f", "--fragment"):
                self.pieces.append(Fragment(invert))
            elif word in ("-m", "--match"):
                if invert:
                    raise ValueError("a match module cannot be inverted")
                self._module(self._value(word))
            elif word in ("-j", "--jump", "-g", "--goto"):
                if invert or self.target is not None:
                    raise ValueError(f"unexpected {word}")
                name = self._value(word, "a target name")
                if word in ("-g", "--goto"):
                    self.target = Goto(name)
                else:
                    self.target = self._target(name)
            elif word in _PROTO_OPTIONS and self.protocols:
                self.i -= 2 if invert else 1
                self._options_of_loaded_protocol()
            else:
                raise ValueError(f"unexpected {'! ' if invert else ''}{word!r}")
        return tuple(self.pieces), self.target

    def _value(self, option: str, what: str = "a value") -> str:
        if self.i >= len(self.words):
            raise ValueError(f"{option} needs {what}")
        self.i += 1
        return _plain(self.words[self.i - 1], f"{option} value")

    def _basic(self, word: str, value: str, invert: bool) -> None:
        if word in _ADDR:
            if value not in self.addrs:
                try:
                    version = ipaddress.ip_network(value, strict=False).version
                except ValueError:
                    raise ValueError(f"invalid address {value!r}") from None
                if version != self.family:
                    raise ValueError(f"{value} is not an IPv{self.family} address")
                self.addrs[value] = value
            self.pieces.append(Addr(_ADDR[word], value, invert))
        elif word in _IFACE:
            self.pieces.append(Iface(_IFACE[word], value, invert))
        else:
            last = self.pieces[-1] if self.pieces else None
            # kube-proxy's "-m tcp -p tcp": the module load and the protocol as one piece.
            if (
                type(last) is TcpUdp
                and last == TcpUdp(last.protocol)
                and last.protocol == value
                and not invert
            ):
                self.pieces[-1] = Protocol(value, module=True)
            else:
                self.pieces.append(Protocol(value, invert))
            self.protocols.add(value.lower())

    def _collect(self, options: dict[str, int]) -> list[Option] | None:
        """Options known to one module, until a word that is not one (None: unknown option)."""
        words, n = self.words, len(self.words)
        out: list[Option] = []
        while self.i < n:
            j = self.i
            invert = words[j] == "!"
            if invert:
                j += 1
                if j == n:
                    raise ValueError("! at the end of the rule")
            word = words[j]
            if word not in options:
                if word.startswith("--") and word not in _BASIC:
                    if word in _PROTO_OPTIONS:
                        if self.protocols:
                            return out  # belongs to the protocol module, read later
                        # iptables reads options in order: before -p/-m tcp, --dport is
                        # nobody's (and iptables-save always prints -p first).
                        raise ValueError(f"unknown option {word!r}: no -p tcp, udp or sctp yet")
                    return None
                return out
            arity = options[word]
            if j + 1 + arity > n:
                raise ValueError(f"{word} needs a value")
            values = words[j + 1 : j + 1 + arity]
            if word not in _FREE_TEXT:
                for v in values:
                    _plain(v, f"{word} value")
            out.append((word, values, invert))
            self.i = j + 1 + arity
        return out

    def _verbatim(self) -> tuple[str, ...]:
        words, n = self.words, len(self.words)
        start = self.i
        while self.i < n:
            word = words[self.i]
            if word in _BASIC or (word == "!" and self.i + 1 < n and words[self.i + 1] in _BASIC):
                break
            self.i += 1
        return tuple(words[start : self.i])

    def _module(self, module: str) -> None:
        options = MATCH_OPTIONS.get(module)
        start = self.i
        opts = None if options is None else self._collect(options)
        if opts is None:
            self.i = start
            self.pieces.append(UnknownMatch(module, self._verbatim()))
            return
        if module in ("tcp", "udp", "sctp"):
            self.protocols.add(module)
        self.pieces.append(build_match(module, opts))

    def _options_of_loaded_protocol(self) -> None:
        proto = (
            next(p for p in ("tcp", "udp", "sctp") if p in self.protocols)
            if any(p in self.protocols for p in ("tcp", "udp", "sctp"))
            else None
        )
        if proto is None:
            raise ValueError(f"unexpected {self.words[self.i]!r}: no tcp, udp or sctp protocol")
        opts = self._collect(MATCH_OPTIONS[proto])
        if not opts:
            raise ValueError(f"unexpected {self.words[self.i]!r}")
        m = build_match(proto, opts)
        self.pieces.append(TcpUdp(**{**_fields(m), "module": False}))  # type: ignore[arg-type]

    def _target(self, name: str) -> Target:
        options = TARGET_OPTIONS.get(name)
        if options is not None:
            start = self.i
            opts = self._collect(options)
            if opts is not None:
                return build_target(name, opts)
            self.i = start
        if name in self.chains and options is None:
            return Jump(name)
        args = self._verbatim()
        if args and not args[0].startswith("-") and name not in _EXTENSIONS and options is None:
            # A chain jump takes no arguments; an extension's start with "--" (iptables:
            # "Bad argument").
            raise ValueError(f"bad argument {args[0]!r} after -j {name}")
        if args or name in _EXTENSIONS or options is not None:
            return UnknownTarget(name, args)
        return Jump(name)


# Options whose value is free text (iptables-save quotes it): everything else is a name, a
# number or an address, which iptables refuses when it holds whitespace.
_FREE_TEXT = frozenset(["--comment", "--log-prefix", "--nflog-prefix", "--ulog-prefix"])


def _plain(word: str, what: str) -> str:
    """``word`` unless it holds whitespace (xshared.c: "Invalid chain name", and alike)."""
    if any(c.isspace() for c in word):
        raise ValueError(f"invalid {what} {word!r}: whitespace is not allowed here")
    return word


def _fields(m: object) -> dict[str, object]:
    return {f: getattr(m, f) for f in m.__slots__}  # type: ignore[attr-defined]


def _counters(text: str) -> Counters:
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"invalid counters {text!r}")
    packets, sep, count = text[1:-1].partition(":")
    if not sep or not packets.isdigit() or not count.isdigit():
        raise ValueError(f"invalid counters {text!r}")
    return Counters(int(packets), int(count))


class _TableBuilder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.chains: dict[str, Chain] = {}
        self.statements: list[Statement] = []

    def declare(self, chain: Chain) -> None:
        if chain.name in self.chains:
            raise ValueError(f"chain {chain.name} declared twice")
        self.chains[chain.name] = chain

    def table(self) -> Table:
        return Table(self.name, tuple(self.chains.values()), tuple(self.statements))


def _chain_line(line: str, builder: _TableBuilder) -> None:
    words = line[1:].split()
    if len(words) not in (2, 3) or not words[0]:
        raise ValueError(f"malformed chain line {line!r}")
    name, policy = words[0], words[1]
    counters = _counters(words[2]) if len(words) == 3 else ZERO
    builtin = name in BUILTIN_CHAINS[builder.name]
    if builtin and policy not in _POLICIES:
        raise ValueError(f"built-in chain {name} needs a policy ACCEPT or DROP, not {policy}")
    if not builtin and policy != "-":
        raise ValueError(f"user chain {name} cannot have policy {policy}")
    builder.declare(Chain(name, policy if builtin else None, counters))


def _command(
    words: list[str], builder: _TableBuilder, counters: Counters | None, family: int
) -> None:
    cmd = words[0]
    if len(words) < 2:
        raise ValueError(f"{cmd} needs a chain name")
    chain = _plain(words[1], "chain name")
    if cmd in ("-N", "--new-chain", "-X", "--delete-chain"):
        if len(words) != 2:
            raise ValueError(f"unexpected {words[2]!r} after {cmd} {chain}")
        if cmd in ("-N", "--new-chain"):
            builder.declare(Chain(chain))
        else:
            builder.statements.append(DeleteChain(chain))
        return
    start, position = 2, 1
    if cmd in ("-I", "--insert") and len(words) > 2 and words[2].isdigit():
        start, position = 3, int(words[2])
        if position < 1:
            raise ValueError("rule position starts at 1")
    reader = _RuleReader(words, start, builder.chains.keys(), family)
    pieces, target = reader.read()
    rule = Rule(chain, pieces, target, counters)
    builder.statements.append(rule if cmd in ("-A", "--append") else Insert(rule, position))


_COMMANDS = frozenset(
    ["-A", "--append", "-I", "--insert", "-N", "--new-chain", "-X", "--delete-chain"]
)


def parse_save(text: str, *, source: str = "<string>", family: int = 4) -> Ruleset:
    """Read an ``iptables-save`` dump or an ``iptables-restore`` payload into a Ruleset."""
    # A dump of 300,000 rules makes a million small objects; the cyclic collector would
    # rescan them all again and again while none of them can form a cycle. Pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, source, family)
    finally:
        if collecting:
            gc.enable()


def _parse(text: str, source: str, family: int) -> Ruleset:
    tables: list[Table] = []
    builder: _TableBuilder | None = None
    lineno = 0
    try:
        for index, raw in enumerate(text.split("\n")):
            lineno = index + 1
            line = raw.rstrip("\r")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] == "*":
                if builder is not None:
                    raise ValueError(f"table {builder.name} has no COMMIT before {line}")
                name = line[1:].strip()
                if name not in BUILTIN_CHAINS:
                    raise ValueError(f"unknown table {name!r}")
                builder = _TableBuilder(name)
                continue
            if builder is None:
                raise ValueError(f"{line.split()[0]!r} outside a table (no *table line)")
            if line.strip() == "COMMIT":
                tables.append(builder.table())
                builder = None
                continue
            if line[0] == ":":
                _chain_line(line, builder)
                continue
            words = split_words(line)
            counters = None
            if words[0].startswith("["):
                counters = _counters(words.pop(0))
                if not words:
                    raise ValueError("counters without a rule")
            if words[0] not in _COMMANDS:
                raise ValueError(f"unknown command {words[0]!r}")
            _command(words, builder, counters, family)
    except ValueError as err:
        raise DumpError(str(err), source=source, line=lineno) from None
    if builder is not None:
        raise DumpError(f"table {builder.name} has no COMMIT", source=source, line=lineno)
    return Ruleset(family, tuple(tables))
