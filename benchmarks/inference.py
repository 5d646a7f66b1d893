"""Do the report's intervals and verdicts hold? Synthetic studies whose truth is known, run through the same code
the report and a decided sweep use (xsearch/inference/).

Each study has five points along the spectrum (segments 1, 2, 4, 8, depthwise; depthwise is the paper's point),
so its family is the report's own: 7 comparisons (4 neighbours, 3 against the paper). Every trial (a point, a
seed) is scored on the same N test images; trial s of point p gets image i right with probability

    Phi(theta_p + u_ps + v_pi),  u_ps ~ N(0, SEED_SD^2),  v_pi = sqrt(RHO) z_i + sqrt(1 - RHO) w_pi,
    z, w ~ N(0, IMAGE_SD^2)

a seed effect u and an image difficulty v that the points share (correlation RHO). A point's true accuracy, over
new seeds and new images, is Phi(theta_p / sqrt(1 + SEED_SD^2 + IMAGE_SD^2)); theta_p is solved from it. The
image population is infinite: each study draws its own N images.

Four checks per cell (seeds per point x test images), over `--studies` studies each:
- coverage: how often the 95% interval of each point, and of each comparison, holds the true value (93-97%);
- false distinguishable, family-wise: all points equal, how often any comparison is called distinguishable (<=5%);
- false equivalent, family-wise: neighbours exactly `resolution` apart (every true difference at or beyond it),
  how often any comparison is called equivalent (<=5%).

Then the whole sequential procedure of `sweep.decide=true` (3 planned seeds, looks at 3, 6 and 12): its false
verdict rates, and the trials it spends against a fixed design that gives every point the seeds that decide as
many comparisons (the smallest count of the schedule that does).

    python benchmarks/inference.py                    # the full table (22 min on one core)
    python benchmarks/inference.py --studies 200      # quicker, rougher
    python benchmarks/inference.py --smoke            # one cell and a wrong method that must fail: CI
    python benchmarks/inference.py --method seeds-only  # the old report's interval: the spread over seeds alone
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable

import numpy as np
from scipy import stats as scipy_stats

from xsearch.inference import sequential
from xsearch.inference.comparisons import DISTINGUISHABLE, EQUIVALENT, Analysis, Scored, analyse
from xsearch.outcomes import Outcomes

SEGMENTS = [1, 2, 4, 8, "depthwise"]
KEY = "model.segments"
BASE = 0.78  # the paper's point's true accuracy
SEED_SD = 0.04  # probit scale: about 0.8 points of accuracy between seeds
IMAGE_SD = 1.5  # probit scale: most images are nearly always right, or nearly always wrong
RHO = 0.9  # how much of an image's difficulty the points share
RESOLUTION = 0.01
COVERAGE = (0.93, 0.97)
ERROR = 0.05
SCALE = math.sqrt(1 + SEED_SD ** 2 + IMAGE_SD ** 2)


def thetas(accuracies: list[float]) -> np.ndarray:
    return SCALE * scipy_stats.norm.ppf(accuracies)


class Study:
    """One synthetic study: seeds drawn on demand (so a sequential run can ask for more), images fixed."""

    def __init__(self, rng: np.random.Generator, accuracies: list[float], images: int, max_seeds: int):
        self.truth = np.asarray(accuracies)
        shared = rng.normal(0, IMAGE_SD, images)
        own = rng.normal(0, IMAGE_SD, (len(accuracies), images))
        difficulty = math.sqrt(RHO) * shared + math.sqrt(1 - RHO) * own
        seeds = rng.normal(0, SEED_SD, (len(accuracies), max_seeds))
        probability = scipy_stats.norm.cdf(thetas(accuracies)[:, None, None] + seeds[:, :, None]
                                           + difficulty[:, None, :])
        self.correct = rng.random(probability.shape) < probability  # [points, seeds, images]

    def trials(self, seeds: list[int]) -> list[Scored]:
        return [Scored({KEY: SEGMENTS[p], "seed": s}, s, Outcomes("synthetic", self.correct[p, s]))
                for p in range(len(SEGMENTS)) for s in range(seeds[p])]


def chain(step: float) -> list[float]:
    """Five true accuracies, neighbours `step` apart, the paper's point last at BASE."""
    return [BASE - step * (len(SEGMENTS) - 1 - k) for k in range(len(SEGMENTS))]


def true_difference(study: Study, comparison) -> float:
    index = {SEGMENTS[p]: p for p in range(len(SEGMENTS))}
    return study.truth[index[comparison.a.values[0]]] - study.truth[index[comparison.b.values[0]]]


