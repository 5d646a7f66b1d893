"""What a report concludes: the headline, which points are compared, and one of three verdicts per comparison
(distinguishable, equivalent within the resolution, undecided with what would decide it), from per-image test
outcomes of studies built directly with Optuna."""

import json
import re

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState
from test_report import add, new_study

from xsearch import contract
from xsearch.inference import family
from xsearch.inference.comparisons import analyse
from xsearch.inference.sequential import Record
from xsearch.outcomes import Outcomes
from xsearch.report import write_report
from xsearch.report.records import sweep_data
from xsearch.report.verdicts import findings, scored


def made(tmp_path, accuracy, *, segments=(2, 8, "depthwise"), seeds=(0, 1, 2), test_images=2000, image_sets=None):
    """A study of the spectrum in one op order; `accuracy(segments, seed)` is each trial's test accuracy."""
    study = new_study(tmp_path)
    number = 0
    for value in segments:
        for seed in seeds:
            image_set = image_sets(value) if image_sets else "made"
            add(study, tmp_path, number, TrialState.COMPLETE, segments=value, op_order="depthwise_first", seed=seed,
                accuracies=[accuracy(value, seed) - 0.05, accuracy(value, seed)], test_images=test_images,
                image_set=image_set)
            number += 1
    return findings(sweep_data(study, f"sqlite:///{tmp_path / 'study.db'}", tmp_path))


def by_labels(found):
    return {(c.a.label, c.b.label): c for c in found.comparisons}


def test_clear_differences_are_distinguishable_and_say_which_is_better(tmp_path):
    found = made(tmp_path, lambda seg, seed: {2: 0.60, 8: 0.70, "depthwise": 0.80}[seg] + 0.002 * seed)
    verdicts = by_labels(found)
    # each point against the paper's depthwise Xception, and neighbours along the spectrum: never 2 vs depthwise twice
    assert set(verdicts) == {("segments=2", "Xception (the paper's point)"),
                             ("segments=8", "Xception (the paper's point)"), ("segments=2", "segments=8")}
    assert verdicts[("segments=2", "Xception (the paper's point)")].kind == "vs the paper"
    assert verdicts[("segments=2", "segments=8")].kind == "neighbours"
    worse = verdicts[("segments=2", "Xception (the paper's point)")]
    assert worse.estimate.value == pytest.approx(-0.20, abs=0.01) and worse.verdict == "distinguishable"
    text = found.sentences()[found.comparisons.index(worse)]
    assert re.match(r"segments=2 vs Xception \(the paper's point\): -2\d\.\d points \[-2\d\.\d, -\d+\.\d\]", text)
    assert text.endswith("Xception (the paper's point) is better")
    assert found.headline.startswith("3 comparisons at 3 seeds a point on 2,000 test images: 3 distinguishable, "
                                     "0 equivalent within ±1.0 points, 0 undecided.")


def test_two_seeds_of_near_equal_digits_on_360_images_decide_nothing_and_the_headline_prices_deciding(tmp_path):
    # The flagship digits sweep's case: scores between 0.975 and 1.000 on 360 test images, two seeds.
    table = {(2, 0): 0.986, (2, 1): 0.994, (8, 0): 0.997, (8, 1): 0.983, ("depthwise", 0): 0.999,
             ("depthwise", 1): 0.992}
    found = made(tmp_path, lambda seg, seed: table[(seg, seed)], seeds=(0, 1), test_images=360)
    assert all(c.verdict == "undecided" for c in found.comparisons)
    assert found.headline.startswith("3 comparisons at 2 seeds a point on 360 test images: 0 distinguishable, "
                                     "0 equivalent within ±1.0 points, 3 undecided.")
    needed = [c.seeds_needed for c in found.comparisons]
    assert f"Undecided comparisons need {min(needed)} to {max(needed)} " in found.headline  # priced from them
    for comparison in found.comparisons:
        interval = comparison.estimate.interval()
        assert interval.low < 0 < interval.high  # no side is better...
        assert interval.low < -0.01 or interval.high > 0.01  # ...and no equivalence within a point either
        assert comparison.seeds_needed > 2
    depthwise = next(p for p in found.points if p["label"].startswith("Xception"))
    assert depthwise["seeds"] == 2 and depthwise["interval"]["high"] <= 1


def equal_points(tmp_path, *, seeds, images, noise):
    """Two points whose trials get the same images right but for a seed's small luck: no difference at all."""
    study = new_study(tmp_path)
    space = {"model.mid_activation": CategoricalDistribution(["none", "relu"]),
             "seed": CategoricalDistribution(list(range(seeds)))}
    for number, (activation, seed) in enumerate((a, s) for a in ("none", "relu") for s in range(seeds)):
        correct = (np.arange(images) + 0.5) / images + np.random.default_rng(number).uniform(-noise, noise, images)
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=0.8, params={"model.mid_activation": activation, "seed": seed},
            distributions=space,
            user_attrs={contract.TEST_OUTCOMES: Outcomes("equal", correct < 0.8).to_attr()}))
    return findings(sweep_data(study, f"sqlite:///{tmp_path / 'study.db'}", tmp_path))


