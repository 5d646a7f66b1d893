"""Deciding with as few seeds as the question needs: looks at planned seed counts, each spending its share of the
error rate, and after each look more seeds only for the points of comparisons still undecided.

The looks are fixed before any result is seen: the planned seeds, then doubling, up to the cap (3, 6, 12; or
2, 4, 8, 10). With K looks each uses alpha / K (Bonferroni over looks). That bounds the chance that any
verdict it ever states is false by alpha for counts fixed in advance; a point's counts here also depend on its
other comparisons, so the bound is checked by simulation (benchmarks/inference.py), not proven. A comparison
that no number of seeds up to the cap could decide (its difference sits below what the test set resolves) gets
no more seeds: stopping for futility never adds a false verdict.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from xsearch.inference.comparisons import UNDECIDED, Analysis, Verdict


@dataclasses.dataclass(frozen=True)
class Look:
    """What one look saw and did: the most seeds a point had, each verdict's count, the seeds it added by point.
    Kept in the study as {seeds, <each verdict>: count, added} (`as_attr`, `from_attr`)."""

    seeds: int
    counts: dict[str, int]  # by verdict
    added: dict[str, int]

    @classmethod
    def of(cls, analysis: Analysis, added: dict[str, int]) -> Look:
        return cls(seeds=max((len(p.seeds) for p in analysis.points), default=0),
                   counts={v.value: analysis.count(v) for v in Verdict}, added=added)

    @classmethod
    def from_attr(cls, attr: dict[str, Any]) -> Look:
        return cls(seeds=attr["seeds"], counts={v.value: attr.get(v.value, 0) for v in Verdict},
                   added=dict(attr.get("added", {})))

    def as_attr(self) -> dict[str, Any]:
        return {"seeds": self.seeds, **self.counts, "added": self.added}


@dataclasses.dataclass(frozen=True)
class Record:
    """A decided study's plan and looks, kept in the study itself (its `contract.DECIDE` user attribute), so that
    every driver of it and the report read the same: the seeds per point at each look, fixed before any result,
    the resolution its verdicts use, the looks made so far, whether the last was final, the method they were
    taken by (`comparisons.METHOD`; None: before methods were recorded) and the looks a newer method re-took."""

    schedule: list[int]
    resolution: float
    looks: list[Look] = dataclasses.field(default_factory=list)
    final: bool = False
    method: str | None = None
    superseded: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # {look, method, seen: Look}

    @classmethod
    def of(cls, attr: dict[str, Any] | None) -> Record | None:
        """The record a study keeps, or None for a study that does not decide."""
        if not attr:
            return None
        return cls(schedule=list(attr["schedule"]), resolution=float(attr["resolution"]),
                   looks=[Look.from_attr(look) for look in attr.get("looks", [])], final=bool(attr.get("final", False)),
                   method=attr.get("method"), superseded=list(attr.get("superseded", [])))

    def as_attr(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "looks": [look.as_attr() for look in self.looks]}


def schedule(planned: int, cap: int) -> list[int]:
    """Seeds per point at each look: the planned count, doubling, and the cap last."""
    if planned < 2 or cap < planned:
        raise ValueError(f"a schedule needs at least 2 planned seeds and a cap at least as large: {planned}, {cap}")
    counts = [planned]
    while counts[-1] < cap:
        counts.append(min(2 * counts[-1], cap))
    return counts


@dataclasses.dataclass(frozen=True)
class Next:
    """What a look asks for: seeds per point at the next look, for the points that need them."""

    seeds: int  # seeds each listed point should have at the next look
    points: list[tuple]  # the points' values, in the analysis's key order


def next_seeds(analysis: Analysis, counts: list[int], look: int) -> Next | None:
    """After look number `look` (1 for the first, at the planned seeds), the points that need more seeds and how
    many each should have at the next look; None after the last look, when every comparison is decided, or when no
    undecided one could be decided within the cap. Counting looks, not seeds, keeps them at most len(counts)
    however many trials failed."""
    if look >= len(counts):
        return None
    wanting = [c for c in analysis.comparisons if c.verdict == UNDECIDED and _worth(c, counts[-1])]
    if not wanting:
        return None
    points = list(dict.fromkeys(p.values for c in wanting for p in (c.a, c.b)))
    return Next(counts[look], points)


def _worth(comparison, cap: int) -> bool:
    """Whether more seeds could decide it: it has an estimate to grow, and its projected need is within the cap
    (or cannot be projected yet, from a point with a single seed)."""
    if comparison.estimate is None:
        return False
    if min(len(comparison.a.seeds), len(comparison.b.seeds)) < 2:
        return True
    return comparison.seeds_needed is not None and comparison.seeds_needed <= cap
