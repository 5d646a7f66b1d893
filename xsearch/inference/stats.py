"""What a point's accuracy, and the difference between two points, would be over new seeds *and* new images, with
intervals that count both, the images being the same ones for every trial.

The model (docs/STATISTICS.md): trial s of a point is scored on images i = 1..N, and c[s, i] in {0, 1} says
whether it was right. Then c[s, i] = mu + a_s + b_i + e_si, with a seed effect a (initialisation and data
order: variance var_seed), an image effect b (how hard the image is: var_image, *shared* by every trial scored
on that image) and the rest e (var_rest). The point's accuracy over new seeds and new images is mu; its
estimate, the mean of c, has variance

    var_seed / S + var_image / N + var_rest / (S N)

which the two-way analysis of variance of the S x N table estimates without bias (`Spread`). A difference
between two points scored on the same images pairs them image by image: its image part is the variance of the
*difference* of the two points' per-image rates, small when they find the same images hard, and it does not
shrink as seeds are added; that is the floor a test set's size sets. Seeds are not paired across points. The
seeds' part is estimated from each point's own few seeds (a difference's from its two points', Welch's way:
points' seeds may vary unequally, and a few seeds cannot show that they do not), the images' part from thousands
of images; the interval is the fiducial one for their sum (`Estimate`).

Only numpy and scipy: the report, the sweep driver and the simulation (benchmarks/inference.py) share it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import special, stats

ALPHA = 0.05  # the error rate of a family of verdicts
CONFIDENCE = 0.95  # of every interval shown


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


def wilson(correct: int, images: int, confidence: float = CONFIDENCE) -> Interval:
    """One trial's accuracy on its images alone (this seed, other images): the Wilson score interval."""
    ci = stats.binomtest(correct, images).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(correct / images, float(ci.low), float(ci.high))


@dataclasses.dataclass(frozen=True)
class Term:
    """One estimated piece of a variance (negative where it corrects another) and its degrees of freedom."""

    value: float
    dof: float


def satterthwaite(terms: Sequence[Term]) -> tuple[float, float]:
    """The variance a sum of estimated pieces gives, and the degrees of freedom of its t distribution."""
    variance = sum(t.value for t in terms)
    spread = sum(t.value ** 2 / t.dof for t in terms if t.dof > 0 and math.isfinite(t.dof))
    return variance, (variance ** 2 / spread if spread > 0 else math.inf)


@dataclasses.dataclass(frozen=True)
class Spread:
    """The two-way analysis of variance of one point's S x N table of outcomes."""

    mean: float
    seeds: int  # S
    images: int  # N
    seed_ms: float  # the variance of the per-seed accuracies
    rest_ms: float  # the seed x image mean square (var_rest's estimate; (S - 1)(N - 1) degrees of freedom)
    rates: np.ndarray  # each image's rate over the seeds, [N]
    seed_dof: float = math.nan  # seed_ms's degrees of freedom: S - 1 (all the points' together once `shared`)
    pool_dof: float = math.nan  # `shared`: the degrees of freedom of the pool its variance came from

    @classmethod
    def of(cls, correct: np.ndarray) -> Spread:
        table = np.asarray(correct, dtype=np.float64)
        if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 2:
            raise ValueError(f"expected a seeds x images table with at least 2 images, got shape {table.shape}")
        seeds, images = table.shape
        mean = float(table.mean())
        per_seed, rates = table.mean(axis=1), table.mean(axis=0)
        seed_ss = images * float(((per_seed - mean) ** 2).sum())
        image_ss = seeds * float(((rates - mean) ** 2).sum())
        total_ss = float(((table - mean) ** 2).sum())
        rest_ss = max(total_ss - seed_ss - image_ss, 0.0)
        return cls(mean=mean, seeds=seeds, images=images,
                   seed_ms=seed_ss / images / (seeds - 1) if seeds > 1 else math.nan,
                   rest_ms=rest_ss / ((seeds - 1) * (images - 1)) if seeds > 1 else math.nan, rates=rates,
                   seed_dof=seeds - 1 if seeds > 1 else math.nan)

    @property
    def var_seed(self) -> float:
        """The seed variance itself, net of the image noise in each seed's accuracy."""
        return max(self.seed_ms - self.rest_ms / self.images, 0.0)

    def seed_terms(self) -> list[Term]:
        return [Term(self.seed_ms / self.seeds, self.seed_dof)]

    def floored(self) -> Spread:
        """The same, with seed_ms no lower than the least it can be in expectation, rest_ms / N (each seed's
        accuracy carries its images' noise even when seeds do not differ): seeds that happen to tie, or nearly,
        would otherwise drop that piece from an interval. The unbiased pieces (`point_terms`) keep seed_ms as is."""
        if self.seeds < 2:
            return self
        return dataclasses.replace(self, seed_ms=max(self.seed_ms, self.rest_ms / self.images))

    def rest_terms(self) -> list[Term]:
        """What the per-image rates' variance holds besides the image effect, to be taken off it."""
        return [Term(-self.rest_ms / (self.seeds * self.images), (self.seeds - 1) * (self.images - 1))]


