"""The uncertainty of an accuracy, of a mean over seeds, and of a difference, with scipy's distributions.

Two sources of noise are in every accuracy a sweep reports: the finite validation set (a trial that scores 0.985
on 360 images could score anywhere in about ±0.013 on another 360), and the seed (initialisation and data
order). Which one is measured depends on what was run:

- one trial: the Wilson score interval of its k correct out of n validation images, the binomial interval that
  keeps its coverage near 0 and 1, where accuracies live;
- a point run with several seeds: the mean over seeds with a Student t interval, whose spread already holds
  both sources; it is never narrower than the binomial uncertainty of the mean, which two seeds that happen
  to agree would otherwise hide;
- two points: the difference paired by seed where both ran the same seeds (the seed's shared part cancels),
  else the difference of the two means with both uncertainties added; a two-sided t test (or z test on one
  pair) gives its p value.

docs/STATISTICS.md says why these tests and what they leave out.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence

from scipy import stats

CONFIDENCE = 0.95
RESOLUTION = 0.005  # the difference a verdict asks about when it is not resolved: half a point of accuracy


@dataclasses.dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def half(self) -> float:
        return (self.high - self.low) / 2

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


@dataclasses.dataclass(frozen=True)
class Score:
    """One trial's accuracy and the number of validation images it was measured on."""
    accuracy: float
    images: int

    @property
    def variance(self) -> float:
        """The binomial variance of the accuracy itself."""
        return self.accuracy * (1 - self.accuracy) / self.images


def wilson(score: Score, confidence: float = CONFIDENCE) -> Interval:
    correct = round(score.accuracy * score.images)
    ci = stats.binomtest(correct, score.images).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(score.accuracy, float(ci.low), float(ci.high))


def _critical(dof: int | None, confidence: float) -> float:
    """The two-sided critical value: Student's t with `dof` degrees of freedom, the normal's without."""
    tail = (1 + confidence) / 2
    return float(stats.t.ppf(tail, dof)) if dof else float(stats.norm.ppf(tail))


def mean_interval(scores: Sequence[Score], confidence: float = CONFIDENCE) -> Interval:
    """The mean accuracy over seeds with its interval (one seed: that trial's Wilson interval)."""
    if len(scores) == 1:
        return wilson(scores[0], confidence)
    mean = statistics.fmean(s.accuracy for s in scores)
    half = _critical(len(scores) - 1, confidence) * _standard_error(scores)
    return Interval(mean, max(0.0, mean - half), min(1.0, mean + half))  # an accuracy stays within [0, 1]


def _standard_error(scores: Sequence[Score]) -> float:
    n = len(scores)
    spread = statistics.stdev(s.accuracy for s in scores) / math.sqrt(n)
    binomial = math.sqrt(sum(s.variance for s in scores)) / n
    return max(spread, binomial)


@dataclasses.dataclass(frozen=True)
class Difference:
    """a - b in accuracy, with its interval, p value and how it was paired."""
    interval: Interval
    p_value: float
    pairs: int  # seeds both sides ran (0: compared unpaired)
    sd_per_seed: float  # the spread of one seed's difference: what more seeds average away

    def seeds_to_resolve(self, resolution: float = RESOLUTION, confidence: float = CONFIDENCE) -> int:
        """About how many seeds per point would bring the interval's half width down to `resolution`."""
        return max(2, math.ceil((_critical(None, confidence) * self.sd_per_seed / resolution) ** 2))


def difference(a: Mapping[int, Score], b: Mapping[int, Score], confidence: float = CONFIDENCE) -> Difference:
    """a - b, each a point's scores by seed: paired by the seeds both have, when they share at least one."""
    shared = sorted(set(a) & set(b))
    if shared:
        diffs = [a[s].accuracy - b[s].accuracy for s in shared]
        binomial = math.sqrt(sum(a[s].variance + b[s].variance for s in shared)) / len(shared)
        spread = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
        error = max(spread, binomial)
        dof = len(diffs) - 1 or None
        per_seed = error * math.sqrt(len(diffs))
        estimate = statistics.fmean(diffs)
    else:
        sa, sb = list(a.values()), list(b.values())
        ea = _standard_error(sa) if len(sa) > 1 else math.sqrt(sa[0].variance)
        eb = _standard_error(sb) if len(sb) > 1 else math.sqrt(sb[0].variance)
        error = math.hypot(ea, eb)
        dof = None if min(len(sa), len(sb)) < 2 else _welch_dof(ea, len(sa), eb, len(sb))
        per_seed = math.hypot(ea * math.sqrt(len(sa)), eb * math.sqrt(len(sb)))
        estimate = statistics.fmean(s.accuracy for s in sa) - statistics.fmean(s.accuracy for s in sb)
    half = _critical(dof, confidence) * error
    distribution = stats.t(dof) if dof else stats.norm()
    p_value = float(2 * distribution.sf(abs(estimate) / error)) if error > 0 else (0.0 if estimate else 1.0)
    return Difference(Interval(estimate, estimate - half, estimate + half), p_value, len(shared), per_seed)


def _welch_dof(ea: float, na: int, eb: float, nb: int) -> int:
    return max(1, round((ea**2 + eb**2) ** 2 / (ea**4 / (na - 1) + eb**4 / (nb - 1))))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the family of comparisons keeps its 5% error rate, whatever their number."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
