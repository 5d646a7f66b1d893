"""What more seeds would do to an undecided comparison, were its difference and its points' seed spreads what they
look now: the chance that n seeds a point decide it, the fewest seeds that make that chance 80%, and the floor no
number of seeds goes below on these test images.

It is a projection, not a promise: the difference seen is taken as true, and an undecided difference is as likely
to shrink as to grow when seeds are added. `tests/test_planning.py` draws studies from exactly that truth and
checks the chance against how often they decide.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from scipy import stats

from xsearch.inference.stats import Estimate, Spread, Term, satterthwaite

POWER = 0.8  # the chance of deciding a projection plans for
NODES = 24  # equal slices of probability each point's seed-variance estimate is averaged over (NODES^2 pairs)


@functools.lru_cache(maxsize=256)
def _variance_draws(dof: float) -> np.ndarray:
    """A seed variance estimate on `dof` degrees of freedom over its mean: chi2(dof) / dof at the midpoints of
    NODES equal slices of probability."""
    return stats.chi2.ppf((np.arange(NODES) + 0.5) / NODES, dof) / dof


@dataclasses.dataclass(frozen=True)
class Projection:
    """A difference a - b at more seeds per point, from the two points' spreads (each point's own seeds)."""

    a: Spread
    b: Spread

    def estimate(self, seeds: int) -> Estimate:
        """The difference's estimate as it would be expected at `seeds` seeds per point: each point's seed variance
        (floored, as the verdicts floor it) over `seeds`, on the degrees of freedom those seeds give; the image
        part as now (seeds do not shrink it)."""
        a, b, images = self.a, self.b, self.a.images
        terms = [Term((s.var_seed + s.rest_ms / images) / seeds, seeds - 1 + max(s.seed_dof - (s.seeds - 1), 0))
                 for s in (a, b)]
        seed_var, seed_dof = satterthwaite(terms)
        if math.isfinite(a.pool_dof) and a.pool_dof == b.pool_dof:  # one shared pool, grown by the new seeds
            seed_dof = min(seed_dof, a.pool_dof + 2 * seeds - a.seeds - b.seeds)
        image_var = float(np.var(a.rates - b.rates, ddof=1)) - a.rest_ms / a.seeds - b.rest_ms / b.seeds
        return Estimate(a.mean - b.mean, seed_var, seed_dof, max(image_var, 0.0) / images)

    def floor(self, alpha: float) -> float:
        """The half width no number of seeds goes below on these images."""
        return float(stats.norm.isf(alpha / 2)) * self.estimate(2).image_se

    def chance(self, seeds: int, margin: float, alpha: float) -> float:
        """The chance that `seeds` seeds per point decide the comparison at level alpha (distinguishable, or
        equivalent within +-margin), were the difference and the spreads what they look now.

        The new estimate is normal around today's difference with the variance `estimate` expects; the interval
        it will get depends on the seed variances its seeds will show. Each point's varies as a chi-square on its
        degrees of freedom (floored as the verdicts floor it), so the chance is averaged over NODES draws of each;
        each pair's half widths are Satterthwaite's t for the whole, scaled to the verdicts' fiducial interval by
        the two's ratio at the expected variances (tests/test_planning.py checks the result against studies)."""
        planned = self.estimate(seeds)
        if planned.se == 0:
            return 1.0
        images = self.a.images
        expected, floors, dofs = [], [], []
        for s in (self.a, self.b):
            expected.append(s.var_seed + s.rest_ms / images)
            floors.append(s.rest_ms / images)
            dofs.append(seeds - 1 + max(s.seed_dof - (s.seeds - 1), 0))
        if math.isfinite(self.a.pool_dof) and self.a.pool_dof == self.b.pool_dof:  # one pool: one draw for both
            shared = _variance_draws(planned.seed_dof)
            draws = [shared[:, None] * np.ones(NODES), shared[:, None] * np.ones(NODES)]
        else:
            draws = [_variance_draws(dofs[0])[:, None] * np.ones(NODES), _variance_draws(dofs[1])[None, :]
                     * np.ones((NODES, 1))]
        parts = [np.maximum(e * d, f) / seeds for e, d, f in zip(expected, draws, floors)]
        seed_var = parts[0] + parts[1]
        welch = seed_var ** 2 / (parts[0] ** 2 / dofs[0] + parts[1] ** 2 / dofs[1])
        total = seed_var + planned.image_var
        whole = total ** 2 / (seed_var ** 2 / welch)  # Satterthwaite: the image part known, on infinite dof
        se = np.sqrt(total)
        # Satterthwaite's t, brought to the fiducial interval by their ratio at the expected variances.
        expected_whole = planned.se ** 4 / (planned.seed_var ** 2 / planned.seed_dof) if planned.seed_var else np.inf
        distinct = (stats.t.isf(alpha / 2, whole) * se * planned.half_width(alpha)
                    / (stats.t.isf(alpha / 2, expected_whole) * planned.se))
        equivalent = (stats.t.isf(alpha, whole) * se * planned.half_width(2 * alpha)
                      / (stats.t.isf(alpha, expected_whole) * planned.se))
        # Undecided where margin - (equivalence half width) <= |estimate| <= (distinguishing half width).
        low = np.maximum(margin - equivalent, 0.0)
        undecided = np.where(distinct > low, _between(low, distinct, abs(planned.value), planned.se), 0.0)
        return float(1 - undecided.mean())

    def seeds_to_decide(self, margin: float, alpha: float, cap: int = 10_000, power: float = POWER) -> int | None:
        """The fewest seeds per point at which `chance` reaches `power`, or None when no number up to `cap`
        does."""
        start = max(self.a.seeds, self.b.seeds, 2)
        if self.chance(cap, margin, alpha) < power:
            return None
        if self.chance(start, margin, alpha) >= power:
            return start
        low, high = start, cap  # the chance at high reaches power; find the least count that does
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if self.chance(middle, margin, alpha) >= power else (middle, high)
        return high


def _between(low: np.ndarray, high: np.ndarray, value: float, se: float) -> np.ndarray:
    """P(low <= |X| <= high) for X normal around value with standard deviation se."""
    def below(x: np.ndarray) -> np.ndarray:  # P(|X| <= x)
        return stats.norm.cdf((x - value) / se) - stats.norm.cdf((-x - value) / se)
    return below(high) - below(low)
