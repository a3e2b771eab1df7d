r"""The simulator next to the kernel: does the kernel's path exist among the simulator's branches?

The simulator splits a trace into every way the packet can go; the kernel took one. They
agree when the kernel's rule path is one of the simulator's branches — the same rules in the
same chains, each rule compared in the kernel's canonical form (``nfttrace.hop_key``),
ignoring hops one side does not report (chain policies, nfacct-counting rules, rules the
simulator could not evaluate) — when the endpoint the kernel DNATed to is one of the
simulator's endpoints, and when both made the same masquerade decision (to the same
address). In nftables mode both sides name kube-proxy's table ``ip kube-proxy`` and rules
are compared by their parsed expressions, not their spelling. :class:`Comparison` says which
branch, lists every disagreement and renders the two paths side by side::

    >>> from fractions import Fraction
    >>> from k8s_service_lab.tracer import Branch, Hop, Packet, TraceResult
    >>> pkt = Packet("10.244.0.4", "10.244.1.2", "tcp", 40000, 8080)
    >>> jump = Hop("nat", "PREROUTING", "-A PREROUTING -j KUBE-SERVICES", None, "")
    >>> dnat = Hop("nat", "KUBE-SEP-X", "-A KUBE-SEP-X -p tcp -m tcp "
    ...            "-j DNAT --to-destination 10.244.1.2:8080", None, "")
    >>> b = Branch(Fraction(1), "DNAT", pkt, (jump, dnat), False, ("10.244.1.2", 8080))
    >>> sim = TraceResult.of([b], ())
    >>> kernel = TraceResult.of([Branch(Fraction(1), "DNAT", pkt, (jump, dnat), False,
    ...                                 ("10.244.1.2", 8080))], ())
    >>> c = compare(sim, kernel)
    >>> c.agrees, c.differences
    (True, ())
    >>> print(c.render(width=100).splitlines()[0])
    kernel and simulator agree: DNAT to 10.244.1.2:8080, not masqueraded (branch 1 of 1, p=1)
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from k8s_service_lab.netns.nfttrace import hop_key, is_nfacct
from k8s_service_lab.tracer.model import Branch, Hop, TraceResult

if TYPE_CHECKING:
    from k8s_service_lab.netns.kerneltrace import KernelTrace

__all__ = ["Comparison", "Row", "compare"]

Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the side-by-side view; ``mark`` is ``=`` (same hop), ``≠`` (different
    rule), ``<`` (simulator only), ``>`` (kernel only) or ``·`` (not compared: a policy)."""

    simulator: Hop | None
    kernel: Hop | None
    mark: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """The kernel's one path against the simulator's branches."""

    kernel: Branch
    #: The simulator branch whose path is the kernel's, else the closest one.
    branch: Branch | None
    branch_index: int | None
    branches: int
    path_equal: bool
    endpoint_ok: bool
    masquerade_ok: bool
    verdict_ok: bool
    differences: tuple[str, ...]
    rows: tuple[Row, ...]

    @property
    def agrees(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        k = self.kernel
        what = _outcome(k)
        if self.agrees and self.branch is not None and self.branch_index is not None:
            return (
                f"kernel and simulator agree: {what} (branch {self.branch_index + 1} of "
                f"{self.branches}, p={self.branch.probability})"
            )
        return f"kernel and simulator DISAGREE: kernel {what}"

    def render(self, width: int = 160) -> str:
        """The summary, each disagreement, then both paths side by side (a rich table)."""
        from rich.console import Console
        from rich.table import Table

        out = io.StringIO()
        console = Console(file=out, width=width, no_color=True, highlight=False)
        console.print(self.summary(), markup=False)
        for d in self.differences:
            console.print(f"  ✗ {d}", markup=False)
        left = "simulator"
        if self.branch is not None and self.branch_index is not None:
            left = f"simulator, branch {self.branch_index + 1} (p={self.branch.probability})"
        table = Table(show_lines=False, expand=True, pad_edge=False)
        table.add_column(left, ratio=1, overflow="fold")
        table.add_column("", width=1)
        table.add_column("kernel (nft monitor trace)", ratio=1, overflow="fold")
        for row in self.rows:
            table.add_row(_cell(row.simulator), row.mark, _cell(row.kernel))
        console.print(table)
        return out.getvalue()


def _outcome(b: Branch) -> str:
    if b.verdict != "DNAT" or b.endpoint is None:
        return b.verdict
    ip, port = b.endpoint
    where = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    masq = f"masqueraded to {b.packet.src}" if b.masquerade else "not masqueraded"
    return f"DNAT to {where}, {masq}"


def _cell(hop: Hop | None) -> str:
    if hop is None:
        return ""
    return f"{hop.table} {hop.chain}\n{hop.rule}"


def _compared(hop: Hop, family: int) -> bool:
    """Hops both sides report: rules the simulator evaluated, not policies or nfacct."""
    return not (
        hop.why == "chain policy" or hop.why.startswith("not evaluated") or is_nfacct(hop, family)
    )


def _keys(hops: Sequence[Hop], family: int) -> list[Key]:
    return [hop_key(h, family) for h in hops if _compared(h, family)]


def compare(simulated: TraceResult, kernel: KernelTrace | TraceResult) -> Comparison:
    """Put the kernel's path next to the simulator's branches (see the module text)."""
    result = kernel if isinstance(kernel, TraceResult) else kernel.result
    k = result.branches[0]
    family = 6 if ":" in k.packet.dst else 4
    kernel_keys = _keys(k.hops, family)
    scored = []
    for i, b in enumerate(simulated.branches):
        sim_keys = _keys(b.hops, family)
        ratio = difflib.SequenceMatcher(a=sim_keys, b=kernel_keys, autojunk=False).ratio()
        same = sim_keys == kernel_keys
        scored.append((same, b.endpoint == k.endpoint, ratio, -i, i, b))
    best = max(scored, default=None)
    differences: list[str] = []
    branch = best[5] if best is not None else None
    index = best[4] if best is not None else None
    path_equal = bool(best and best[0])
    if branch is None:
        differences.append("the simulator found no way for this packet")
    elif not path_equal:
        differences.append("the kernel's rule path is none of the simulator's branches")
    endpoints = {(ip, port) for ip, port, _ in simulated.endpoints}
    endpoint_ok = k.endpoint is None or k.endpoint in endpoints
    if not endpoint_ok and k.endpoint is not None:
        listed = ", ".join(f"{ip}:{port}" for ip, port in sorted(endpoints)) or "none"
        differences.append(f"the kernel chose {k.endpoint[0]}:{k.endpoint[1]}; simulated: {listed}")
    verdict_ok = branch is not None and branch.verdict == k.verdict
    if branch is not None and not verdict_ok:
        differences.append(f"verdict: simulator {branch.verdict}, kernel {k.verdict}")
    masquerade_ok = branch is not None and branch.masquerade == k.masquerade
    if branch is not None and masquerade_ok and k.masquerade and branch.packet.src != k.packet.src:
        masquerade_ok = False
    if branch is not None and not masquerade_ok:
        differences.append(f"masquerade: simulator {_masq(branch)}, kernel {_masq(k)}")
    rows = _rows(branch.hops if branch is not None else (), k.hops, family)
    return Comparison(
        k,
        branch,
        index,
        len(simulated.branches),
        path_equal,
        endpoint_ok,
        masquerade_ok,
        verdict_ok,
        tuple(differences),
        rows,
    )


def _masq(b: Branch) -> str:
    return f"to {b.packet.src}" if b.masquerade else "no"


def _rows(sim: Sequence[Hop], kernel: Sequence[Hop], family: int) -> tuple[Row, ...]:
    """Align the two hop lists on their keys; policies are shown but never mismatched."""
    a = [hop_key(h, family) for h in sim]
    b = [hop_key(h, family) for h in kernel]
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows.extend(
                Row(sim[i], kernel[j], "=")
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
            continue
        left, right = list(sim[i1:i2]), list(kernel[j1:j2])
        for n in range(max(len(left), len(right))):
            s = left[n] if n < len(left) else None
            k = right[n] if n < len(right) else None
            rows.append(Row(s, k, _mark(s, k, family)))
    return tuple(rows)


def _mark(s: Hop | None, k: Hop | None, family: int) -> str:
    sc = s if s is not None and _compared(s, family) else None
    kc = k if k is not None and _compared(k, family) else None
    if sc is None and kc is None:
        return "·"
    if sc is None:
        return ">"
    if kc is None:
        return "<"
    return "≠"
