"""Label keys and label values: what Kubernetes v1.34 accepts, and exactly what it says if not.

A label key is ``[prefix "/"] name``: the optional prefix a lowercase DNS subdomain, the name
at most 63 characters of ``[-A-Za-z0-9_.]`` that starts and ends alphanumeric. A label value
follows the name rules but may also be empty. The messages are apimachinery's
``util/validation`` ones (``IsQualifiedName``, ``IsValidLabelValue``) word for word, double
spaces included::

    >>> validate_label_key("app.kubernetes.io/name")
    []
    >>> validate_label_key("/x")
    ['prefix part must be non-empty']
    >>> validate_label_value("a" * 64)
    ['must be no more than 63 characters']

Lengths count UTF-8 bytes, as Go's ``len`` does, although v1.34 still words them as
"characters" (the "bytes" wording arrived in v1.35).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from k8s_service_lab.field import FieldError, FieldPath, invalid

__all__ = [
    "LABEL_KEY_NAME_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "is_qualified_name",
    "max_len_error",
    "regex_error",
    "validate_label_key",
    "validate_label_value",
    "validate_labels",
]

LABEL_KEY_NAME_MAX_LENGTH: Final = 63
LABEL_VALUE_MAX_LENGTH: Final = 63
_DNS1123_SUBDOMAIN_MAX_LENGTH: Final = 253

# The regex texts are part of the messages, so they are kept exactly as upstream spells them.
_NAME_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_VALUE_FMT: Final = "(" + _NAME_FMT + ")?"
_DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT: Final = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"

# fullmatch, because Go anchors these with ^...$ and Go's $ never matches before a final "\n".
_NAME_RE: Final = re.compile(_NAME_FMT)
_VALUE_RE: Final = re.compile(_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE: Final = re.compile(_DNS1123_SUBDOMAIN_FMT)

_NAME_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_VALUE_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_EMPTY_MSG: Final = "must be non-empty"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """Upstream's RegexError: each example is written ``'x', `` and joined with `` or ``.

    That join is where the famous double space (``'MyName',  or 'my.name'``) comes from.
    """
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _byte_len(text: str) -> int:
    # Go's len() counts bytes; "surrogatepass" keeps odd input from raising here.
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


_NAME_REGEX_ERROR: Final = regex_error(_NAME_MSG, _NAME_FMT, "MyName", "my.name", "123-abc")
_VALUE_REGEX_ERROR: Final = regex_error(_VALUE_MSG, _VALUE_FMT, "MyValue", "my_value", "12345")
_SUBDOMAIN_REGEX_ERROR: Final = regex_error(
    _DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"
)
_TOO_MANY_SLASHES: Final = (
    "a qualified name "
    + _NAME_REGEX_ERROR
    + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
)


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errors = []
    if _byte_len(value) > _DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(max_len_error(_DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errors.append(_SUBDOMAIN_REGEX_ERROR)
    return errors


def validate_label_key(key: str) -> list[str]:
    """Every problem with ``key`` as a label key (upstream ``IsQualifiedName``); ``[]`` if valid.

    A key with two or more ``/`` gets one summary message; otherwise the prefix and the name
    part are judged separately, so ``example.com/`` reports both that the name is empty and
    that it does not match the name regex.
    """
    errors: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = key
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part " + _EMPTY_MSG)
        else:
            errors.extend("prefix part " + msg for msg in _dns1123_subdomain_errors(prefix))
    else:
        return [_TOO_MANY_SLASHES]
    if not name:
        errors.append("name part " + _EMPTY_MSG)
    elif _byte_len(name) > LABEL_KEY_NAME_MAX_LENGTH:
        errors.append("name part " + max_len_error(LABEL_KEY_NAME_MAX_LENGTH))
    if not _NAME_RE.fullmatch(name):
        errors.append("name part " + _NAME_REGEX_ERROR)
    return errors


def is_qualified_name(value: str) -> list[str]:
    """Kubernetes' "qualified name" check; the same rules as a label key.

    Fields such as ``appProtocol`` and ``loadBalancerClass`` use it under this name.
    """
    return validate_label_key(value)


def validate_label_value(value: str) -> list[str]:
    """Every problem with ``value`` as a label value (upstream ``IsValidLabelValue``).

    The empty string is a valid label value.
    """
    errors = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _VALUE_RE.fullmatch(value):
        errors.append(_VALUE_REGEX_ERROR)
    return errors


def validate_labels(labels: Mapping[str, str], path: FieldPath) -> list[FieldError]:
    """Validate a label map as the apiserver does (``ValidateLabels``): one error per problem.

    Note that every error carries ``path`` itself, not ``path[key]``: a bad Service selector
    reads ``spec.selector: Invalid value: "a b": ...``. Keys are visited in sorted order so
    the report is stable (Go visits a map in random order).
    """
    errors: list[FieldError] = []
    for key in sorted(labels):
        errors.extend(invalid(path, key, msg) for msg in validate_label_key(key))
        value = labels[key]
        errors.extend(invalid(path, value, msg) for msg in validate_label_value(value))
    return errors
