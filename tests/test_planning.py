"""A seed plan says "n seeds a point would decide it with 80% probability, were the difference what it looks
now". Here the difference and the spreads *are* known: studies are drawn from one truth, and the chance the
projection gives is checked against how often n seeds a point decide."""

import math

import numpy as np
import pytest
from scipy import special

from xsearch.inference import stats
from xsearch.inference.planning import Projection

IMAGES = 1000
SEED_SD = 0.06  # probit: about 1.4 points of accuracy between seeds


def draw(rng, theta: float, difficulty: np.ndarray, seeds: int) -> np.ndarray:
    """Seeds x images outcomes of one point: right when a standard normal falls below theta + seed + image."""
    latent = (theta + rng.normal(0, SEED_SD, (seeds, 1)) + difficulty[None, :]).astype(np.float32)
    return rng.standard_normal(latent.shape, dtype=np.float32) < latent


def decided(a: stats.Spread, b: stats.Spread, margin: float, alpha: float) -> bool:
    estimate = stats.difference(a, b)
    return estimate.p_differs() < alpha or estimate.p_within(margin) < alpha


@pytest.mark.parametrize(("gap", "margin"), [(0.25, 0.01), (0.0, 0.03)])
def test_the_chance_a_projection_gives_is_how_often_that_many_seeds_decide(gap, margin):
    # gap 0.25 (probit, about 5 points of accuracy): decided as distinguishable; gap 0 with a wide margin: as
    # equivalent. Both points score the same images, whose difficulty they share.
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 1.5, IMAGES)
    thetas = (0.8, 0.8 - gap)
    alpha = 0.01
    # The truth's spreads, estimated from so many seeds that they are exact (8,000: their seed variance within
    # 1.6%): what a study's "now" would be were it exactly right. (`seeds_to_decide` starts from a study's own
    # count; the chance does not depend on it, and test_stats checks that it returns the least count whose chance
    # reaches 80%.)
    now = Projection(*(stats.Spread.of(draw(rng, t, difficulty, 8000)) for t in thetas))

    def share_decided(seeds: int) -> float:
        return float(np.mean([decided(*(stats.Spread.of(draw(rng, t, difficulty, seeds)) for t in thetas), margin,
                                      alpha) for _ in range(400)]))

    needed = next(n for n in range(2, 100) if now.chance(n, margin, alpha) >= 0.8)
    assert needed > 3
    for seeds in (3, needed - 1, needed):
        # 400 studies: the share's sampling error is at most 2.5 points (one SD); the projection is within 2 points
        # of 1,500 studies' share in each case here.
        assert abs(share_decided(seeds) - now.chance(seeds, margin, alpha)) < 0.07, seeds
    assert now.chance(needed, margin, alpha) >= 0.8 > now.chance(needed - 1, margin, alpha)


def test_a_difference_below_what_the_images_resolve_gets_no_seed_count_and_names_the_floor():
    # The points disagree image by image (rates 0/1 against 1/0 on half the images): that part never averages away.
    rates_a, rates_b = np.tile([1.0, 0.0], 500), np.tile([0.0, 1.0], 500)
    a = stats.Spread(0.500, 3, 1000, 1e-6, 0.0, rates_a, seed_dof=2)
    b = stats.Spread(0.497, 3, 1000, 1e-6, 0.0, rates_b, seed_dof=2)
    projection = Projection(a, b)
    image_se = math.sqrt(np.var(rates_a - rates_b, ddof=1) / 1000)
    assert projection.floor(0.05) == pytest.approx(special.ndtri(0.975) * image_se)
    assert projection.floor(0.05) > 0.01  # wider than the resolution: neither verdict is reachable
    assert projection.seeds_to_decide(0.01, 0.05) is None
