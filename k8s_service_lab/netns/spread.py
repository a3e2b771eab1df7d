"""Does the kernel spread connections the way the model says? Pearson's chi-square test.

kube-proxy's ``-m statistic --mode random`` rules give each endpoint an exact probability
(the tracer reports it as a :class:`~fractions.Fraction`). Counting which pod answered N real
connections and comparing with N times those probabilities is Pearson's test: the statistic
``sum((observed - expected)^2 / expected)`` follows a chi-square distribution with one degree
of freedom fewer than there are endpoints, and :func:`chi_square_sf` says how likely a value at
least that large is by chance::

    >>> from fractions import Fraction
    >>> third = Fraction(1, 3)
    >>> test = chi_square({"a": 97, "b": 103, "c": 100}, {"a": third, "b": third, "c": third})
    >>> test.dof, round(test.statistic, 2), round(test.p_value, 3)
    (2, 0.18, 0.914)
    >>> chi_square({"a": 300}, {"a": third, "b": third, "c": third}).p_value < 1e-100
    True
    >>> round(chi_square_sf(3.841458820694124, 1), 6)   # the textbook 5% point
    0.05

An answer from an endpoint the model gives probability 0 makes the p-value 0: it cannot
happen. The survival function is the regularised upper incomplete gamma function
``Q(dof/2, x/2)``, computed by its power series below ``a + 1`` and by a continued fraction
above (the usual split, where each converges fast); no SciPy needed.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

__all__ = ["ChiSquare", "chi_square", "chi_square_sf"]

K = TypeVar("K", bound=Hashable)

_EPS = 1e-15
_MAX_TERMS = 10_000
_TINY = 1e-300


@dataclass(frozen=True, slots=True)
class ChiSquare:
    """Pearson's statistic, its degrees of freedom and the probability of a value as large."""

    statistic: float
    dof: int
    p_value: float


def chi_square(observed: Mapping[K, int], probabilities: Mapping[K, Fraction | float]) -> ChiSquare:
    """Test counts ``observed`` against ``probabilities`` (which should sum to 1)."""
    total = sum(observed.values())
    possible = {k: float(p) for k, p in probabilities.items() if p > 0}
    if total == 0 or not possible:
        raise ValueError("a chi-square test needs observations and possible outcomes")
    if any(n > 0 and k not in possible for k, n in observed.items()):
        return ChiSquare(math.inf, max(len(possible) - 1, 1), 0.0)
    statistic = 0.0
    for key, p in possible.items():
        expected = total * p
        statistic += (observed.get(key, 0) - expected) ** 2 / expected
    dof = len(possible) - 1
    if dof == 0:
        return ChiSquare(statistic, 0, 1.0)
    return ChiSquare(statistic, dof, chi_square_sf(statistic, dof))


def chi_square_sf(x: float, dof: int) -> float:
    """``P(X >= x)`` for X chi-square distributed with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError("degrees of freedom must be at least 1")
    if x <= 0:
        return 1.0
    return _upper_gamma_q(dof / 2, x / 2)


def _upper_gamma_q(a: float, x: float) -> float:
    # log of x^a e^-x / Gamma(a), the factor both expansions share.
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        # P(a, x) = front * sum_n x^n / (a (a+1) ... (a+n)); Q = 1 - P.
        term = total = 1.0 / a
        for n in range(1, _MAX_TERMS):
            term *= x / (a + n)
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    # Q(a, x) = front / (x + 1 - a - 1(1-a)/(x + 3 - a - 2(2-a)/(x + 5 - a - ...))),
    # evaluated with the modified Lentz method.
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < _EPS:
            break
    return math.exp(log_front) * h
