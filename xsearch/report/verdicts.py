"""What a sweep can and cannot tell, in words: the headline, each point with its interval and each comparison's
verdict (xsearch/inference/comparisons.py decides them; docs/STATISTICS.md says how), for summary.md, the
page, plots.json and the W&B report run alike.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from typing import Any

from xsearch import contract
from xsearch.inference import sequential
from xsearch.inference.comparisons import (
    Analysis,
    Comparison,
    Scored,
    Sensitivity,
    Verdict,
    analyse,
    sharing_changes,
)
from xsearch.inference.planning import POWER
from xsearch.inference.stats import CONFIDENCE
from xsearch.report.records import SweepData
from xsearch.settings.sweep import SweepSettings

POINT_COLUMNS = ("point", "seeds", contract.TEST_ACCURACY, "low", "high")
COMPARISON_COLUMNS = ("a", "b", "kind", "difference", "low", "high", "p_differs_adjusted", "p_within_adjusted",
                      "verdict", "seeds_to_decide", "floor")


def points_text(value: float) -> str:
    return f"{100 * value:.1f}"


def _signed(value: float) -> str:
    return f"{100 * value:+.1f}"


def sentence(c: Comparison, analysis: Analysis) -> str:
    """One comparison as a person reads it."""
    head = f"{c.a.label} vs {c.b.label}"
    if c.estimate is None:
        return f"{head}: not compared ({c.why})"
    if not c.estimate.known:
        return (f"{head}: {_signed(c.estimate.value)} points, undecided: a point needs 2 seeds or more before the "
                "seeds' spread can be told from the difference")
    interval = c.estimate.interval()
    body = f"{head}: {_signed(interval.estimate)} points [{_signed(interval.low)}, {_signed(interval.high)}]"
    if not c.paired:
        body += " (scored on different test images: unpaired)"
    return f"{body}, {WORDING[c.verdict].sentence(c, analysis)}"


def _better(c: Comparison) -> str:
    return c.a.label if c.estimate.value > 0 else c.b.label


def _undecided(c: Comparison, analysis: Analysis) -> str:
    text = f"undecided (adjusted p = {c.p_differs:.2g} over {len(analysis.comparisons)} comparisons)"
    if c.seeds_needed is not None:
        return (f"{text}: {c.seeds_needed} seeds per point would decide it with {POWER:.0%} probability, were the "
                "difference what it looks now")
    if c.floor is not None:
        return (f"{text}: no number of seeds decides it on these {c.a.spread.images} test images, which resolve no "
                f"difference below {points_text(c.floor)} points")
    return text


@dataclasses.dataclass(frozen=True)
class Wording:
    """How the report says one verdict, everywhere it says it."""

    named: Callable[[Analysis], str]  # the verdict in a count: "equivalent within ±1.0 points"
    sentence: Callable[[Comparison, Analysis], str]  # what follows a comparison's interval in its sentence
    css: str  # the class of its line on the page (xsearch/report/html.py)
    said: Callable[[Comparison], str]  # what two studies must both say to agree (a difference: its direction)


# The one table each verdict's words come from: the sentences, the headline's counts, the page's classes, the
# documents' blocks and two studies' agreement.
WORDING: dict[Verdict, Wording] = {
    Verdict.DISTINGUISHABLE: Wording(
        named=lambda a: "distinguishable", css="separated", said=lambda c: f"{_better(c)} better",
        sentence=lambda c, a: f"distinguishable (adjusted p = {c.p_differs:.2g}): {_better(c)} is better"),
    Verdict.EQUIVALENT: Wording(
        named=lambda a: f"equivalent within ±{points_text(a.resolution)} points", css="separated",
        said=lambda c: "equivalent",
        sentence=lambda c, a: (f"equivalent within ±{points_text(a.resolution)} points (adjusted p = "
                               f"{c.p_within:.2g})")),
    Verdict.UNDECIDED: Wording(named=lambda a: "undecided", css="noise", said=lambda c: "undecided",
                               sentence=_undecided),
}
assert set(WORDING) == set(Verdict), "every verdict has its words"


def brief(c: Comparison, analysis: Analysis) -> str:
    """A comparison in a table cell: the difference, its interval and the verdict's name."""
    if c.estimate is None or not c.estimate.known:
        return "no estimate: " + (c.why or "a point has one seed")
    interval = c.estimate.interval()
    return (f"{_signed(interval.estimate)} [{_signed(interval.low)}, {_signed(interval.high)}] points, "
            f"{WORDING[c.verdict].named(analysis)}")