def test_equal_points_on_many_images_are_equivalent_within_the_resolution(tmp_path):
    found = equal_points(tmp_path, seeds=5, images=10_000, noise=0.01)
    (comparison,) = found.comparisons
    assert comparison.verdict == "equivalent" and comparison.paired
    interval = comparison.estimate.interval()
    assert -0.01 < interval.low and interval.high < 0.01
    assert "equivalent within ±1.0 points" in found.sentences()[0]
    assert "1 equivalent within ±1.0 points" in found.headline


def test_a_decided_sweeps_looks_each_spend_their_share_of_the_error_rate(tmp_path):
    # The same trials, read as a decided sweep with two looks: each look tests at alpha / 2.
    found = made(tmp_path, lambda seg, seed: {2: 0.60, 8: 0.70, "depthwise": 0.80}[seg] + 0.002 * seed)
    study = optuna.load_study(study_name="made", storage=f"sqlite:///{tmp_path / 'study.db'}")
    study.set_user_attr(contract.DECIDE, Record([3, 6], 0.01).as_attr())
    again = findings(sweep_data(study, f"sqlite:///{tmp_path / 'study.db'}", tmp_path))
    assert found.analysis.level == 0.05 and again.analysis.level == 0.025 and again.analysis.looks == 2
    assert "(looks: 2, each at alpha/2)" in again.headline


def test_points_scored_on_different_test_images_are_compared_unpaired_and_say_so(tmp_path):
    found = made(tmp_path / "a", lambda seg, seed: 0.7, image_sets=lambda seg: "one" if seg == 2 else "two")
    paired = {(c.a.label, c.b.label): c.paired for c in found.comparisons}
    assert paired[("segments=2", "segments=8")] is False and paired[("segments=8", "Xception (the paper's point)")]
    assert any("scored on different test images: unpaired" in s for s in found.sentences())


def test_a_point_with_one_seed_has_no_interval_and_its_comparisons_say_what_they_need(tmp_path):
    found = made(tmp_path, lambda seg, seed: 0.7, seeds=(0,))
    assert len(found.points) == 3 and len(found.comparisons) == 3  # kept, not dropped for having one seed
    assert all(p["interval"] is None for p in found.points)
    assert all(c.verdict == "undecided" for c in found.comparisons)
    assert all("a point needs 2 seeds or more" in s for s in found.sentences())


def one_knob(tmp_path, key, values, seeds=(0, 1)):
    """A study varying one knob over `values` and the seed, every trial at 0.5 on 1,000 images."""
    study = new_study(tmp_path)
    space = {key: CategoricalDistribution(list(values)), "seed": CategoricalDistribution(list(seeds))}
    for value, seed in ((v, s) for v in values for s in seeds):
        scored = {contract.TEST_OUTCOMES: Outcomes("s", np.random.default_rng(seed).random(1000) < 0.5).to_attr()}
        study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=0.5, distributions=space,
                                                  params={key: value, "seed": seed}, user_attrs=scored))
    return findings(sweep_data(study, f"sqlite:///{tmp_path / 'study.db'}", tmp_path))


def test_an_unordered_knob_compares_every_pair_and_an_ordered_one_only_neighbours(tmp_path):
    activation = one_knob(tmp_path / "a", "model.mid_activation", ["none", "relu", "elu"])
    assert {frozenset((c.a.label, c.b.label)) for c in activation.comparisons} == {
        frozenset(p) for p in [("Xception (the paper's point)", "mid_activation=relu"),
                               ("mid_activation=elu", "Xception (the paper's point)"),
                               ("mid_activation=elu", "mid_activation=relu")]}
    assert {c.kind for c in activation.comparisons} == {"vs the paper", "neighbours"}  # none is the paper's
    segments = one_knob(tmp_path / "s", "model.segments", [1, 2, 4, 8])  # no depthwise: no paper point
    assert [(c.a.label, c.b.label, c.kind) for c in segments.comparisons] == [
        ("segments=1", "segments=2", "neighbours"), ("segments=2", "segments=4", "neighbours"),
        ("segments=4", "segments=8", "neighbours")]


def test_the_report_files_carry_the_headline_the_intervals_and_the_verdicts(tmp_path):
    made(tmp_path, lambda seg, seed: {2: 0.60, 8: 0.70, "depthwise": 0.80}[seg] + 0.002 * seed)
    report = write_report(tmp_path, wandb=False)
    summary, page = (report / "summary.md").read_text(), (report / "index.html").read_text()
    for text in (summary, page):
        assert "3 comparisons at 3 seeds a point on 2,000 test images" in text
        assert re.search(r"segments=2 vs Xception \(the paper(&#x27;|')s point\): -2\d\.\d points \[", text)
    drawn = {p["name"]: p for p in json.loads((report / "plots.json").read_text())}
    assert (report / "points.png").is_file()
    assert [p["label"] for p in drawn["points"]["data"]["points"]] == ["segments=2", "segments=8",
                                                                        "Xception (the paper's point)"]
    for point in drawn["points"]["data"]["points"]:
        assert point["interval"]["low"] < point["mean"] < point["interval"]["high"]


