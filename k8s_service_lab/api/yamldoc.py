"""YAML documents read the way kubectl reads them, remembering the line of every field.

kubectl splits a file into documents at lines starting with ``---``, turns each YAML document
into JSON with go-yaml v2 (``sigs.k8s.io/yaml``) and sends the JSON on. Three consequences
are reproduced here, because learners meet them:

* **YAML 1.1 scalars as go-yaml reads them** — ``yes``/``no``/``on``/``off``/``y``/``n`` are
  booleans and ``1.0`` is a number, so ``version: 1.0`` in labels is refused later as "a number
  where a string belongs"; but timestamps stay strings and ``1:30`` is not sexagesimal;
* **error texts** — ``error converting YAML to JSON: yaml: line 3: mapping values are not
  allowed in this context``, with go-yaml's line numbers, which count from the start of the
  *document*, not the file (``DecodeError.line`` gives the file's line);
* **JSON limits** — ``.nan`` and ``.inf`` cannot become JSON; map keys become strings.

Every mapping and sequence remembers its lines, so a later error can point at the very field::

    >>> from k8s_service_lab.api.yamldoc import load_document
    >>> doc = load_document("kind: Service\\nspec:\\n  ports:\\n  - port: 80\\n", first_line=10)
    >>> doc["spec"].key_lines["ports"], doc["spec"]["ports"].item_lines
    (12, [13])
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:  # libyaml's parser is faster, and its problem texts are go-yaml's (both are libyaml's)
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = [
    "IMPLICIT_RESOLVERS",
    "LineList",
    "LineMap",
    "YamlError",
    "go_json",
    "load_document",
    "split_documents",
    "to_json_value",
]

_PREFIX = "error converting YAML to JSON: "
#: Expanded size past which a document of aliases is refused ("billion laughs").
_MAX_NODES = 1_000_000


class YamlError(Exception):
    """A document that is not YAML, or not JSON-able; ``line`` is the file's 1-based line."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class LineMap(dict[str, object]):
    """A YAML mapping: a plain ``dict`` that knows its line and each key's line."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}


class LineList(list[object]):
    """A YAML sequence: a plain ``list`` that knows its line and each item's line."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


def split_documents(text: str) -> list[tuple[int, str]]:
    """Cut ``text`` into ``(first line, document)`` pieces, as kubectl's YAML reader does.

    A separator is a line *starting* with ``---``; only a comment may follow it on that line.
    """
    pieces: list[tuple[int, str]] = []
    start, lines = 1, list[str]()
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("---"):
            after = line[3:].strip()
            if after and not after.startswith("#"):
                raise YamlError(f"invalid Yaml document separator: {after}", number)
            pieces.append((start, "\n".join(lines)))
            start, lines = number + 1, []
        else:
            lines.append(line)
    pieces.append((start, "\n".join(lines)))
    return pieces


def load_document(text: str, first_line: int = 1) -> object:
    """Parse one YAML document (``None`` when it is empty) into JSON values with line marks."""
    loader = _Loader(text)
    loader.first_line = first_line
    try:
        if not loader.check_node():
            return None
        node = loader.get_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > _MAX_NODES:
            raise YamlError(_PREFIX + "yaml: document contains excessive aliasing", first_line)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        raise _from_marked(err, text, first_line) from None
    except yaml.YAMLError as err:  # the reader: bad characters
        reason = getattr(err, "reason", None) or str(err)
        raise YamlError(_PREFIX + f"yaml: {reason}", _line_at(err, text, first_line)) from None
    except RecursionError:
        raise YamlError(_PREFIX + "yaml: exceeded max depth", first_line) from None
    except (ValueError, TypeError, UnicodeError) as err:
        raise YamlError(_PREFIX + f"yaml: {err}", first_line) from None
    finally:
        loader.dispose()