def sensitivity_line(sensitivity: Sensitivity | None, analysis: Analysis) -> str:
    """Which verdicts depend on sharing seed variance across points: none do, as each comparison uses its own two
    points' seeds; what pooling them would change is said, so that a reader sees how much the care costs."""
    if sensitivity is None or not analysis.comparisons:
        return ""
    head = ("No verdict here depends on sharing seed variance across points: each comparison uses its own two "
            "points' seeds.")
    if sensitivity.pooled_dof is None:
        return head
    test = (f" (Bartlett's test of that: p = {sensitivity.bartlett:.2g}; a few seeds a point can show little)"
            if sensitivity.bartlett is not None else "")
    pooled = (f"One seed variance pooled over the {len(analysis.points)} points ({sensitivity.pooled_dof:.0f} "
              f"degrees of freedom), were every point's seeds to vary alike{test},")
    if not sensitivity.changes:
        return f"{head} {pooled} would change none."
    changed = "; ".join(f"{c.comparison.a.label} vs {c.comparison.b.label} ({c.comparison.verdict} -> {c.shared})"
                        for c in sensitivity.changes)
    return f"{head} {pooled} would change {len(sensitivity.changes)}: {changed}."


@dataclasses.dataclass(frozen=True)
class Findings:
    headline: str
    analysis: Analysis | None
    sensitivity: str = ""  # which verdicts depend on sharing seed variance across points (`sensitivity_line`)

    @property
    def comparisons(self) -> list[Comparison]:
        return self.analysis.comparisons if self.analysis else []

    @property
    def points(self) -> list[dict[str, Any]]:
        """Each point: label, swept values, seeds, each seed's test accuracy and the interval over seeds and
        images (null with one seed)."""
        if self.analysis is None:
            return []
        shown = []
        for p in self.analysis.points:
            estimate = p.estimate
            interval = estimate.interval() if estimate is not None and estimate.known else None
            if interval is not None:  # an accuracy stays within [0, 1]
                interval = dataclasses.replace(interval, low=max(interval.low, 0.0), high=min(interval.high, 1.0))
            # A point whose trials were scored on different images has no pooled table: its mean is its seeds'.
            mean = p.spread.mean if p.spread else statistics.fmean(p.accuracies)
            shown.append({"label": p.label, "params": dict(zip(self.analysis.keys, p.values)), "seeds": len(p.seeds),
                          "accuracies": list(p.accuracies), "mean": mean,
                          "interval": interval.as_dict() if interval else None})
        return shown

    def point_rows(self) -> list[list[Any]]:
        """One row a point, in POINT_COLUMNS."""
        return [[p["label"], p["seeds"], p["mean"], *((p["interval"] or {}).get(k) for k in ("low", "high"))]
                for p in self.points]

    def sentences(self) -> list[str]:
        return [sentence(c, self.analysis) for c in self.comparisons]

    def comparison_rows(self) -> list[list[Any]]:
        """One row a comparison, in COMPARISON_COLUMNS."""
        rows = []
        for c in self.comparisons:
            interval = c.estimate.interval() if c.estimate is not None and c.estimate.known else None
            rows.append([c.a.label, c.b.label, c.kind, c.estimate.value if c.estimate else None,
                         interval.low if interval else None, interval.high if interval else None, c.p_differs,
                         c.p_within, c.verdict, c.seeds_needed, c.floor])
        return rows

    def markdown(self) -> list[str]:
        lines = [f"**{self.headline}**", ""] + ([self.sensitivity, ""] if self.sensitivity else [])
        if self.points:
            lines += [f"### Points: {contract.TEST_ACCURACY}, mean over seeds and test images, {CONFIDENCE:.0%} "
                      "interval for new seeds and new images", "",
                      "| point | seeds | test/acc | interval |", "|---|---|---|---|"]
            lines += [f"| {p['label']} | {p['seeds']} | {p['mean']:.4f} | "
                      + (f"{p['interval']['low']:.4f} - {p['interval']['high']:.4f} |" if p["interval"]
                         else "one seed: unknown |") for p in self.points]
        if self.comparisons:
            lines += ["", "### Comparisons", ""] + [f"- {s}" for s in self.sentences()]
        return lines


def scored(data: SweepData) -> list[Scored]:
    return [Scored.of(r.params, r.outcomes) for r in data.complete]


def findings(data: SweepData) -> Findings:
    if not data.complete:
        return Findings("No trial has completed with its test outcomes: nothing to compare yet.", None)
    trials = scored(data)
    analysis = analyse(trials, resolution=data.resolution, looks=data.looks)
    sensitivity = sharing_changes(trials, analysis) if analysis.comparisons else None
    return Findings(_headline(analysis, data), analysis, sensitivity_line(sensitivity, analysis))


