"""Format checks for names, ports and IPs, with apimachinery v1.34's exact messages.

Each ``is_*`` function mirrors a function of ``k8s.io/apimachinery/pkg/util/validation``
(``validation.go`` and ``ip.go``) and returns its detail strings: ``[]`` means valid, and
every rule the value breaks adds one message, in upstream order. The ``validate_*`` helpers
wrap those details into :class:`~k8s_service_lab.field.FieldError` objects at a path::

    >>> from k8s_service_lab.api.validation.names import is_dns1035_label, is_valid_port_name
    >>> is_dns1035_label("web")
    []
    >>> is_valid_port_name("web_http")
    ['must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)']
    >>> is_valid_port_name("-x")
    ['must not begin or end with a hyphen']

Lengths count UTF-8 bytes, as Go's ``len`` does (v1.34 still calls them "characters").

IP and CIDR fields of Services, Endpoints and node/status objects predate strict parsing;
they use the *legacy* checks, whose strictness depends on the ``StrictIPCIDRValidation``
feature gate. That gate is alpha and off in v1.34, so ``strict=False`` is the default and
``010.1.2.3`` or ``::ffff:1.2.3.4`` are accepted, exactly as a v1.34 apiserver does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final

from k8s_service_lab.api.validation.ipparse import parse_cidr_sloppy, parse_ip_sloppy
from k8s_service_lab.field import FieldError, FieldPath, invalid, required
from k8s_service_lab.labels_validation import max_len_error, regex_error

__all__ = [
    "CIDR_ERROR",
    "IP_ERROR",
    "IS_NEGATIVE_ERROR",
    "endpoint_ip_errors",
    "inclusive_range_error",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_valid_cidr",
    "is_valid_cidr_for_legacy_field",
    "is_valid_ip",
    "is_valid_ip_for_legacy_field",
    "is_valid_port_name",
    "is_valid_port_num",
    "mask_trailing_dash",
    "max_len_error",
    "name_is_dns1035_label",
    "name_is_dns_label",
    "name_is_dns_subdomain",
    "regex_error",
    "validate_cidr_for_legacy_field",
    "validate_dns1123_label",
    "validate_dns1123_subdomain",
    "validate_endpoint_ip",
    "validate_fully_qualified_domain_name",
    "validate_ip_for_legacy_field",
    "validate_nonnegative",
]

#: ``IsValidIP``'s message (the odd comma is upstream's).
IP_ERROR: Final = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
#: ``IsValidCIDR``'s message.
CIDR_ERROR: Final = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
#: ``ValidateNonnegativeField``'s message.
IS_NEGATIVE_ERROR: Final = "must be greater than or equal to 0"

_DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT: Final = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT: Final = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE: Final = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE: Final = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE: Final = re.compile(_DNS1035_LABEL_FMT)
_PORT_NAME_CHARSET_RE: Final = re.compile("[-a-z0-9]+")
_PORT_NAME_LETTER_RE: Final = re.compile("[a-z]")


def inclusive_range_error(low: int, high: int) -> str:
    return f"must be between {low} and {high}, inclusive"


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


_DNS1123_LABEL_ERROR: Final = regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character",
    _DNS1123_LABEL_FMT,
    "my-name",
    "123-abc",
)
_DNS1123_SUBDOMAIN_ERROR: Final = regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character",
    _DNS1123_SUBDOMAIN_FMT,
    "example.com",
)
_DNS1035_LABEL_ERROR: Final = regex_error(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character",
    _DNS1035_LABEL_FMT,
    "my-name",
    "abc-123",
)


def is_dns1123_label(value: str) -> list[str]:
    """``IsDNS1123Label``: lowercase ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, at most 63 bytes.

    A value that would be a valid *subdomain* gets the shorter ``must not contain dots``.
    """
    errors = []
    if _byte_len(value) > 63:
        errors.append(max_len_error(63))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errors.append("must not contain dots")
        else:
            errors.append(_DNS1123_LABEL_ERROR)
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    """``IsDNS1123Subdomain``: dot-separated RFC 1123 labels, at most 253 bytes in all."""
    errors = []
    if _byte_len(value) > 253:
        errors.append(max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errors.append(_DNS1123_SUBDOMAIN_ERROR)
    return errors


def is_dns1035_label(value: str) -> list[str]:
    """``IsDNS1035Label``: like a 1123 label but must start with a letter (Service names)."""
    errors = []
    if _byte_len(value) > 63:
        errors.append(max_len_error(63))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errors.append(_DNS1035_LABEL_ERROR)
    return errors


def is_valid_port_num(port: int) -> list[str]:
    """``IsValidPortNum``: 1 to 65535 (0 is not a port)."""
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def is_valid_port_name(name: str) -> list[str]:
    """``IsValidPortName``: an IANA_SVC_NAME, one message per rule broken.

    At most 15 bytes of ``[-a-z0-9]``, at least one letter (so ``"8080"`` is not a name),
    no ``--`` and no hyphen at either end.
    """
    errors = []
    if _byte_len(name) > 15:
        errors.append(max_len_error(15))
    if not _PORT_NAME_CHARSET_RE.fullmatch(name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER_RE.search(name):
        errors.append("must contain at least one letter (a-z)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def mask_trailing_dash(name: str) -> str:
    """Upstream ``maskTrailingDash`` for ``generateName`` prefixes, quirk included.

    A prefix may end in ``-`` because a random suffix follows; upstream replaces the *last
    two* bytes with ``a`` (``name[:len(name)-2] + "a"``), which still makes the dash harmless.
    """
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    """``NameIsDNSSubdomain``: names of Pods, Deployments, EndpointSlices, Nodes ..."""
    return is_dns1123_subdomain(mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    """``NameIsDNSLabel``: names of Namespaces."""
    return is_dns1123_label(mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    """``NameIsDNS1035Label``: names of Services (they become DNS labels and env var names)."""
    return is_dns1035_label(mask_trailing_dash(name) if prefix else name)


def _strict_ip_errors(value: str) -> list[str]:
    # netip.ParseAddr refuses what ParseIPSloppy forgave; Python's ipaddress agrees with it.
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return ["must not have leading 0s"]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return ["must not be an IPv4-mapped IPv6 address"]
    return []


def is_valid_ip_for_legacy_field(value: str, strict: bool = False) -> list[str]:
    """``IsValidIPForLegacyField``: what ``clusterIPs``, ``externalIPs`` ... accept.

    Without ``strict`` (v1.34's default) any address Go 1.16 could parse is fine, leading
    zeros and IPv4-mapped IPv6 included; non-canonical IPv6 is always fine here.
    """
    if parse_ip_sloppy(value) is None:
        return [IP_ERROR]
    return _strict_ip_errors(value) if strict else []


def is_valid_ip(value: str) -> list[str]:
    """``IsValidIP`` (v1.33+): strict parsing *and* canonical form, for newer fields."""
    parsed = parse_ip_sloppy(value)
    if parsed is None:
        return [IP_ERROR]
    errors = _strict_ip_errors(value)
    if errors:
        return errors
    if value != str(parsed):
        return [f'must be in canonical form ("{parsed}")']
    return []


def _strict_cidr_errors(value: str) -> list[str]:
    # Only called once ParseCIDRSloppy accepted the value, so what netip.ParsePrefix still
    # refuses can only be leading zeros, in the address or in the prefix length.
    address_text, _, bits = value.partition("/")
    leading_zero_bits = len(bits) > 1 and bits.startswith("0")
    try:
        address = ipaddress.ip_address(address_text)
    except ValueError:
        return ["must not have leading 0s in IP or prefix length"]
    if leading_zero_bits:
        return ["must not have leading 0s in IP or prefix length"]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return ["must not have an IPv4-mapped IPv6 address"]
    network = ipaddress.ip_network(f"{address}/{int(bits)}", strict=False)
    if network.network_address != address:
        return ["must not have bits set beyond the prefix length"]
    return []


def is_valid_cidr_for_legacy_field(value: str, strict: bool = False) -> list[str]:
    """``IsValidCIDRForLegacyField``: ``loadBalancerSourceRanges``, ``podCIDRs`` ...

    Without ``strict`` (v1.34's default) ``10.0.0.1/24`` (host bits set) and ``10.0.0.0/024``
    are accepted, as they always were.
    """
    if parse_cidr_sloppy(value) is None:
        return [CIDR_ERROR]
    return _strict_cidr_errors(value) if strict else []


def is_valid_cidr(value: str) -> list[str]:
    """``IsValidCIDR`` (v1.33+): strict, and in canonical ``network/bits`` form."""
    parsed = parse_cidr_sloppy(value)
    if parsed is None:
        return [CIDR_ERROR]
    errors = _strict_cidr_errors(value)
    if errors:
        return errors
    canonical = str(ipaddress.ip_network(value, strict=False))
    if value != canonical:
        return [f'must be in canonical form ("{canonical}")']
    return []


def endpoint_ip_errors(value: str) -> list[str]:
    """``ValidateEndpointIP``: addresses that make no sense as a destination.

    Used for Endpoints and EndpointSlice addresses and (historically) Service
    ``externalIPs``. The unspecified message quotes the value as written.
    """
    parsed = parse_ip_sloppy(value)
    if parsed is None:
        return ["must be a valid IP address"]
    errors = []
    if parsed.is_unspecified:
        errors.append(f"may not be unspecified ({value})")
    if parsed.is_loopback:
        errors.append("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    if parsed.is_link_local_unicast:
        errors.append("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    if parsed.is_link_local_multicast:
        errors.append("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    return errors


def _invalid_each(path: FieldPath, value: object, details: Sequence[str]) -> list[FieldError]:
    return [invalid(path, value, detail) for detail in details]


def validate_dns1123_label(value: str, path: FieldPath) -> list[FieldError]:
    """Upstream ``ValidateDNS1123Label`` (port names, container names, hostnames)."""
    return _invalid_each(path, value, is_dns1123_label(value))


def validate_dns1123_subdomain(value: str, path: FieldPath) -> list[FieldError]:
    """Upstream ``ValidateDNS1123Subdomain`` (``externalName`` after its trailing dot)."""
    return _invalid_each(path, value, is_dns1123_subdomain(value))


def validate_ip_for_legacy_field(
    value: str, path: FieldPath, *, strict: bool = False, valid_old: Sequence[str] = ()
) -> list[FieldError]:
    """``IsValidIPForLegacyField`` as field errors; values in ``valid_old`` pass (ratcheting)."""
    if value in valid_old:
        return []
    return _invalid_each(path, value, is_valid_ip_for_legacy_field(value, strict))


def validate_cidr_for_legacy_field(
    value: str, path: FieldPath, *, strict: bool = False, valid_old: Sequence[str] = ()
) -> list[FieldError]:
    """``IsValidCIDRForLegacyField`` as field errors; values in ``valid_old`` pass."""
    if value in valid_old:
        return []
    return _invalid_each(path, value, is_valid_cidr_for_legacy_field(value, strict))


def validate_endpoint_ip(value: str, path: FieldPath) -> list[FieldError]:
    """``ValidateEndpointIP`` as field errors."""
    return _invalid_each(path, value, endpoint_ip_errors(value))


def validate_fully_qualified_domain_name(name: str, path: FieldPath) -> list[FieldError]:
    """``IsFullyQualifiedDomainName``: FQDN EndpointSlice addresses. Stops at the first problem.

    One trailing dot is allowed; the name needs two or more labels; the messages of a failed
    check are joined with ``,`` into a single error.
    """
    if not name:
        return [required(path)]
    name = name.removesuffix(".")
    problems = is_dns1123_subdomain(name)
    if problems:
        return [invalid(path, name, ",".join(problems))]
    labels = name.split(".")
    if len(labels) < 2:
        return [
            invalid(path, name, "should be a domain with at least two segments separated by dots")
        ]
    for label in labels:
        problems = is_dns1123_label(label)
        if problems:
            return [invalid(path, label, ",".join(problems))]
    return []


def validate_nonnegative(value: int, path: FieldPath) -> list[FieldError]:
    """``ValidateNonnegativeField``: ``must be greater than or equal to 0``."""
    return [invalid(path, value, IS_NEGATIVE_ERROR)] if value < 0 else []