def seeds_only(analysis: Analysis, study: Study) -> tuple[list[bool], list[bool]]:
    """The wrong method, for the smoke check to catch: Student's t over the seeds' accuracies alone (the test set
    is treated as fixed, its own sampling ignored)."""
    def covers(values: np.ndarray, truth: float) -> bool:
        half = scipy_stats.t.isf(0.025, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
        return abs(values.mean() - truth) <= half

    per_seed = study.correct.mean(axis=2)
    points = [covers(per_seed[p, :len(pt.seeds)], study.truth[p]) for p, pt in enumerate(analysis.points)]
    index = {SEGMENTS[p]: p for p in range(len(SEGMENTS))}
    pairs = [covers(per_seed[index[c.a.values[0]], :len(c.a.seeds)] - per_seed[index[c.b.values[0]], :len(c.b.seeds)],
                    true_difference(study, c)) for c in analysis.comparisons]
    return points, pairs


def covers(estimate, truth: float) -> bool:
    """Whether the 95% interval holds `truth`: exactly when the error is no further out than the interval's half
    width, that is when the tail beyond it is at least 2.5% (one tail evaluation instead of solving for the width)."""
    return estimate.tail(abs(estimate.value - truth)) >= 0.025


def xsearch_method(analysis: Analysis, study: Study) -> tuple[list[bool], list[bool]]:
    points = [covers(point.estimate, study.truth[p]) for p, point in enumerate(analysis.points)]
    pairs = [covers(c.estimate, true_difference(study, c)) for c in analysis.comparisons]
    return points, pairs


METHODS: dict[str, Callable] = {"xsearch": xsearch_method, "seeds-only": seeds_only}


def fixed_cell(rng, seeds: int, images: int, studies: int, method: str) -> dict[str, float]:
    covered_points = covered_pairs = false_distinct = false_equivalent = 0
    n_points = n_pairs = 0
    for _ in range(studies):
        # Coverage where the points differ (1 point apart), and the two error rates at their worst truths.
        study = Study(rng, chain(0.01), images, seeds)
        analysis = analyse(study.trials([seeds] * 5), resolution=RESOLUTION, plan=False)
        points, pairs = METHODS[method](analysis, study)
        covered_points += sum(points)
        covered_pairs += sum(pairs)
        n_points += len(points)
        n_pairs += len(pairs)
        null = Study(rng, chain(0.0), images, seeds)
        verdicts = analyse(null.trials([seeds] * 5), resolution=RESOLUTION, plan=False)
        false_distinct += verdicts.count(DISTINGUISHABLE) > 0
        apart = Study(rng, chain(RESOLUTION), images, seeds)
        verdicts = analyse(apart.trials([seeds] * 5), resolution=RESOLUTION, plan=False)
        false_equivalent += verdicts.count(EQUIVALENT) > 0
    return {"points": covered_points / n_points, "pairs": covered_pairs / n_pairs,
            "distinct": false_distinct / studies, "equivalent": false_equivalent / studies}


def sequential_run(study: Study, counts: list[int]) -> tuple[Analysis, int, list[Analysis]]:
    """The decided sweep's procedure on one study: look, add seeds where undecided, until done. Returns the final
    analysis, the trials it ran and every look's analysis."""
    seeds = [counts[0]] * len(SEGMENTS)
    looks = []
    while True:
        analysis = analyse(study.trials(seeds), resolution=RESOLUTION, looks=len(counts))
        looks.append(analysis)
        wanted = sequential.next_seeds(analysis, counts, look=len(looks))
        if wanted is None:
            return analysis, sum(seeds), looks
        for values in wanted.points:
            index = SEGMENTS.index(values[0])
            seeds[index] = max(seeds[index], wanted.seeds)


def wrong(analysis: Analysis, study: Study) -> tuple[bool, bool]:
    """Whether any verdict is false: distinguishable where the truth is equal, equivalent where it lies at or
    beyond the resolution (a rounding tolerance, as the truths sit exactly at it)."""
    distinct = equivalent = False
    for c in analysis.comparisons:
        truth = true_difference(study, c)
        distinct |= c.verdict == DISTINGUISHABLE and abs(truth) < 1e-12
        equivalent |= c.verdict == EQUIVALENT and abs(truth) >= RESOLUTION - 1e-12
    return distinct, equivalent


def sequential_cell(rng, images: int, studies: int, counts: list[int], truth: list[float]) -> dict[str, float]:
    false_distinct = false_equivalent = spent = decided = 0
    fixed_decided = {n: 0 for n in counts}
    for _ in range(studies):
        study = Study(rng, truth, images, counts[-1])
        final, trials, looks = sequential_run(study, counts)
        errors = [wrong(a, study) for a in looks]  # a verdict at any look counts, not only the last
        false_distinct += any(d for d, _ in errors)
        false_equivalent += any(e for _, e in errors)
        spent += trials
        decided += len(final.comparisons) - len(final.undecided)
        for n in counts:
            fixed = analyse(study.trials([n] * len(SEGMENTS)), resolution=RESOLUTION, plan=False)
            fixed_decided[n] += len(fixed.comparisons) - len(fixed.undecided)
    # The fixed design: the fewest seeds per point that decide, on average, as many comparisons as deciding did.
    enough = next((n for n in counts if fixed_decided[n] >= decided), counts[-1])
    return {"distinct": false_distinct / studies, "equivalent": false_equivalent / studies,
            "trials": spent / studies, "decided": decided / studies, "fixed_seeds": enough,
            "fixed_trials": enough * len(SEGMENTS), "fixed_decided": fixed_decided[enough] / studies}


def check(value: float, low: float | None, high: float | None) -> str:
    ok = (low is None or value >= low) and (high is None or value <= high)
    return "" if ok else " !"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=1000,
                        help="synthetic studies per fixed cell (a sequential cell runs a quarter)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 5, 10])
    parser.add_argument("--images", type=int, nargs="+", default=[360, 10000])
    parser.add_argument("--method", choices=sorted(METHODS), default="xsearch")
    parser.add_argument("--no-sequential", action="store_true", help="the fixed cells only")
    parser.add_argument("--smoke", action="store_true", help="5 seeds on 360 images, 150 studies; no sequential run")
    parser.add_argument("--rng", type=int, default=0)
    args = parser.parse_args(argv)
    if args.smoke:
        args.studies, args.seeds, args.images, args.no_sequential = 150, [5], [360], True
    rng = np.random.default_rng(args.rng)
    print(f"model: 5 points, neighbours 1 point apart (coverage), equal (false distinguishable) or {RESOLUTION:g} "
          f"apart (false equivalent); seed sd {SEED_SD}, image sd {IMAGE_SD}, shared {RHO}, base {BASE}; "
          f"method {args.method}; {args.studies} studies a cell")
    print(f"{'seeds':>5} {'images':>7} {'points covered':>15} {'pairs covered':>14} {'false distinct':>15} "
          f"{'false equiv':>12} {'s':>6}")
    failed = False
    for images in args.images:
        for seeds in args.seeds:
            started = time.perf_counter()
            cell = fixed_cell(rng, seeds, images, args.studies, args.method)
            marks = [check(cell["points"], *COVERAGE), check(cell["pairs"], *COVERAGE),
                     check(cell["distinct"], None, ERROR), check(cell["equivalent"], None, ERROR)]
            failed |= any(marks)
            print(f"{seeds:>5} {images:>7} {cell['points']:>14.3f}{marks[0] or ' '} {cell['pairs']:>13.3f}"
                  f"{marks[1] or ' '} {cell['distinct']:>14.3f}{marks[2] or ' '} {cell['equivalent']:>11.3f}"
                  f"{marks[3] or ' '} {time.perf_counter() - started:>6.0f}", flush=True)
    if not args.no_sequential:
        counts = sequential.schedule(3, 12)
        print(f"\nsequential (sweep.decide=true): 3 planned seeds, looks at {counts}, each at alpha/{len(counts)}")
        print(f"{'truth':<34} {'images':>7} {'false distinct':>15} {'false equiv':>12} {'trials':>7} "
              f"{'decided':>8} {'fixed design':>22} {'ratio':>6}")
        cases = [("all equal", chain(0.0)), (f"neighbours {RESOLUTION:g} apart", chain(RESOLUTION)),
                 ("mixed: 3, 1.5, 0.3, 0 points", [BASE - 0.03, BASE - 0.015, BASE - 0.003, BASE, BASE])]
        for name, truth in cases:
            for images in args.images:
                cell = sequential_cell(rng, images, max(args.studies // 4, 20), counts, truth)
                marks = [check(cell["distinct"], None, ERROR), check(cell["equivalent"], None, ERROR)]
                failed |= any(marks)
                fixed = f"{cell['fixed_seeds']} seeds: {cell['fixed_trials']} ({cell['fixed_decided']:.2f})"
                print(f"{name:<34} {images:>7} {cell['distinct']:>14.3f}{marks[0] or ' '} "
                      f"{cell['equivalent']:>11.3f}{marks[1] or ' '} {cell['trials']:>7.1f} {cell['decided']:>8.2f} "
                      f"{fixed:>22} {cell['fixed_trials'] / cell['trials']:>6.2f}", flush=True)
    print("\n! marks a figure outside its bound: coverage within "
          f"{COVERAGE[0]:.0%}-{COVERAGE[1]:.0%}, error rates at most {ERROR:.0%}")
    print(f"verdict: {'some figure is outside its bound' if failed else 'every figure within its bound'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
