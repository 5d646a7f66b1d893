"""What a study can tell: its points, the comparisons that matter between them, and one of three verdicts each.

A point is one setting of the swept knobs other than the seed; its seeds are its repeats, every one scored on
the same test images. Compared are each pair of neighbours (points one knob apart: by one step along an ordered
knob, such as segments 1, 2, 4, 8, depthwise, or any two values of an unordered one, such as an activation) and
each point against a paper's point (the paper's values for every knob the paper has) where they differ in one
knob alone. A comparison is

- **distinguishable** when its adjusted p value for "no difference" is below the level (alpha / looks);
- **equivalent** within +-resolution when its adjusted p value for "a difference of at least the resolution" is
  below the level (unadjusted, that is the two one-sided tests: its 1 - 2 x level interval inside
  +-resolution); both kinds are adjusted as one family, by a closed test that counts at most one true null a
  comparison (xsearch/inference/family.py);
- **undecided** otherwise, with the seeds per point that would decide it with 80% probability were the
  difference what it looks now (xsearch/inference/planning.py), or the floor the test set sets.

Each point's seed variance is its own: a comparison's interval uses its two points' seeds alone (Welch's way),
so a point whose seeds vary more than the others' cannot borrow their calm. What sharing them would change is
reported beside the verdicts (`sharing_changes`), never used for them.

A sweep that adds seeds while it looks (`sweep.decide`) makes up to `looks` looks; each spends alpha / looks
(Bonferroni over the looks, the closed test within each; xsearch/inference/sequential.py says what that bounds).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from xsearch import contract
from xsearch.inference import family as multiplicity
from xsearch.inference import stats
from xsearch.inference.planning import Projection
from xsearch.model.config import DEPTHWISE, XceptionConfig
from xsearch.outcomes import Outcomes

# The method the verdicts are reached by, recorded with a decided study's looks: a study whose looks an earlier
# method took has its last look re-taken by this one, from the same trials (xsearch/sweep/decide.py).
METHOD = "each point's own seeds (Welch), one closed test over both verdicts, TOST"
class Verdict(str, enum.Enum):
    """What a comparison ends as. Adding one is a member here, the rule that reaches it in `analyse` (and in
    `sequential.next_seeds`, if it asks for seeds), and its wording in xsearch/report/verdicts.py's WORDING."""

    DISTINGUISHABLE = "distinguishable"
    EQUIVALENT = "equivalent"
    UNDECIDED = "undecided"

    def __str__(self) -> str:
        return self.value


DISTINGUISHABLE, EQUIVALENT, UNDECIDED = Verdict.DISTINGUISHABLE, Verdict.EQUIVALENT, Verdict.UNDECIDED
PAPER = {f"model.{key}": value for key, value in XceptionConfig().as_dict().items()}
DISTINGUISHABLE, EQUIVALENT, UNDECIDED = "distinguishable", "equivalent", "undecided"


@dataclasses.dataclass(frozen=True)
class Scored:
    """One trial's swept values, its seed and its per-image outcomes."""

    params: dict[str, Any]
    seed: int
    outcomes: Outcomes

    @classmethod
    def of(cls, params: dict[str, Any], outcomes: Outcomes) -> Scored:
        """A trial as the report and a decided sweep's looks both read it: its seed is its space's seed value."""
        return cls(dict(params), params.get(contract.SEED, 0), outcomes)


@dataclasses.dataclass(frozen=True)
class Point:
    values: tuple  # the varied knobs' values, in the analysis's key order
    label: str
    seeds: tuple[int, ...]
    image_set: str | None  # None: its trials were scored on different images
    spread: stats.Spread | None  # None: no common image set
    accuracies: tuple[float, ...]  # each seed's test accuracy

    @property
    def estimate(self) -> stats.Estimate | None:
        return stats.point(self.spread) if self.spread is not None else None


@dataclasses.dataclass(frozen=True)
class Comparison:
    a: Point
    b: Point
    kind: str  # "neighbours" or "vs the paper"
    estimate: stats.Estimate | None  # a - b; None where the two cannot be compared (see `why`)
    paired: bool  # image by image (the same test images)
    p_differs: float  # adjusted over the family (xsearch/inference/family.py)
    p_within: float  # adjusted over the family
    verdict: Verdict
    seeds_needed: int | None = None  # per point, to decide an undecided comparison with POWER's chance, were the
    # difference what it looks now (None: no number would)
    floor: float | None = None  # the half width no number of seeds goes below on these images
    why: str | None = None  # why there is no estimate