def shared(spreads: Sequence[Spread]) -> list[Spread]:
    """The points' seed variances replaced by one they all share: their pooled (floored) seed mean square, on the
    degrees of freedom of all their seeds together. Right only if every point's seeds vary alike, which a few
    seeds a point cannot check: the verdicts never rest on it; the report says which would change under it
    (`comparisons.sharing_changes`)."""
    known = [s.floored() for s in spreads if s.seeds > 1]
    if len(known) < 2:
        return list(spreads)
    pooled_dof = float(sum(s.seeds - 1 for s in known))
    pooled = sum((s.seeds - 1) * s.seed_ms for s in known) / pooled_dof
    return [dataclasses.replace(s, seed_ms=pooled, seed_dof=pooled_dof, pool_dof=pooled_dof) if s.seeds > 1 else s
            for s in spreads]


def bartlett(spreads: Sequence[Spread]) -> float | None:
    """Bartlett's test that the points' seed variances are equal (their floored seed mean squares): its p value, or
    None with fewer than two points of two seeds or more. Sensitive to heavy tails, so a hint, never a switch."""
    known = [s.floored() for s in spreads if s.seeds > 1]
    if len(known) < 2 or any(s.seed_ms <= 0 for s in known):
        return None
    dofs = np.array([s.seeds - 1.0 for s in known])
    variances = np.array([s.seed_ms for s in known])
    total = dofs.sum()
    pooled = float((dofs * variances).sum() / total)
    statistic = total * math.log(pooled) - float((dofs * np.log(variances)).sum())
    correction = 1 + (float((1 / dofs).sum()) - 1 / total) / (3 * (len(known) - 1))
    return float(stats.chi2.sf(statistic / correction, len(known) - 1))


GRID = 4000  # equal slices of probability the seeds' chi-square is integrated over
TAIL = 400  # the first slice again in log-spaced pieces: small chi-square draws make the far tails of the error


DOF_STEPS = 256  # chi-square tables are kept at degrees of freedom 2^(k / DOF_STEPS), a 0.27% step


def _chi2_nodes(dof: float) -> tuple[np.ndarray, np.ndarray]:
    """Draws that stand for a chi-square with `dof` degrees of freedom, divided by dof (mean 1), and their
    weights: its quantiles at the midpoints of GRID equal slices of probability, the first slice cut finer.
    Welch's degrees of freedom are continuous, and a table costs milliseconds: tables are kept at degrees of
    freedom a fixed ratio apart and the draws between two of them interpolated linearly (a half width at 95% or
    at 99.9% moves by about 1e-5 of itself at most, from 1 dof up; at a power of two it is exact)."""
    position = math.log2(dof) * DOF_STEPS
    low = math.floor(position + 1e-9)
    share = position - low
    if share < 1e-9 or dof > 1000:
        return _chi2_table(dof), _WEIGHTS
    return ((1 - share) * _chi2_table(2 ** (low / DOF_STEPS)) + share * _chi2_table(2 ** ((low + 1) / DOF_STEPS)),
            _WEIGHTS)


_EDGES = np.concatenate([[0.0], np.geomspace(1e-15, 1 / GRID, TAIL), np.arange(2, GRID + 1) / GRID])
_MIDDLES = (_EDGES[:-1] + _EDGES[1:]) / 2
_WEIGHTS = np.diff(_EDGES)


@functools.lru_cache(maxsize=2048)
def _chi2_table(dof: float) -> np.ndarray:
    return 2 * special.gammaincinv(dof / 2, _MIDDLES) / dof


def _sf(x: np.ndarray) -> np.ndarray:
    """The standard normal's upper tail (scipy's ufunc, without the distribution object's checks)."""
    return special.ndtr(-x)