# The seeds per point a headline prices deciding at: the sweep's default cap (its one home is the schema).
SUGGESTED_CAP = SweepSettings.model_fields["max_seeds"].default


@dataclasses.dataclass(frozen=True)
class DecidedPlan:
    """What `sweep.decide=true` with a cap would do to an undecided sweep's comparisons, were their differences
    what they look now: its looks, how many it would decide, and the trials it would add."""

    counts: list[int]  # seeds per point at each look
    decided: int
    undecided: int  # at its stricter level, which may hold back some this sweep's level decides
    trials: int


def decided_plan(data: SweepData, analysis: Analysis, cap: int) -> DecidedPlan:
    """Priced as such a sweep would run: each look at alpha / its number of looks (stricter than a plain sweep's
    alpha), seeds added in its steps (the first count at or above a comparison's need), to both points."""
    counts = sequential.schedule(max(min(len(p.seeds) for p in analysis.points), 2), cap)
    at_its_level = analyse(scored(data), resolution=data.resolution, looks=len(counts))
    target: dict[tuple, int] = {}
    decided = 0
    for c in at_its_level.undecided:
        if c.seeds_needed is not None and c.seeds_needed <= cap:
            decided += 1
            step = next(n for n in counts if n >= c.seeds_needed)
            for p in (c.a, c.b):
                target[p.values] = max(target.get(p.values, 0), step)
    have = {p.values: len(p.seeds) for p in analysis.points}
    added = sum(max(n - have[v], 0) for v, n in target.items())
    return DecidedPlan(counts, decided, len(at_its_level.undecided), added)


def _headline(analysis: Analysis, data: SweepData) -> str:
    trials = len(data.complete)
    if not analysis.keys:
        return f"{trials} complete trial(s) of one setting: nothing to compare."
    if not analysis.comparisons:  # e.g. a random search: every two points differ in several knobs
        return (f"No comparisons: no two of the points differ in one knob alone; each point's {CONFIDENCE:.0%} "
                "interval is below.")
    seeds = sorted({len(p.seeds) for p in analysis.points})
    images = sorted({p.spread.images for p in analysis.points if p.spread is not None})
    seeds_text = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    on = f"{images[0]:,} test images" if len(images) == 1 else "test images of several sizes"
    counted = ", ".join(f"{analysis.count(v)} {WORDING[v].named(analysis)}" for v in Verdict)
    looks = f" (looks: {analysis.looks}, each at alpha/{analysis.looks})" if analysis.looks > 1 else ""
    count = len(analysis.comparisons)
    parts = [f"{count} comparison{'s' * (count != 1)} at {seeds_text} seeds a point on {on}{looks}: {counted}."]
    undecided = analysis.undecided
    if undecided:
        needs = sorted(c.seeds_needed for c in undecided if c.seeds_needed is not None)
        stuck = [c for c in undecided if c.seeds_needed is None and c.floor is not None]
        if needs:
            spread = (f"{needs[0]}" if needs[0] == needs[-1]
                      else f"{needs[0]} to {needs[-1]:,} (median {statistics.median(needs):.0f})")
            parts.append(f"Undecided comparisons need {spread} seeds per point to be decided with {POWER:.0%} "
                         "probability, were the differences what they look now.")
            cap = max(SUGGESTED_CAP, seeds[-1])
            plan = decided_plan(data, analysis, cap) if data.decided is None else None
            if plan and plan.decided:  # a sweep that decides already says so in its looks
                pace = (f" (about {_duration(plan.trials * statistics.median(data.durations))} on one worker at this "
                        "sweep's pace)" if data.durations else "")
                parts.append(f"sweep.decide=true sweep.max_seeds={cap} (looks at {_listed(plan.counts)} seeds, each "
                             f"at alpha/{len(plan.counts)}) would give {plan.decided} of the {plan.undecided} "
                             "comparisons undecided at that level that probability with about "
                             f"{plan.trials} more trials{pace}.")
        if stuck:
            floors = min(c.floor for c in stuck)
            parts.append(f"{len(stuck)} sit below what these test images resolve (nothing under "
                         f"{points_text(floors)} points): no number of seeds decides them.")
    if data.shares_choosing_images:
        parts.append("The dataset has no test split: the images that chose also score (each trial's final "
                     "epoch is scored, not its best).")
    return " ".join(parts)


def _listed(counts: list[int]) -> str:
    return ", ".join(map(str, counts[:-1])) + f" and {counts[-1]}" if len(counts) > 1 else str(counts[0])


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} minutes" if minutes < 90 else f"{minutes / 60:.1f} hours"