@dataclasses.dataclass(frozen=True)
class Analysis:
    keys: list[str]
    points: list[Point]
    comparisons: list[Comparison]
    alpha: float  # the family's error rate over all looks
    looks: int
    resolution: float

    @property
    def level(self) -> float:
        """The error rate each look spends."""
        return self.alpha / self.looks

    def count(self, verdict: Verdict) -> int:
        return sum(c.verdict == verdict for c in self.comparisons)

    @property
    def undecided(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == UNDECIDED]


def _ordered(values: list) -> bool:
    """Whether a knob's values have an order to step along: numbers, with 'depthwise' as the spectrum's end."""
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) or v == DEPTHWISE for v in values)


def _differing(a: tuple, b: tuple) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


def neighbours(a: tuple, b: tuple, key_values: list[list]) -> bool:
    """One knob apart, by one step if that knob is ordered."""
    differing = _differing(a, b)
    if len(differing) != 1:
        return False
    values = key_values[differing[0]]
    return not _ordered(values) or abs(values.index(a[differing[0]]) - values.index(b[differing[0]])) == 1


def _is_papers(point: tuple, keys: list[str]) -> bool:
    """Whether the point has the paper's value for every knob the paper has one for (its other knobs, an
    optimizer's say, may be anything: each setting of them has its own paper's point)."""
    return any(k in PAPER for k in keys) and all(PAPER[k] == v for k, v in zip(keys, point) if k in PAPER)


def family(values: Sequence[tuple], keys: list[str], key_values: list[list]) -> list[tuple[tuple, tuple, str]]:
    """The comparisons that matter among these points: each against a paper's point where it differs from it in
    one knob the paper has a value for, then every pair of neighbours not already compared."""
    pairs = []
    for paper in (v for v in values if _is_papers(v, keys)):
        pairs += [(v, paper, "vs the paper") for v in values
                  if len(d := _differing(v, paper)) == 1 and keys[d[0]] in PAPER]
    for a, b in itertools.combinations(values, 2):
        if neighbours(a, b, key_values) and not any({a, b} == {x, y} for x, y, _ in pairs):
            pairs.append((a, b, "neighbours"))
    return pairs


PAPER_LABEL = "Xception (the paper's point)"


def label(params: dict[str, Any]) -> str:
    """A point as a person reads it: the knobs where it differs from the paper's Xception (the paper's own point
    is named so); knobs the paper has no value for are always shown."""
    if not params:
        return "all trials"
    shown = {k: v for k, v in params.items() if k not in PAPER or PAPER[k] != v}
    return contract.knobs_text(shown) if shown else PAPER_LABEL


def varied_keys(trials: Sequence[Scored]) -> list[str]:
    """The swept knobs other than the seed that take two values or more among the trials, in the study's order:
    the report and a decided sweep's looks both analyse by these, so they see the same points and comparisons."""
    keys = list(dict.fromkeys(k for t in trials for k in t.params if k != contract.SEED))
    return [k for k in keys if len({repr(t.params.get(k)) for t in trials}) > 1]


def _points(trials: Sequence[Scored], keys: list[str], order: list[tuple], shared: bool) -> dict[tuple, Point]:
    grouped: dict[tuple, dict[int, Outcomes]] = {}
    for trial in trials:  # in trial order: a seed scored twice at a point (a grid run again) keeps its latest
        grouped.setdefault(tuple(trial.params.get(k) for k in keys), {})[trial.seed] = trial.outcomes
    points = {}
    for values in order:
        by_seed = dict(sorted(grouped[values].items()))
        sets = {o.image_set for o in by_seed.values()}
        sizes = {o.images for o in by_seed.values()}
        common = len(sets) == 1 and len(sizes) == 1 and sizes.pop() > 1
        table = np.stack([o.correct for o in by_seed.values()]) if common else None
        points[values] = Point(values=values, label=label(dict(zip(keys, values))),
                               seeds=tuple(by_seed), image_set=sets.pop() if common else None,
                               spread=stats.Spread.of(table) if table is not None else None,
                               accuracies=tuple(o.accuracy for o in by_seed.values()))
    if shared:  # one seed variance for the points scored on the same images (what `sharing_changes` asks)
        for image_set in {p.image_set for p in points.values() if p.spread is not None}:
            members = [v for v, p in points.items() if p.image_set == image_set]
            for values, spread in zip(members, stats.shared([points[v].spread for v in members])):
                points[values] = dataclasses.replace(points[values], spread=spread)
    return points