def _from_marked(err: yaml.MarkedYAMLError, text: str, first_line: int) -> YamlError:
    problem = err.problem or "unknown problem parsing YAML content"
    problem_mark, context_mark = err.problem_mark, err.context_mark
    mark = problem_mark or context_mark
    line = None if mark is None else first_line + mark.line
    if problem.startswith("found undefined alias") and problem_mark is not None:
        name = re.match(r"\*([^\s,\[\]{}]*)", text[problem_mark.index :])
        anchor = name[1] if name else ""
        return YamlError(_PREFIX + f"yaml: unknown anchor '{anchor}' referenced", line)
    if isinstance(err, yaml.constructor.ConstructorError):
        where = 0 if problem_mark is None else problem_mark.line + 1
    elif problem_mark is not None and problem_mark.line != 0:
        # go-yaml's quirk, kept so that messages match: a scanner error's line is 1-based,
        # a parser error's is the 0-based line of the problem ...
        scanner = isinstance(err, yaml.scanner.ScannerError)
        where = problem_mark.line + (1 if scanner else 0)
    else:
        # ... and without a problem line it is the context's 0-based line; 0 is not shown.
        where = 0 if context_mark is None else context_mark.line
    at = f"line {where}: " if where else ""
    return YamlError(_PREFIX + f"yaml: {at}{problem}", line)


def _line_at(err: yaml.YAMLError, text: str, first_line: int) -> int:
    position = getattr(err, "position", 0)
    return first_line + text[: position if isinstance(position, int) else 0].count("\n")


