"""Grading a prediction: which choices of a lab's question the tracer makes true.

A choice is a set of claims about one traced connection (``verdict``, ``endpoints``,
``masquerade``, ``probability``, ``chain``, ``no_chain``). The tracer's result decides each
claim; exactly one choice must hold, or the question itself is broken::

    >>> from fractions import Fraction
    >>> from k8s_service_lab.tracer import TraceResult
    >>> result = TraceResult("DNAT", (), (("10.244.1.2", 8080, Fraction(1, 2)),
    ...     ("10.244.2.2", 8080, Fraction(1, 2))), False, False)
    >>> claim_holds(result, {"endpoints": 2, "probability": "1/2"})
    (True, 'holds')
    >>> claim_holds(result, {"verdict": "REJECT"})
    (False, 'verdict is DNAT, not REJECT')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from k8s_service_lab.labs.spec import Predict
from k8s_service_lab.tracer import TraceResult

__all__ = ["PredictResult", "claim_holds", "grade"]


@dataclass(frozen=True, slots=True)
class PredictResult:
    """The learner's ``choice``, whether the tracer agrees, and which choices are true."""

    choice: str
    correct: bool
    true_choices: tuple[str, ...]
    reason: str


def claim_holds(result: TraceResult, expect: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether every claim of ``expect`` is true of ``result``, and if not, the first false one."""
    chains = {h.chain for b in result.branches for h in b.hops}
    for key, want in expect.items():
        if key == "verdict" and result.verdict != str(want).upper():
            return False, f"verdict is {result.verdict}, not {want}"
        if key == "endpoints" and len(result.endpoints) != int(want):
            return False, f"{len(result.endpoints)} endpoint(s), not {want}"
        if key == "masquerade" and result.masquerade != bool(want):
            return False, f"masquerade is {result.masquerade}"
        if key == "probability":
            probs = {p for _, _, p in result.endpoints}
            if not probs or probs != {Fraction(str(want))}:
                shown = ", ".join(str(p) for p in sorted(probs)) or "none"
                return False, f"endpoint probabilities are {shown}, not {want}"
        if key == "chain" and not any(c.startswith(str(want)) for c in chains):
            return False, f"no hop through a {want}… chain"
        if key == "no_chain" and any(c.startswith(str(want)) for c in chains):
            return False, f"the packet goes through a {want}… chain"
    return True, "holds"


def grade(predict: Predict, result: TraceResult, choice: str | None = None) -> PredictResult:
    """Grade ``choice`` (default: the lab's reference answer) against the tracer's ``result``."""
    picked = predict.answer if choice is None else choice
    if picked not in predict.choice_ids():
        options = ", ".join(predict.choice_ids())
        return PredictResult(picked, False, (), f'"{picked}" is not a choice ({options})')
    true = tuple(cid for cid, _, expect in predict.choices if claim_holds(result, expect)[0])
    if len(true) != 1:
        said = ", ".join(true) if true else "none"
        return PredictResult(
            picked, False, true, f"the question is broken: the tracer makes {said} true"
        )
    if picked == true[0]:
        return PredictResult(picked, True, true, f"the tracer agrees: {picked}")
    why = claim_holds(result, _expect(predict, picked))[1]
    return PredictResult(picked, False, true, f"the tracer says {true[0]}: for {picked}, {why}")


def _expect(predict: Predict, cid: str) -> Mapping[str, Any]:
    return next(expect for c, _, expect in predict.choices if c == cid)
