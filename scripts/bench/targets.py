"""Issue 14's targets and their verdicts: arithmetic on the figures of one ``make bench`` run.

Each comparison gives two figures, the rate of one side over the other's ("by rate") and the inverse
ratio of their server CPU time per unit ("by CPU": what the rate ratio would be if each server had
a core to itself, and the figure the issue reads, since the other processes on a shared machine
move it much less). A target names which of the two it is read by and its bound; the run ends with
the table of them all, "Targets" (docs/benchmarks.md). Nothing here measures or prints.
"""

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

#: The steps of a full flow whose p50 at one connection is compared (issue 14, "latency a person feels").
FLOW_STEPS = ("register", "authorize", "token", "refresh")
TABLE_HEAD = "| target | by rate | by CPU | verdict |\n|---|---|---|---|"


@dataclass(frozen=True)
class Verdict:
    """One target of issue 14 and how the run measured against it."""

    target: str
    by_rate: float | None
    by_cpu: float | None
    #: The figure the target is read by (None: the run did not measure it), and its bound.
    figure: float | None
    bound: float
    #: ``at least``: met when figure >= bound (a ratio of speeds); ``at most``: when figure <= bound.
    sense: Literal["at least", "at most"] = "at least"
    #: What the figure is (the worst step, the sizes that ran ...), printed after it.
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.figure is None:
            return None
        return self.figure >= self.bound if self.sense == "at least" else self.figure <= self.bound

    def verdict(self) -> str:
        """``met (0.74)``, ``MISSED (0.52; needs at least 0.7)``, or ``not run``, with the note."""
        note = f"; {self.note}" if self.note else ""
        if self.figure is None:
            return f"not run{note}"
        if self.met:
            return f"met ({self.figure:.2f}{note})"
        return f"**MISSED** ({self.figure:.2f}; needs {self.sense} {self.bound:g}{note})"

    def line(self) -> str:
        """``| target | by rate | by CPU | verdict |``."""
        return f"| {self.target} | {_figure(self.by_rate)} | {_figure(self.by_cpu)} | {self.verdict()} |"


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def ratios(rate: float, other_rate: float, cpu_ms: float, other_cpu_ms: float) -> tuple[float, float]:
    """One side against the other: its rate over theirs, and their CPU time per unit over its own."""
    by_rate = rate / other_rate if other_rate else 0.0
    by_cpu = other_cpu_ms / cpu_ms if cpu_ms else 0.0
    return by_rate, by_cpu


def paired_cpu_ratio(cpu_ms: Sequence[float], other_cpu_ms: Sequence[float]) -> float:
    """ "By CPU" from two sides run round by round, alternating: the median of each round's ratio (the
    other side's CPU time per unit over this side's), not the ratio of two medians.

    Both runs of a pair ran seconds apart, so a drift of the machine's load over minutes falls on
    both and divides out, where two medians can come from rounds minutes apart. What one run alone
    suffers (a round's ratio of metadata to the ceiling went from 0.5 to 1.15 on the loaded machine,
    docs/benchmarks.md) stays: only more rounds narrow that. Rounds with no unit are left out.
    """
    pairs = [other / mine for mine, other in zip(cpu_ms, other_cpu_ms, strict=True) if mine and other]
    return statistics.median(pairs) if pairs else 0.0


def ratio_target(
    target: str, bound: float, by_rate: float, by_cpu: float, read_by: Literal["rate", "CPU"] = "CPU", note: str = ""
) -> Verdict:
    """A ratio of one side to the other, at least ``bound``, read by CPU time per unit unless ``read_by`` says rate."""
    figure = by_cpu if read_by == "CPU" else by_rate
    return Verdict(target, by_rate, by_cpu, figure, bound, note=note)


def latency_target(
    target: str, ours: Mapping[str, Mapping[str, float]], sdk: Mapping[str, Mapping[str, float]], bound: float
) -> Verdict:
    """Each step's p50 of ours over the SDK's, at most ``bound``: read by the worst step, which the note names."""
    worst: tuple[float, str] | None = None
    for step in FLOW_STEPS:
        mine, theirs = ours.get(step, {}).get("p50_ms"), sdk.get(step, {}).get("p50_ms")
        if not mine or not theirs:
            return Verdict(target, None, None, None, bound, "at most", note=f"no p50 for {step}")
        worst = max(worst or (0.0, ""), (mine / theirs, f"{step} {mine:.2f} against {theirs:.2f} ms"))
    assert worst is not None
    return Verdict(target, None, None, worst[0], bound, "at most", note=f"worst step: {worst[1]}")


def growth_target(p50_ms: Mapping[int, float], bound: float = 1.2, size: int = 1_000_000) -> Verdict:
    """The token endpoint's p50 at the largest database that ran over that at the smallest, at most
    ``bound``. The target is at ``size`` journeys: a smaller largest database is not its verdict,
    only a sign (``met`` None, the figure printed with the sizes that ran)."""
    target = f"token p50 at {size:,} journeys ≤ {bound:g} x at 1,000"
    if len(p50_ms) < 2:
        sizes = ", ".join(f"{journeys:,}" for journeys in p50_ms) or "none"
        return Verdict(target, None, None, None, bound, "at most", note=f"sizes run: {sizes}; needs two")
    small, large = min(p50_ms), max(p50_ms)
    note = f"{p50_ms[large]:.2f} against {p50_ms[small]:.2f} ms"
    figure = p50_ms[large] / p50_ms[small]
    if large < size:
        note = f"at {large:,} only: {figure:.2f} ({note})"
        return Verdict(target, None, None, None, bound, "at most", note=note)
    return Verdict(
        f"token p50 at {large:,} journeys ≤ {bound:g} x at {small:,}", None, None, figure, bound, "at most", note=note
    )
