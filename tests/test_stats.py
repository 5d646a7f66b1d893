"""The report's intervals against values known from the literature and from scipy's own tests."""

import math

import pytest
from scipy import stats as scipy_stats

from xsearch.report.stats import Score, difference, holm, mean_interval, wilson

EXACT = 10**9  # so many validation images that the binomial part vanishes and the seeds' spread is all


def test_wilson_matches_newcombes_worked_example():
    # Newcombe (1998), Statistics in Medicine 17:857, Table I: 81 of 263, Wilson score interval 0.2553-0.3662.
    interval = wilson(Score(81 / 263, 263))
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.2553, 0.3662)


def test_a_near_perfect_score_on_few_images_is_about_a_point_and_a_half_wide():
    # The case: 0.985 on 360 images is about +-0.013, far more than the gaps the plots drew.
    interval = wilson(Score(0.985, 360))
    assert 0.010 < interval.half < 0.016 and interval.high < 1


def test_the_mean_over_seeds_uses_students_t():
    interval = mean_interval([Score(0.5, EXACT), Score(0.6, EXACT)])
    half = scipy_stats.t.ppf(0.975, 1) * scipy_stats.tstd([0.5, 0.6]) / math.sqrt(2)
    assert interval.estimate == pytest.approx(0.55)
    assert interval.low == max(0.0, 0.55 - half) and interval.high == min(1.0, 0.55 + half)


def test_seeds_that_agree_by_chance_keep_the_binomial_uncertainty():
    agreeing = mean_interval([Score(0.9, 1000), Score(0.9, 1000)])
    assert agreeing.half > 0.01  # not zero: each of the two scores is itself uncertain by about +-0.019


def test_a_difference_paired_by_seed_is_the_paired_t_test():
    a, b = [0.80, 0.82, 0.84], [0.78, 0.81, 0.80]
    result = difference({s: Score(v, EXACT) for s, v in enumerate(a)}, {s: Score(v, EXACT) for s, v in enumerate(b)})
    assert result.pairs == 3
    assert result.p_value == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue)
    assert result.interval.estimate == pytest.approx(0.07 / 3)
    assert result.seeds_to_resolve() == 36  # (1.96 * 0.0153 / 0.005)^2, rounded up


def test_unpaired_single_trials_use_both_binomial_errors():
    result = difference({0: Score(0.52, 2000)}, {1: Score(0.50, 2000)})
    error = math.sqrt(0.52 * 0.48 / 2000 + 0.5 * 0.5 / 2000)
    assert result.pairs == 0
    assert result.interval.half == pytest.approx(1.959964 * error, rel=1e-5)
    assert result.p_value == pytest.approx(2 * scipy_stats.norm.sf(0.02 / error))


def test_holm_adjusts_step_down_and_keeps_the_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