def test_points_that_differ_in_several_knobs_each_get_an_interval_and_no_comparison(tmp_path):
    # A random search's points: no two one knob apart, none the paper's.
    study = new_study(tmp_path)
    space = {"model.segments": CategoricalDistribution([2, 8]), "model.op_order": CategoricalDistribution(
        ["depthwise_first", "pointwise_first"]), "seed": CategoricalDistribution([0, 1])}
    for number, (segments, order) in enumerate([(2, "pointwise_first"), (8, "depthwise_first")] * 2):
        correct = np.random.default_rng(number).random(500) < 0.5
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=0.5, distributions=space,
            params={"model.segments": segments, "model.op_order": order, "seed": number // 2},
            user_attrs={contract.TEST_OUTCOMES: Outcomes("s", correct).to_attr()}))
    found = findings(sweep_data(study, f"sqlite:///{tmp_path / 'study.db'}", tmp_path))
    assert found.headline.startswith("No comparisons") and not found.comparisons and len(found.points) == 2
    assert all(p["interval"] is not None for p in found.points)


def test_both_kinds_of_verdict_are_adjusted_as_one_family(tmp_path):
    found = made(tmp_path, lambda seg, seed: {2: 0.60, 8: 0.695, "depthwise": 0.70}[seg] + 0.004 * seed)
    differs, within = family.adjusted([c.estimate.p_differs() for c in found.comparisons],
                                      [c.estimate.p_within(0.01) for c in found.comparisons])
    assert [c.p_differs for c in found.comparisons] == pytest.approx(differs)
    assert [c.p_within for c in found.comparisons] == pytest.approx(within)
    assert all(c.p_differs >= c.estimate.p_differs() for c in found.comparisons)


def test_the_sensitivity_line_names_the_verdicts_that_sharing_seed_variance_would_change(tmp_path):
    # Depthwise's seeds scatter by a point either way, the others' by a tenth of one (no less than each seed's own
    # image noise on 2,000 images): sharing one seed variance would lend depthwise their calm and call 8 segments
    # against it distinguishable; each point's own seeds cannot.
    scatter = {2: 0.001, 8: 0.001, "depthwise": 0.01}
    found = made(tmp_path, lambda seg, seed: {2: 0.66, 8: 0.70, "depthwise": 0.725}[seg] + scatter[seg] * (seed - 1))
    verdicts = by_labels(found)
    assert verdicts[("segments=8", "Xception (the paper's point)")].verdict == "undecided"
    assert found.sensitivity.startswith("No verdict here depends on sharing seed variance across points")
    assert "segments=8 vs Xception (the paper's point) (undecided -> distinguishable)" in found.sensitivity
    assert "(6 degrees of freedom)" in found.sensitivity
    summary = (write_report(tmp_path, wandb=False) / "summary.md").read_text()
    assert found.sensitivity in summary
    calm = made(tmp_path / "calm", lambda seg, seed: {2: 0.60, 8: 0.70, "depthwise": 0.80}[seg] + 0.002 * seed)
    assert calm.sensitivity.endswith("would change none.")


def test_the_headline_prices_deciding_at_the_level_and_in_the_steps_a_decided_sweep_would_use(tmp_path):
    # 3 seeds, seeds scattering by a point: undecided. A decided sweep capped at 10 looks at 3, 6 and 10 seeds,
    # each at alpha/3, and adds seeds in those steps: the price is what the comparisons need at alpha/3, rounded
    # up to a step, not at this sweep's alpha.
    found = made(tmp_path, lambda seg, seed: {2: 0.70, 8: 0.72, "depthwise": 0.71}[seg] + 0.01 * (seed - 1))
    made(tmp_path / "strict", lambda seg, seed: {2: 0.70, 8: 0.72, "depthwise": 0.71}[seg] + 0.01 * (seed - 1))
    study = optuna.load_study(study_name="made", storage=f"sqlite:///{tmp_path / 'strict' / 'study.db'}")
    data = sweep_data(study, "x", tmp_path / "strict")
    strict = analyse(scored(data), resolution=0.01, looks=3)
    steps = [next(n for n in (3, 6, 10) if n >= c.seeds_needed) for c in strict.undecided
             if c.seeds_needed is not None and c.seeds_needed <= 10]
    assert steps, "the case must have a comparison a decided sweep would decide"
    sentence = found.headline.split("sweep.decide=true sweep.max_seeds=10 ")[1]
    assert sentence.startswith(f"(looks at 3, 6 and 10 seeds, each at alpha/3) would give {len(steps)} of the "
                               f"{len(strict.undecided)} comparisons undecided at that level ")
    trials = int(re.search(r"with about (\d+) more trials", sentence)[1])
    assert 2 * (min(steps) - 3) <= trials <= 2 * sum(n - 3 for n in steps)
    # A sweep that decides already has its looks: no suggestion to decide it.
    study.set_user_attr(contract.DECIDE, Record([3, 6], 0.01).as_attr())
    assert "sweep.decide=true" not in findings(sweep_data(study, "x", tmp_path / "strict")).headline
