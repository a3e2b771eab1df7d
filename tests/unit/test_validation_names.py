"""Format checks (apimachinery ``util/validation``) and Go's sloppy IP parser.

Expected strings are upstream's own, written out; IP parsing vectors follow Go 1.16's
``net.ParseIP`` (k8s.io/utils ``ParseIPSloppy``), which v1.34 still uses for legacy fields.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k8s_service_lab.api.validation.ipparse import parse_cidr_sloppy, parse_ip_sloppy
from k8s_service_lab.api.validation.names import (
    endpoint_ip_errors,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_valid_cidr,
    is_valid_cidr_for_legacy_field,
    is_valid_ip,
    is_valid_ip_for_legacy_field,
    is_valid_port_name,
    is_valid_port_num,
    mask_trailing_dash,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    regex_error,
    validate_cidr_for_legacy_field,
    validate_dns1123_label,
    validate_endpoint_ip,
    validate_fully_qualified_domain_name,
    validate_ip_for_legacy_field,
    validate_nonnegative,
)
from k8s_service_lab.api.validation.render import go_json, go_list, go_typed
from k8s_service_lab.field import FieldPath, invalid
from tests.unit.upstream_messages import CIDR, DNS1035, DNS1123_LABEL, IP, SUBDOMAIN

PATH = FieldPath.root("spec", "x")


def test_regex_error_double_space() -> None:
    assert (
        regex_error("m", "f", "a", "b") == "m (e.g. 'a',  or 'b', regex used for validation is 'f')"
    )
    assert regex_error("m", "f") == "m (regex used for validation is 'f')"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("web", []),
        ("a", []),
        ("web-1", []),
        ("1web", [DNS1035]),
        ("-web", [DNS1035]),
        ("web-", [DNS1035]),
        ("Web", [DNS1035]),
        ("", [DNS1035]),
        ("a" * 63, []),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("1" * 64, ["must be no more than 63 characters", DNS1035]),
        ("é", [DNS1035]),
    ],
)
def test_dns1035_label(value: str, expected: list[str]) -> None:
    assert is_dns1035_label(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1web", []),
        ("http", []),
        ("HTTP", [DNS1123_LABEL]),
        ("a.b", ["must not contain dots"]),
        ("a..b", [DNS1123_LABEL]),
        ("a_b", [DNS1123_LABEL]),
        ("", [DNS1123_LABEL]),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("é" * 32, ["must be no more than 63 characters", DNS1123_LABEL]),  # 64 bytes
    ],
)
def test_dns1123_label(value: str, expected: list[str]) -> None:
    assert is_dns1123_label(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", []),
        ("a.b.c", []),
        ("1.2.3.4", []),
        ("Example.com", [SUBDOMAIN]),
        ("a..b", [SUBDOMAIN]),
        ("a.", [SUBDOMAIN]),
        ("my_host", [SUBDOMAIN]),
        ("a" * 253, []),
        ("a" * 254, ["must be no more than 253 characters"]),
    ],
)
def test_dns1123_subdomain(value: str, expected: list[str]) -> None:
    assert is_dns1123_subdomain(value) == expected


@pytest.mark.parametrize(
    ("port", "ok"), [(1, True), (65535, True), (0, False), (-1, False), (65536, False)]
)
def test_port_num(port: int, ok: bool) -> None:
    assert is_valid_port_num(port) == ([] if ok else ["must be between 1 and 65535, inclusive"])


CHARSET = "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
LETTER = "must contain at least one letter (a-z)"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("http", []),
        ("http-8080", []),
        ("a", []),
        ("a" * 15, []),
        ("a" * 16, ["must be no more than 15 characters"]),
        ("web_http", [CHARSET]),
        ("HTTP", [CHARSET, LETTER]),
        ("8080", [LETTER]),
        ("a--b", ["must not contain consecutive hyphens"]),
        ("-a", ["must not begin or end with a hyphen"]),
        ("a-", ["must not begin or end with a hyphen"]),
        ("", [CHARSET, LETTER]),
        ("-", [LETTER, "must not begin or end with a hyphen"]),
        (
            "--",
            [LETTER, "must not contain consecutive hyphens", "must not begin or end with a hyphen"],
        ),
        ("Verylongportname", ["must be no more than 15 characters", CHARSET]),
    ],
)
def test_port_name(name: str, expected: list[str]) -> None:
    assert is_valid_port_name(name) == expected


def test_mask_trailing_dash_quirk() -> None:
    # Upstream drops the last *two* bytes and appends "a".
    assert mask_trailing_dash("web-") == "wea"
    assert mask_trailing_dash("a-") == "a"
    assert mask_trailing_dash("-") == "-"
    assert mask_trailing_dash("web") == "web"


def test_name_functions_with_prefix() -> None:
    assert name_is_dns_subdomain("web-", prefix=True) == []
    assert name_is_dns_subdomain("web-", prefix=False) == [SUBDOMAIN]
    assert name_is_dns1035_label("web-", prefix=True) == []
    assert name_is_dns_label("team-", prefix=True) == []
    assert name_is_dns_label("a.b") == ["must not contain dots"]


# -- Go's sloppy IP parser ---------------------------------------------------------------------

IP_VECTORS = [
    ("10.96.0.10", "10.96.0.10"),
    ("010.096.000.010", "10.96.0.10"),
    ("0000000001.2.3.4", "1.2.3.4"),
    ("255.255.255.255", "255.255.255.255"),
    ("256.1.1.1", None),
    ("10.96.0.300", None),
    ("1.2.3", None),
    ("1.2.3.4.5", None),
    ("1.2.3.", None),
    (" 1.2.3.4", None),
    ("::", "::"),
    ("::1", "::1"),
    ("2001:DB8::FFFF", "2001:db8::ffff"),
    ("2001:db8:0:0:0:0:0:1", "2001:db8::1"),
    ("00001::", "1::"),
    ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
    ("1:2:3:4:5:6:7:8:9", None),
    ("1::2::3", None),
    (":::", None),
    ("::1:", None),
    ("fe80::1%eth0", None),
    ("::ffff:1.2.3.4", "1.2.3.4"),
    ("::ffff:01.2.3.4", "1.2.3.4"),
    ("1::1.2.3.4", "1::102:304"),
    ("1:2:3:4:5:6:7:1.2.3.4", None),
    ("", None),
    ("None", None),
]


@pytest.mark.parametrize(("text", "expected"), IP_VECTORS)
def test_parse_ip_sloppy(text: str, expected: str | None) -> None:
    parsed = parse_ip_sloppy(text)
    assert (None if parsed is None else str(parsed)) == expected


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("10.0.0.0/24", 24),
        ("10.0.0.1/024", 24),
        ("::/0", 0),
        ("2001:db8::/64", 64),
        ("::ffff:1.2.3.4/120", 120),
    ],
)
def test_parse_cidr_sloppy(text: str, prefix: int) -> None:
    parsed = parse_cidr_sloppy(text)
    assert parsed is not None
    assert parsed.prefix_length == prefix


@pytest.mark.parametrize(
    "text", ["10.0.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/a", "/24", "10.0.0.0/-1"]
)
def test_parse_cidr_sloppy_rejects(text: str) -> None:
    assert parse_cidr_sloppy(text) is None


@given(st.ip_addresses())
def test_sloppy_parser_agrees_with_ipaddress(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    for text in (str(address), address.exploded):
        parsed = parse_ip_sloppy(text)
        assert parsed is not None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            assert str(parsed) == str(address.ipv4_mapped)
        else:
            assert str(parsed) == str(address)


@given(st.text(max_size=45))
def test_sloppy_parser_never_crashes(text: str) -> None:
    parse_ip_sloppy(text)
    parse_cidr_sloppy(text)
    assert all(
        isinstance(m, str)
        for m in is_valid_ip(text) + is_valid_cidr(text) + endpoint_ip_errors(text)
    )


# -- IP / CIDR checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "legacy", "strict"),
    [
        ("10.1.2.3", [], []),
        ("010.1.2.3", [], ["must not have leading 0s"]),
        ("::ffff:1.2.3.4", [], ["must not be an IPv4-mapped IPv6 address"]),
        ("2001:DB8::1", [], []),
        ("1.2.3", [IP], [IP]),
    ],
)
def test_ip_for_legacy_field(value: str, legacy: list[str], strict: list[str]) -> None:
    assert is_valid_ip_for_legacy_field(value) == legacy
    assert is_valid_ip_for_legacy_field(value, strict=True) == strict


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.1.2.3", []),
        ("2001:db8::1", []),
        ("2001:DB8::1", ['must be in canonical form ("2001:db8::1")']),
        ("2001:db8:0:0:0:0:0:1", ['must be in canonical form ("2001:db8::1")']),
        ("010.1.2.3", ["must not have leading 0s"]),
        ("x", [IP]),
    ],
)
def test_strict_ip(value: str, expected: list[str]) -> None:
    assert is_valid_ip(value) == expected


@pytest.mark.parametrize(
    ("value", "legacy", "strict"),
    [
        ("10.0.0.0/8", [], []),
        ("10.0.0.1/8", [], ["must not have bits set beyond the prefix length"]),
        ("10.0.0.0/08", [], ["must not have leading 0s in IP or prefix length"]),
        ("010.0.0.0/8", [], ["must not have leading 0s in IP or prefix length"]),
        ("::ffff:10.0.0.0/104", [], ["must not have an IPv4-mapped IPv6 address"]),
        ("10.0.0.0/33", [CIDR], [CIDR]),
        ("10.0.0.0", [CIDR], [CIDR]),
    ],
)
def test_cidr_for_legacy_field(value: str, legacy: list[str], strict: list[str]) -> None:
    assert is_valid_cidr_for_legacy_field(value) == legacy
    assert is_valid_cidr_for_legacy_field(value, strict=True) == strict


def test_strict_cidr_canonical() -> None:
    assert is_valid_cidr("2001:db8::/64") == []
    assert is_valid_cidr("2001:DB8::/64") == ['must be in canonical form ("2001:db8::/64")']


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.1", []),
        ("0.0.0.0", ["may not be unspecified (0.0.0.0)"]),
        ("::", ["may not be unspecified (::)"]),
        ("127.1.2.3", ["may not be in the loopback range (127.0.0.0/8, ::1/128)"]),
        ("::ffff:127.0.0.1", ["may not be in the loopback range (127.0.0.0/8, ::1/128)"]),
        ("169.254.0.1", ["may not be in the link-local range (169.254.0.0/16, fe80::/10)"]),
        ("febf::1", ["may not be in the link-local range (169.254.0.0/16, fe80::/10)"]),
        ("224.0.0.1", ["may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"]),
        ("224.0.1.1", []),  # other multicast is (probably by accident) allowed
        ("ff12::1", ["may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"]),
        ("bad", ["must be a valid IP address"]),
    ],
)
def test_endpoint_ip(value: str, expected: list[str]) -> None:
    assert endpoint_ip_errors(value) == expected


def test_field_error_helpers() -> None:
    assert [str(e) for e in validate_dns1123_label("A", PATH)] == [
        'spec.x: Invalid value: "A": ' + DNS1123_LABEL
    ]
    assert [str(e) for e in validate_ip_for_legacy_field("x", PATH)] == [
        'spec.x: Invalid value: "x": ' + IP
    ]
    assert (
        validate_ip_for_legacy_field("010.1.2.3", PATH, strict=True, valid_old=["010.1.2.3"]) == []
    )
    assert [str(e) for e in validate_cidr_for_legacy_field("x", PATH)] == [
        'spec.x: Invalid value: "x": ' + CIDR
    ]
    assert [str(e) for e in validate_endpoint_ip("127.0.0.1", PATH)] == [
        'spec.x: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'
    ]
    assert [str(e) for e in validate_nonnegative(-1, PATH)] == [
        "spec.x: Invalid value: -1: must be greater than or equal to 0"
    ]
    assert validate_nonnegative(0, PATH) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("db.example.com", []),
        ("db.example.com.", []),
        ("", ["spec.x: Required value"]),
        (
            "localhost",
            [
                'spec.x: Invalid value: "localhost": should be a domain with at least two segments separated by dots'
            ],
        ),
        ("Db.example.com", ['spec.x: Invalid value: "Db.example.com": ' + SUBDOMAIN]),
        (
            "a" * 64 + ".com",
            ['spec.x: Invalid value: "' + "a" * 64 + '": must be no more than 63 characters'],
        ),
    ],
)
def test_fully_qualified_domain_name(name: str, expected: list[str]) -> None:
    assert [str(e) for e in validate_fully_qualified_domain_name(name, PATH)] == expected


def test_go_json_rendering() -> None:
    assert str(go_typed("a<b>&c")) == '"a\\u003cb\\u003e\\u0026c"'
    assert str(go_typed(None)) == "null"
    assert str(go_list(())) == "null"
    assert str(go_list(("10.0.0.1", "fd00::1"))) == '["10.0.0.1","fd00::1"]'
    assert str(go_json({"b": 1, "a": [True, None, "x"]})) == '{"b":1,"a":[true,null,"x"]}'
    with pytest.raises(TypeError):
        go_json(object())
    assert str(invalid(PATH, go_typed("<x>"), "d")) == 'spec.x: Invalid value: "\\u003cx\\u003e": d'


@given(st.text(max_size=80))
def test_name_checks_never_crash(text: str) -> None:
    for check in (is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_valid_port_name):
        assert all(isinstance(m, str) for m in check(text))
    validate_fully_qualified_domain_name(text, PATH)


@given(st.integers())
def test_port_numbers_never_crash(number: int) -> None:
    assert is_valid_port_num(number) in ([], ["must be between 1 and 65535, inclusive"])
