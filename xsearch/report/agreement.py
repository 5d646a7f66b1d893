"""Whether a short study's answer holds in a longer one: the points both ran, their order in each (Kendall's tau)
and each comparison's verdict in each.

The longer study is a study of its own (more epochs, the same points and seeds); the document's block names the
shorter study's folder, whose storage is its `study.journal` where it has one, else its `study.db`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from scipy import stats

from xsearch.inference.comparisons import Comparison
from xsearch.report.records import sweep_data
from xsearch.report.source import load_study
from xsearch.report.verdicts import WORDING, Findings, findings

JOURNAL = "study.journal"  # the storage a study whose records are committed keeps (docs/RESULTS.md)


def load_findings(sweep_dir: Path) -> Findings:
    """The findings of the study in `sweep_dir`, read from its journal where it has one."""
    journal = sweep_dir / JOURNAL
    study, url = load_study(sweep_dir, storage=str(journal) if journal.is_file() else None)
    return findings(sweep_data(study, url, sweep_dir))


@dataclasses.dataclass(frozen=True)
class Agreement:
    points: list[tuple[str, dict, dict]]  # label, the point as the shorter study shows it, as the longer does
    tau: float  # Kendall's tau between the two orders of the points (nan below 2 points)
    verdicts: list[tuple[str, str, str]]  # "A vs B", what the shorter study says of it, what the longer says

    @property
    def same_verdicts(self) -> int:
        return sum(short == long for _, short, long in self.verdicts)


def agreement(shorter: Findings, longer: Findings) -> Agreement:
    """The points and comparisons both studies have, matched by label."""
    short_points = {p["label"]: p for p in shorter.points}
    points = [(p["label"], short_points[p["label"]], p) for p in longer.points if p["label"] in short_points]
    tau = float(stats.kendalltau([s["mean"] for _, s, _ in points], [g["mean"] for _, _, g in points]).statistic) \
        if len(points) > 1 else math.nan
    short_verdicts = {frozenset((c.a.label, c.b.label)): _said(c) for c in shorter.comparisons}
    verdicts = [(f"{c.a.label} vs {c.b.label}", short_verdicts[key], _said(c)) for c in longer.comparisons
                if (key := frozenset((c.a.label, c.b.label))) in short_verdicts]
    return Agreement(points, tau, verdicts)


def _said(c: Comparison) -> str:
    """A verdict with its direction: two studies that both find a difference agree only on which side wins."""
    return WORDING[c.verdict].said(c)


def _shown(point: dict) -> str:
    """Its test accuracy with its 95% interval (new seeds and test images), as the points table shows it."""
    interval = point["interval"]
    spread = f" ({interval['low']:.4f} - {interval['high']:.4f})" if interval else " (one seed)"
    return f"{point['mean']:.4f}{spread}"


def render(shorter: Findings, longer: Findings, names: tuple[str, str]) -> str:
    """A table of the common points, then one line on the order and one on the verdicts."""
    found = agreement(shorter, longer)
    if not longer.points:
        return f"{names[1]} has no scored trial yet."
    if not found.points:
        return f"No point of {names[1]} is in {names[0]}."
    lines = [f"| point | {names[0]} | {names[1]} |", "|---|---|---|"]
    lines += [f"| {label} | {_shown(short)} | {_shown(long)} |" for label, short, long in found.points]
    order = (f"Kendall's tau between the two orders of these {len(found.points)} points: {found.tau:+.2f}"
             if math.isfinite(found.tau) else "One common point: no order to compare")
    changed = [f"{name} ({short} -> {long})" for name, short, long in found.verdicts if short != long]
    verdicts = (f"{found.same_verdicts} of {len(found.verdicts)} verdicts the same"
                + (f"; changed: {'; '.join(changed)}" if changed else ""))
    return "\n".join(lines) + f"\n\n{order}. {verdicts}."