def _pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean (or difference) over seeds and images, with the two parts of its variance.

    The seeds' part is estimated from a handful of seeds (`seed_dof` degrees of freedom, as few as 1); the images'
    part from thousands of images, so it is taken as known. The interval is the fiducial one for that sum
    (Fisher's, as for the Behrens-Fisher problem): the error is normal with variance seed_var x dof / chi2(dof)
    + image_var, integrated over the chi-square. With no image part it is exactly Student's t interval; with no
    seed part, the normal one. Satterthwaite's t in between undercovers when two seeds happen to agree.
    """

    value: float
    seed_var: float  # the seeds' part of the variance of `value` (with the seed x image rest)
    seed_dof: float  # its degrees of freedom (Welch's, for two points)
    image_var: float  # the images' part: no number of seeds removes it

    @property
    def known(self) -> bool:
        """Whether the seeds' spread could be estimated (two or more seeds on every side)."""
        return math.isfinite(self.seed_var)

    @property
    def se(self) -> float:
        return math.sqrt(self.seed_var + self.image_var)

    @property
    def image_se(self) -> float:
        return math.sqrt(self.image_var)

    def _scales(self) -> tuple[np.ndarray, np.ndarray]:
        """The error's standard deviation at each of the chi-square's draws, and the draws' weights."""
        if self.seed_var == 0 or not math.isfinite(self.seed_dof):
            return np.array([self.se]), np.array([1.0])
        draws, weights = _chi2_nodes(self.seed_dof)
        return np.sqrt(self.seed_var / draws + self.image_var), weights

    def tail(self, distance: float) -> float:
        """P(error > distance): one side."""
        scales, weights = self._scales()
        if not scales.any():  # no spread at all: the error is 0
            return 0.5 if distance == 0 else 0.0 if distance > 0 else 1.0
        return float((_sf(distance / scales) * weights).sum())

    def half_width(self, alpha: float = ALPHA) -> float:
        """The half width of the two-sided 1 - alpha interval: where the tail is alpha / 2 (Newton's method on the
        tail and its density, kept inside a bracket that always holds the root)."""
        if not self.known:
            return math.inf
        if self.se == 0:
            return 0.0
        scales, weights = self._scales()
        target = alpha / 2

        def excess(q: float) -> float:
            return float((_sf(q / scales) * weights).sum()) - target

        low, high = 0.0, self.se * float(stats.t.isf(target, min(self.seed_dof, 1e6)))
        while excess(high) > 0:  # the t of the whole with the seeds' dof: a bracket in practice; widened if not
            low, high = high, 2 * high
        q = high
        for _ in range(100):
            value = excess(q)
            if abs(value) < 1e-12 * target or high - low < 1e-12 * self.se:
                break
            if value > 0:
                low = q
            else:
                high = q
            slope = -float((_pdf(q / scales) / scales * weights).sum())
            step = q - value / slope if slope < 0 else (low + high) / 2
            q = step if low < step < high else (low + high) / 2
        return q

    def interval(self, confidence: float = CONFIDENCE) -> Interval:
        half = self.half_width(1 - confidence)
        return Interval(self.value, self.value - half, self.value + half)

    def p_differs(self) -> float:
        """Two-sided p value for a true value of 0."""
        if not self.known:
            return 1.0
        return min(1.0, 2 * self.tail(abs(self.value)))

    def p_within(self, margin: float) -> float:
        """p value for "the true value lies within +-margin": the two one-sided tests (TOST, Schuirmann 1987),
        the larger of their p values. Below alpha exactly when the two-sided 1 - 2 alpha interval lies inside the
        margin (a 90% interval at the usual 5%)."""
        if not self.known:
            return 1.0
        return min(1.0, max(self.tail(margin - self.value), self.tail(margin + self.value)))


def _estimate(value: float, seed_terms: list[Term], image_terms: list[Term]) -> Estimate:
    image_var = max(sum(t.value for t in image_terms), 0.0)  # a variance: estimated below 0, it is 0
    if any(not math.isfinite(t.value) for t in seed_terms):  # one seed: its spread is unknown
        return Estimate(value, math.inf, math.inf, image_var)
    seed_var, seed_dof = satterthwaite(seed_terms)
    return Estimate(value, seed_var, seed_dof, image_var)


def _image_terms(rates: np.ndarray, spreads: Sequence[Spread]) -> list[Term]:
    images = len(rates)
    rest = [] if any(s.seeds < 2 for s in spreads) else [t for s in spreads for t in s.rest_terms()]
    return [Term(float(np.var(rates, ddof=1)) / images, images - 1), *rest]


def point_terms(spread: Spread) -> tuple[list[Term], list[Term]]:
    """The seeds' and the images' pieces of the variance of a point's mean: their sum is unbiased."""
    return spread.seed_terms(), _image_terms(spread.rates, [spread])


def difference_terms(a: Spread, b: Spread) -> tuple[list[Term], list[Term]]:
    """The same for a - b, paired image by image."""
    if a.images != b.images:
        raise ValueError(f"paired points need the same images: {a.images} and {b.images}")
    return a.seed_terms() + b.seed_terms(), _image_terms(a.rates - b.rates, [a, b])


def point(spread: Spread) -> Estimate:
    """A point's accuracy over new seeds and new images."""
    return _estimate(spread.mean, *point_terms(spread.floored()))


def difference(a: Spread, b: Spread) -> Estimate:
    """a - b for two points scored on the same images, paired image by image."""
    return _one_pool(_estimate(a.mean - b.mean, *difference_terms(a.floored(), b.floored())), a, b)


def _one_pool(estimate: Estimate, a: Spread, b: Spread) -> Estimate:
    """Two points given one shared seed variance (`shared`) are not independent: together they are worth no more
    degrees of freedom than the pool (Welch's sum would count it twice)."""
    if math.isfinite(a.pool_dof) and a.pool_dof == b.pool_dof and estimate.seed_dof > a.pool_dof:
        return dataclasses.replace(estimate, seed_dof=a.pool_dof)
    return estimate


def unpaired_difference(a: Spread, b: Spread) -> Estimate:
    """a - b for two points scored on different images: their errors add (each point's seeds on their own)."""
    pa, pb = point(a), point(b)  # each image part a variance of its own, each kept at 0 or more
    seed_terms = a.floored().seed_terms() + b.floored().seed_terms()
    return dataclasses.replace(_estimate(a.mean - b.mean, seed_terms, []), image_var=pa.image_var + pb.image_var)