def _expanded_size(node: Node, sizes: dict[int, int]) -> int:
    """How many nodes the document has once every alias is expanded (memoised, so fast)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a node that contains itself counts once; construction refuses it
    size = 1
    if isinstance(node, SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = min(size, _MAX_NODES + 1)
    return sizes[id(node)]


class _Loader(_BaseLoader):
    """PyYAML's safe loader with go-yaml v2's scalar rules and line-marked containers."""

    first_line = 1


_TAG = "tag:yaml.org,2002:"
# Timestamps are recognised (so that they are quoted on output, as go-yaml quotes them) but
# read back as the strings they are; YAML 1.1's sexagesimal numbers and "=" are not go-yaml's.
_KEPT = (_TAG + "null", _TAG + "merge", _TAG + "timestamp")
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag in _KEPT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_TRUE = {"y", "yes", "true", "on"}
_BOOLS = "y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
_Loader.add_implicit_resolver(_TAG + "bool", re.compile(f"^(?:{_BOOLS})$"), list("yYnNtTfFoO"))
_Loader.add_implicit_resolver(
    _TAG + "int",
    re.compile(
        r"^[-+]?(?:0b_*[01][01_]*|0o_*[0-7][0-7_]*|0x_*[0-9a-fA-F][0-9a-fA-F_]*|[0-9][0-9_]*)$"
    ),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    _TAG + "float",
    re.compile(
        # go-yaml drops "_" before trying a number that starts with a digit or a sign.
        r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9_]+)?$"
        r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)

#: go-yaml v2's implicit typing of plain scalars; the encoder quotes what would be misread.
IMPLICIT_RESOLVERS = _Loader.yaml_implicit_resolvers


def _construct_map(loader: _Loader, node: MappingNode) -> LineMap:
    loader.flatten_mapping(node)  # merge keys ("<<: *defaults"); explicit keys still win
    result = LineMap(loader.first_line + node.start_mark.line)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, dict | list):
            raise yaml.constructor.ConstructorError(
                None, None, "invalid map key", key_node.start_mark
            )
        text = _json_key(key)
        # A repeated key keeps its last value, as kubectl does (go-yaml v2 is not strict here).
        result[text] = loader.construct_object(value_node, deep=True)
        result.key_lines[text] = loader.first_line + key_node.start_mark.line
    return result


def _construct_seq(loader: _Loader, node: SequenceNode) -> LineList:
    result = LineList(loader.first_line + node.start_mark.line)
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.item_lines.append(loader.first_line + child.start_mark.line)
    return result


def _cannot_decode(loader: _Loader, node: ScalarNode, tag: str) -> YamlError:
    # Only an explicit tag gets here (``!!int abc``): the implicit patterns always parse.
    line = loader.first_line + node.start_mark.line
    return YamlError(_PREFIX + f"yaml: cannot decode !!str `{node.value}` as a !!{tag}", line)


def _construct_bool(loader: _Loader, node: ScalarNode) -> bool:
    text = loader.construct_scalar(node)
    if text not in _BOOLS.split("|"):
        raise _cannot_decode(loader, node, "bool")
    return text.lower() in _TRUE


def _construct_int(loader: _Loader, node: ScalarNode) -> int:
    text = loader.construct_scalar(node)
    digits = text.replace("_", "").lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    try:
        if digits[:2] in ("0b", "0o", "0x"):
            return sign * int(digits, 0)
        if len(digits) > 1 and digits[0] == "0" and set(digits) <= set("01234567"):
            return sign * int(digits, 8)  # Go reads a leading 0 as octal
        return sign * int(digits, 10)
    except ValueError:
        raise _cannot_decode(loader, node, "int") from None


def _construct_float(loader: _Loader, node: ScalarNode) -> float:
    text = loader.construct_scalar(node)
    lowered = text.lower().lstrip("+")
    if lowered in (".inf", "-.inf", ".nan"):
        word = {".inf": "+Inf", "-.inf": "-Inf", ".nan": "NaN"}[lowered]
        line = loader.first_line + node.start_mark.line
        # go-yaml reads these fine; it is the JSON step after it that cannot write them.
        raise YamlError(_PREFIX + f"json: unsupported value: {word}", line)
    try:
        return float(text.replace("_", ""))
    except ValueError:
        raise _cannot_decode(loader, node, "float") from None


def _construct_binary(loader: _Loader, node: ScalarNode) -> str:
    raw = loader.construct_scalar(node).encode("ascii", "replace")
    return base64.decodebytes(raw).decode("utf-8", "replace")


def _construct_set(loader: _Loader, node: MappingNode) -> LineMap:
    result = _construct_map(loader, node)
    for key in result:
        result[key] = None
    return result


def _construct_plain_str(loader: _Loader, node: ScalarNode) -> str:
    return loader.construct_scalar(node)


def _construct_untagged(loader: _Loader, node: Node) -> object:
    """A node with a tag go-yaml does not know (``!foo x``): read as if it had none."""
    if isinstance(node, MappingNode):
        return _construct_map(loader, node)
    if isinstance(node, SequenceNode):
        return _construct_seq(loader, node)
    assert isinstance(node, ScalarNode)
    return loader.construct_scalar(node)


for _tag, _constructor in (
    ("map", _construct_map),
    ("seq", _construct_seq),
    ("omap", _construct_seq),
    ("pairs", _construct_seq),
    ("set", _construct_set),
    ("bool", _construct_bool),
    ("int", _construct_int),
    ("float", _construct_float),
    ("binary", _construct_binary),
    ("timestamp", _construct_plain_str),
):
    _Loader.add_constructor(_TAG + _tag, _constructor)
_Loader.add_constructor(None, _construct_untagged)


def _json_key(key: object) -> str:
    """A YAML map key as sigs.k8s.io/yaml writes it into JSON: always a string."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(key, ".nan" if key != key else repr(key))
    if key is None:
        return "null"
    return str(key)


def to_json_value(value: object, depth: int = 0) -> object:
    """A copy of ``value`` made of JSON types only (dicts with string keys, lists, scalars).

    This is the check kubectl's YAML-to-JSON step makes, applied to a dict handed to us:
    NaN and infinities, and values JSON has no form for, are refused.
    """
    if depth > 1000:
        raise YamlError(_PREFIX + "yaml: exceeded max depth", None)
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            word = "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
            raise YamlError(_PREFIX + f"json: unsupported value: {word}", None)
        return value
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if isinstance(key, list | dict | tuple):
                raise YamlError(_PREFIX + f"yaml: invalid map key: {key!r}", None)
            out[_json_key(key)] = to_json_value(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [to_json_value(item, depth + 1) for item in value]
    raise YamlError(_PREFIX + f"json: unsupported type: {type(value).__name__}", None)


def go_json(value: object) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes it: keys sorted, ``<>&`` escaped."""
    text = json.dumps(_go_numbers(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _HTML_ESCAPES:
        text = text.replace(char, escaped)
    return text


_HTML_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _go_numbers(value: object) -> object:
    # After YAML-to-JSON, 80.0 is written 80: Go prints whole floats without a fraction.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _go_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_go_numbers(v) for v in value]
    return value
