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
seeds' part is estimated from few seeds (its degrees of freedom shared across a study's points, `moderated`), the
images' part from thousands of images; the interval is the fiducial one for their sum (`Estimate`).

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
    seed_dof: float = math.nan  # seed_ms's degrees of freedom: S - 1, more once moderated (`moderated`)
    pool_dof: float = math.nan  # moderated: the degrees of freedom of all the points it shares its prior with

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


def _trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x (Newton's method from limma's trigammaInverse, Smyth 2004)."""
    if x > 1e7:
        return 1 / math.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(50):
        tri = float(special.polygamma(1, y))
        step = tri * (1 - tri / x) / float(special.polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


@dataclasses.dataclass(frozen=True)
class Prior:
    """What the seed variances of a study's points share (Smyth's empirical Bayes, limma's fitFDist): a typical
    value and how many degrees of freedom it is worth to each point."""

    scale: float
    dof: float  # 0: nothing shared; at most the points' degrees of freedom together


def seed_prior(spreads: Sequence[Spread]) -> Prior:
    """Fits the prior the points' seed variances are drawn from: each is scale x F(its dof, prior dof). Points with
    a single seed tell nothing; fewer than three points with two or more: nothing is shared."""
    known = [s for s in spreads if s.seeds > 1]
    if len(known) < 3:
        return Prior(math.nan, 0.0)
    variances = np.array([s.seed_ms for s in known])
    dofs = np.array([s.seeds - 1.0 for s in known])
    positive = variances[variances > 0]
    floor = 1e-5 * float(np.median(positive)) if len(positive) else 1e-12
    # Seeds that agree to the image give a variance of 0, whose log is not finite: the fit of the prior's spread
    # takes a small positive stand-in for it; the prior's scale takes the variances as they are.
    logs = np.log(np.maximum(variances, floor)) - special.digamma(dofs / 2) + np.log(dofs / 2)
    mean = float(logs.mean())
    excess = float(((logs - mean) ** 2).sum() / (len(logs) - 1) - special.polygamma(1, dofs / 2).mean())
    # The prior is itself estimated from these points: it is worth at most the degrees of freedom they all have
    # (limma assumes thousands of genes; a study has a handful of points). Its scale is their pooled variance,
    # unbiased for the mean (limma's log-scale one runs low with a handful of points).
    pooled = float(dofs.sum())
    scale = float((dofs * variances).sum() / pooled)
    if excess <= 0:
        return Prior(scale, pooled)
    return Prior(scale, min(2 * _trigamma_inverse(excess), pooled))


def moderated(spreads: Sequence[Spread]) -> list[Spread]:
    """Each point's seed variance shrunk towards what the study's points share, with the degrees of freedom that
    buys: two seeds alone give one, and a t interval on one degree of freedom is twelve standard errors wide.
    Points whose seed variances disagree share little (the prior's dof comes out small), so a point that truly
    varies more keeps its own."""
    prior = seed_prior(spreads)
    if prior.dof == 0:
        return list(spreads)
    pooled = sum(s.seeds - 1 for s in spreads if s.seeds > 1)
    out = []
    for s in spreads:
        if s.seeds < 2:
            out.append(s)
            continue
        own = s.seeds - 1
        shrunk = (prior.dof * prior.scale + own * s.seed_ms) / (prior.dof + own)
        out.append(dataclasses.replace(s, seed_ms=shrunk, seed_dof=min(prior.dof + own, pooled), pool_dof=pooled))
    return out


GRID = 4000  # equal slices of probability the seeds' chi-square is integrated over
TAIL = 400  # the first slice again in log-spaced pieces: small chi-square draws make the far tails of the error


@functools.lru_cache(maxsize=256)
def _chi2_nodes(dof: float) -> tuple[np.ndarray, np.ndarray]:
    """Draws that stand for a chi-square with `dof` degrees of freedom, divided by dof (mean 1), and their
    weights: its quantiles at the midpoints of GRID equal slices of probability, the first slice cut finer."""
    edges = np.concatenate([[0.0], np.geomspace(1e-15, 1 / GRID, TAIL), np.arange(2, GRID + 1) / GRID])
    middles = (edges[:-1] + edges[1:]) / 2
    return stats.chi2.ppf(middles, dof) / dof, np.diff(edges)


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
        return float((stats.norm.sf(distance / scales) * weights).sum())

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
            return float((stats.norm.sf(q / scales) * weights).sum()) - target

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
            slope = -float((stats.norm.pdf(q / scales) / scales * weights).sum())
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
        """p value for "the true value lies within +-margin" (two one-sided tests, doubled): below alpha exactly
        when the two-sided 1 - alpha interval lies inside the margin."""
        if not self.known:
            return 1.0
        return min(1.0, 2 * max(self.tail(margin - self.value), self.tail(margin + self.value)))


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
    return _shared_prior(_estimate(a.mean - b.mean, *difference_terms(a.floored(), b.floored())), a, b)


def _shared_prior(estimate: Estimate, a: Spread, b: Spread) -> Estimate:
    """Two seed variances shrunk towards one prior are not independent: together they are worth no more degrees
    of freedom than the pool they share (Welch's sum would count the pool twice)."""
    if math.isfinite(a.pool_dof) and a.pool_dof == b.pool_dof and estimate.seed_dof > a.pool_dof:
        return dataclasses.replace(estimate, seed_dof=a.pool_dof)
    return estimate


def unpaired_difference(a: Spread, b: Spread) -> Estimate:
    """a - b for two points scored on different images: their errors add. (They never share a prior: seed
    variances are moderated among the points of one image set.)"""
    pa, pb = point(a), point(b)  # each image part a variance of its own, each kept at 0 or more
    seed_terms = a.floored().seed_terms() + b.floored().seed_terms()
    return dataclasses.replace(_estimate(a.mean - b.mean, seed_terms, []), image_var=pa.image_var + pb.image_var)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the family of comparisons keeps its error rate, whatever their number."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclasses.dataclass(frozen=True)
class Projection:
    """What more seeds would do to a difference: estimated from the two points' spreads, for `seeds` per point."""

    a: Spread
    b: Spread

    def estimate(self, seeds: int) -> Estimate:
        a, b, images = self.a, self.b, self.a.images
        more = {id(s): seeds - s.seeds for s in (a, b)}  # the degrees of freedom the new seeds bring
        seed_var, seed_dof = satterthwaite([Term((s.var_seed + s.rest_ms / images) / seeds, s.seed_dof + more[id(s)])
                                            for s in (a, b)])
        if math.isfinite(a.pool_dof) and a.pool_dof == b.pool_dof:  # their shared pool, grown by the new seeds
            seed_dof = min(seed_dof, a.pool_dof + more[id(a)] + more[id(b)])
        image_var = float(np.var(a.rates - b.rates, ddof=1)) - a.rest_ms / a.seeds - b.rest_ms / b.seeds
        return Estimate(a.mean - b.mean, seed_var, seed_dof, max(image_var, 0.0) / images)

    def floor(self, alpha: float) -> float:
        """The half width no number of seeds goes below on these images."""
        return float(stats.norm.isf(alpha / 2)) * self.estimate(2).image_se

    def seeds_to_decide(self, margin: float, alpha: float, cap: int = 10_000) -> int | None:
        """The fewest seeds per point at which the difference seen would be distinguishable or within +-margin at
        level alpha (the interval of `Estimate` at that many seeds), or None when no number up to `cap` would do."""
        start = max(self.a.seeds, self.b.seeds, 2)
        value = abs(self.a.mean - self.b.mean)
        if max(value, margin - value) <= self.floor(alpha):
            return None

        def decides(seeds: int) -> bool:
            half = self.estimate(seeds).half_width(alpha)
            return value > half or value + half < margin

        if not decides(cap):
            return None
        low, high = start, cap  # decides(high) holds; find the least that does
        if decides(low):
            return low
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if decides(middle) else (middle, high)
        return high
