"""What a sweep can and cannot tell: each point's accuracy with its interval, the comparisons that matter, a
verdict for each, and a headline that says whether the sweep separates its points at all.

A point is one setting of the swept knobs other than the seed; its seeds are its repeats. Compared are each
point against the paper's Xception (the point whose swept knobs all have the paper's values, when the sweep
has it) and each pair of neighbours: points that differ in one knob, by one step along an ordered knob
(segments 1, 2, 4, 8, depthwise; a width; a depth) or by any two values of an unordered one (an activation).
A comparison is distinguishable when its Holm-adjusted p value is below 5%, so a sweep of many comparisons does
not find differences by chance. The accuracy is each trial's best epoch, the study's objective.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
from typing import Any

from xsearch import contract
from xsearch.model.config import XceptionConfig
from xsearch.report import stats
from xsearch.report.figure import value_order
from xsearch.report.records import SweepData, TrialRecord

ALPHA = 1 - stats.CONFIDENCE
SEED = "seed"
PAPER = {f"model.{key}": value for key, value in dataclasses.asdict(XceptionConfig()).items()}


def points_text(value: float) -> str:
    return f"{100 * value:.1f}"


@dataclasses.dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    kind: str  # "vs the paper" or "neighbours"
    difference: stats.Difference
    p_holm: float

    @property
    def distinguishable(self) -> bool:
        return self.p_holm < ALPHA

    @property
    def verdict(self) -> str:
        d = self.difference.interval
        head = f"{self.a} vs {self.b}: {100 * d.estimate:+.1f} ± {points_text(d.half)} points"
        if self.distinguishable:
            better = self.a if d.estimate > 0 else self.b
            return f"{head}, distinguishable (p = {self.p_holm:.3g}, Holm): {better} is better"
        seeds = self.difference.seeds_to_resolve()
        return (f"{head}, not distinguishable (p = {self.p_holm:.2g}, Holm); about {seeds} seeds per point "
                f"would resolve {points_text(stats.RESOLUTION)} points")


@dataclasses.dataclass(frozen=True)
class Findings:
    headline: str
    points: list[dict[str, Any]]  # label, params, seeds, accuracies, interval
    by_value: list[dict[str, Any]]  # key, value, trials, interval (averaged over the other knobs)
    comparisons: list[Comparison]

    POINT_COLUMNS = ("point", "seeds", "val/acc", "low", "high")

    def point_rows(self) -> list[list[Any]]:
        """One row a point, in POINT_COLUMNS: the page's table and the W&B run's."""
        return [[p["label"], p["seeds"], p["interval"]["estimate"], p["interval"]["low"], p["interval"]["high"]]
                for p in self.points]

    def markdown(self) -> list[str]:
        lines = [f"**{self.headline}**", ""]
        if self.points:
            lines += [f"### Points (mean over seeds, {stats.CONFIDENCE:.0%} interval)", "",
                      "| point | seeds | val/acc | interval |", "|---|---|---|---|"]
            lines += [f"| {p['label']} | {p['seeds']} | {p['interval']['estimate']:.4f} | "
                      f"{p['interval']['low']:.4f} - {p['interval']['high']:.4f} |" for p in self.points]
        if self.comparisons:
            lines += ["", "### Comparisons", ""] + [f"- {c.verdict}" for c in self.comparisons]
        if self.by_value:
            lines += ["", "### By knob value (averaged over the other knobs)", "",
                      "| knob | value | trials | val/acc | interval |", "|---|---|---|---|---|"]
            lines += [f"| {contract.short(v['key'])} | {v['value']} | {v['trials']} | "
                      f"{v['interval']['estimate']:.4f} | {v['interval']['low']:.4f} - {v['interval']['high']:.4f} |"
                      for v in self.by_value]
        return lines


def _seed(record: TrialRecord) -> int:
    return record.params.get(SEED, (record.summary or {}).get("seed", 0))


def _label(params: dict[str, Any]) -> str:
    return contract.knobs_text(params) or "all trials"


def _ordered(values: list) -> bool:
    """Whether a knob's values have an order to step along: numbers, with 'depthwise' as the spectrum's end."""
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) or v == "depthwise" for v in values)


def _pairs(key_values: dict[str, list], a: tuple, b: tuple, keys: list[str]) -> bool:
    """Whether points a and b are neighbours: one knob apart, by one step if that knob is ordered."""
    differing = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(differing) != 1:
        return False
    values = key_values[keys[differing[0]]]
    if not _ordered(values):
        return True
    return abs(values.index(a[differing[0]]) - values.index(b[differing[0]])) == 1


def findings(data: SweepData) -> Findings:
    records = [r for r in data.complete if r.score is not None]
    if not data.complete:
        return Findings("No trial has completed: nothing to compare yet.", [], [], [])
    if len(records) < len(data.complete):
        return Findings("No intervals: these trials did not record how many images they were validated on (made "
                        "by an xsearch before it did); re-run them to get intervals and verdicts.", [], [], [])
    keys = [k for k in data.varied(records) if k != SEED]
    key_values = {k: value_order(r.params[k] for r in records) for k in keys}
    groups: dict[tuple, dict[int, stats.Score]] = {}
    for record in records:
        groups.setdefault(tuple(record.params.get(k) for k in keys), {})[_seed(record)] = record.score
    order = sorted(groups, key=lambda p: [key_values[k].index(v) for k, v in zip(keys, p)])
    label = {p: _label(dict(zip(keys, p))) for p in order}
    points = [{"label": label[p], "params": dict(zip(keys, p)), "seeds": len(groups[p]),
               "accuracies": [s.accuracy for s in groups[p].values()],
               "interval": stats.mean_interval(list(groups[p].values())).as_dict()} for p in order]
    by_value = [{"key": k, "value": v, "trials": len(members),
                 "interval": stats.mean_interval(members).as_dict()}
                for k in keys for v in key_values[k]
                for members in [[r.score for r in records if r.params.get(k) == v]]] if len(keys) > 1 else []

    paper = tuple(PAPER.get(k) for k in keys)
    pairs: list[tuple[tuple, tuple, str]] = []
    if keys and paper in groups:
        pairs += [(p, paper, "vs the paper") for p in order if p != paper]
    for a, b in itertools.combinations(order, 2):
        if _pairs(key_values, a, b, keys) and not any({a, b} == {x, y} for x, y, _ in pairs):
            pairs.append((a, b, "neighbours"))
    differences = [stats.difference(groups[a], groups[b]) for a, b, _ in pairs]
    adjusted = stats.holm([d.p_value for d in differences]) if differences else []
    comparisons = [Comparison(label[a], label[b], kind, d, p)
                   for (a, b, kind), d, p in zip(pairs, differences, adjusted)]
    return Findings(_headline(comparisons, len(records), keys), points, by_value, comparisons)


def _headline(comparisons: list[Comparison], trials: int, keys: list[str]) -> str:
    if not keys:
        return f"{trials} complete trial(s) of one setting: nothing to compare."
    if not comparisons:  # e.g. a random search: every two points differ in several knobs
        return (f"No comparisons: no two of the points differ in one knob alone, and none is the paper's; each "
                f"point's {stats.CONFIDENCE:.0%} interval is below.")
    separated = [c for c in comparisons if c.distinguishable]
    if len(separated) == len(comparisons):
        return (f"The sweep separates all {len(comparisons)} of its comparisons at {stats.CONFIDENCE:.0%} "
                "(Holm-adjusted).")
    if separated:
        return (f"The sweep separates {len(separated)} of its {len(comparisons)} comparisons at "
                f"{stats.CONFIDENCE:.0%} (Holm-adjusted); the rest are within noise.")
    seeds = statistics.median(c.difference.seeds_to_resolve() for c in comparisons)
    return (f"Within noise: none of the {len(comparisons)} comparisons is distinguishable at "
            f"{stats.CONFIDENCE:.0%} (Holm-adjusted). About {seeds:.0f} seeds per point would resolve "
            f"{points_text(stats.RESOLUTION)}-point differences.")
