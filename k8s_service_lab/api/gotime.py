"""Go's ``time.Parse(time.RFC3339, …)``: which timestamps a manifest may hold, and the words
Go uses to refuse one.

``metav1.Time`` fields (``creationTimestamp``, ``deletionTimestamp``) are decoded by this
parse, so ``creationTimestamp: yesterday`` is refused by the apiserver with Go's own text::

    >>> from k8s_service_lab.api.gotime import rfc3339_problem
    >>> rfc3339_problem("2024-05-01T10:00:00.5+02:00") is None
    True
    >>> print(rfc3339_problem("2024-13-01T10:00:00Z"))
    parsing time "2024-13-01T10:00:00Z": month out of range
"""

from __future__ import annotations

from k8s_service_lab.field import go_quote

__all__ = ["RFC3339", "rfc3339_problem"]

#: Go's reference layout for RFC 3339.
RFC3339 = "2006-01-02T15:04:05Z07:00"

# The layout walked element by element: (literal before it, element, digits it takes).
# Go's year takes exactly four digits, the hour one or two, every other field exactly two.
_ELEMENTS = (
    ("", "2006", 4),
    ("-", "01", 2),
    ("-", "02", 2),
    ("T", "15", 1),
    (":", "04", 2),
    (":", "05", 2),
)
_LIMITS = {"01": ("month", 1, 12), "15": ("hour", 0, 23), "04": ("minute", 0, 59)}
_LIMITS["05"] = ("second", 0, 59)
_DIGITS = "0123456789"


def rfc3339_problem(value: str) -> str | None:
    """Why Go's RFC 3339 parse refuses ``value``, in Go's words; ``None`` when it parses.

    Like Go's parser this walks the layout left to right and stops at the first element that
    does not fit (``cannot parse "…" as "01"``); numbers out of range say so
    (``hour out of range``); the day is checked against the month last.
    """
    rest, numbers = value, {}

    def bad(elem: str, layout_elem: str) -> str:
        head = f"parsing time {go_quote(value)} as {go_quote(RFC3339)}"
        return f"{head}: cannot parse {go_quote(elem)} as {go_quote(layout_elem)}"

    def out_of_range(what: str) -> str:
        return f"parsing time {go_quote(value)}: {what} out of range"

    for prefix, elem, least in _ELEMENTS:
        if not rest.startswith(prefix):
            return bad(rest, prefix)
        rest = rest[len(prefix) :]
        width = max(least, 2)
        digits = len(rest[:width]) - len(rest[:width].lstrip(_DIGITS))
        if digits < least:
            return bad(rest, elem)
        numbers[elem], rest = int(rest[:digits]), rest[digits:]
        limit = _LIMITS.get(elem)
        if limit is not None and not limit[1] <= numbers[elem] <= limit[2]:
            return out_of_range(limit[0])
    # A fraction of a second is accepted after the seconds even though the layout has none.
    if len(rest) >= 2 and rest[0] in ".," and rest[1] in _DIGITS:
        rest = rest[1:].lstrip(_DIGITS)
    if rest.startswith("Z"):
        rest = rest[1:]
    else:
        offset = rest[:6]
        hours, minutes = offset[1:3], offset[4:6]
        if len(offset) < 6 or offset[3] != ":" or offset[0] not in "+-":
            return bad(rest, "Z07:00")
        if hours.strip(_DIGITS) or minutes.strip(_DIGITS):
            return bad(rest, "Z07:00")
        # Go's check is "> 24" and "> 60": some people do write offsets of 24 hours.
        if int(hours) > 24:
            return out_of_range("time zone offset hour")
        if int(minutes) > 60:
            return out_of_range("time zone offset minute")
        rest = rest[6:]
    if rest:
        return f"parsing time {go_quote(value)}: extra text: {go_quote(rest)}"
    if not 1 <= numbers["02"] <= _days_in(numbers["01"], numbers["2006"]):
        return out_of_range("day")
    return None


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31