def analyse(trials: Sequence[Scored], *, resolution: float, looks: int = 1, alpha: float = stats.ALPHA,
            plan: bool = True, plan_cap: int = 10_000, shared: bool = False) -> Analysis:
    """Points, comparisons and verdicts of a study's scored trials (in trial order). With `plan`, each undecided
    comparison also gets the seeds that would decide it (None past `plan_cap`: a decided sweep asks only whether
    its cap would) and its floor. `shared`: every point's seeds assumed to
    vary alike (one pooled seed variance), for `sharing_changes`; the verdicts a report states never assume it.

    Both verdicts share one family (xsearch/inference/family.py): the chance of any false verdict, of either kind,
    is at most alpha over all the looks."""
    keys = varied_keys(trials)
    key_values = [contract.value_order(t.params.get(k) for t in trials) for k in keys]
    present = {tuple(t.params.get(k) for k in keys) for t in trials}
    order = sorted(present, key=lambda v: [vals.index(x) for vals, x in zip(key_values, v)])
    points = _points(trials, keys, order, shared)
    pairs = family(order, keys, key_values)
    level = alpha / looks
    estimates, reasons = [], []
    for a, b, _ in pairs:
        pa, pb = points[a], points[b]
        if pa.spread is None or pb.spread is None:
            estimates.append(None)
            reasons.append("scored on different test images within a point")
        elif pa.image_set == pb.image_set:
            estimates.append(stats.difference(pa.spread, pb.spread))
            reasons.append(None)
        else:
            estimates.append(stats.unpaired_difference(pa.spread, pb.spread))
            reasons.append(None)
    differs, within = multiplicity.adjusted([e.p_differs() if e else 1.0 for e in estimates],
                                            [e.p_within(resolution) if e else 1.0 for e in estimates])
    comparisons = []
    for (a, b, kind), estimate, why, p_d, p_w in zip(pairs, estimates, reasons, differs, within):
        pa, pb = points[a], points[b]
        verdict = DISTINGUISHABLE if p_d < level else EQUIVALENT if p_w < level else UNDECIDED
        needed = floor = None
        paired = estimate is not None and pa.image_set == pb.image_set
        if plan and verdict == UNDECIDED and paired and min(len(pa.seeds), len(pb.seeds)) >= 2:
            projection = Projection(pa.spread, pb.spread)
            planning = level / max(len(pairs), 1)  # the closed test's strictest step: a count safe to plan on
            needed = projection.seeds_to_decide(resolution, planning, cap=plan_cap)
            floor = projection.floor(planning)
        comparisons.append(Comparison(pa, pb, kind, estimate, paired, p_d, p_w, verdict, needed, floor, why))
    return Analysis(keys, [points[v] for v in order], comparisons, alpha, looks, resolution)


@dataclasses.dataclass(frozen=True)
class Change:
    """A verdict that sharing seed variances across the points would change."""

    comparison: Comparison  # as stated (each point's own seeds)
    shared: Verdict  # the verdict were every point's seeds assumed to vary alike


@dataclasses.dataclass(frozen=True)
class Sensitivity:
    """Which verdicts depend on how the points' seed variances are treated: the report's own use each point's
    seeds alone; `changes` are the verdicts that one pooled variance would change. `bartlett`: the p value of
    Bartlett's test that the points' seed variances are equal (None where it cannot be computed)."""

    changes: list[Change]
    bartlett: float | None
    pooled_dof: float | None


def sharing_changes(trials: Sequence[Scored], analysis: Analysis) -> Sensitivity:
    """The verdicts that would change were the points' seed variances shared (the same analysis, one pooled seed
    variance a set of images)."""
    pooled = analyse(trials, resolution=analysis.resolution, looks=analysis.looks, alpha=analysis.alpha,
                     plan=False, shared=True)
    changes = [Change(own, other.verdict) for own, other in zip(analysis.comparisons, pooled.comparisons)
               if own.verdict != other.verdict]
    spreads = [p.spread for p in analysis.points if p.spread is not None]
    sets = {p.image_set for p in analysis.points if p.spread is not None}
    single = len(sets) == 1
    dofs = [p.spread.seed_dof for p in pooled.points if p.spread is not None and p.spread.seeds > 1]
    return Sensitivity(changes, stats.bartlett(spreads) if single else None, dofs[0] if single and dofs else None)
