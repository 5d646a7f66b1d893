"""What a report concludes: the headline, which points are compared, and a verdict per comparison that never
ranks what noise cannot separate."""

import json

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from test_report import add, new_study
from xsearch.report import write_report
from xsearch.report.records import sweep_data
from xsearch.report.verdicts import findings


def made(tmp_path, accuracy, *, segments=(2, 8, "depthwise"), seeds=(0, 1, 2), val_images=2000):
    """A study of the spectrum in one op order; `accuracy(segments, seed)` gives each trial's best accuracy."""
    study = new_study(tmp_path)
    number = 0
    for value in segments:
        for seed in seeds:
            add(study, tmp_path, number, TrialState.COMPLETE, segments=value, op_order="depthwise_first", seed=seed,
                accuracies=[accuracy(value, seed) - 0.05, accuracy(value, seed)], val_images=val_images)
            number += 1
    return findings(sweep_data(study, f"sqlite:///{tmp_path / 'study.db'}", tmp_path))


def test_clear_differences_are_separated_and_say_which_is_better(tmp_path):
    found = made(tmp_path, lambda seg, seed: {2: 0.60, 8: 0.70, "depthwise": 0.80}[seg] + 0.002 * seed)
    assert found.headline.startswith("The sweep separates all 3 of its comparisons")
    verdicts = {(c.a, c.b): c for c in found.comparisons}
    # each point against the paper's depthwise Xception, and neighbours along the spectrum: never 2 vs depthwise twice
    assert set(verdicts) == {("segments=2", "segments=depthwise"), ("segments=8", "segments=depthwise"),
                             ("segments=2", "segments=8")}
    assert verdicts[("segments=2", "segments=depthwise")].kind == "vs the paper"
    assert verdicts[("segments=2", "segments=8")].kind == "neighbours"
    worse = verdicts[("segments=2", "segments=depthwise")]
    assert worse.difference.interval.estimate == pytest.approx(-0.20) and worse.difference.pairs == 3
    assert worse.verdict.startswith("segments=2 vs segments=depthwise: -20.0 ± ")
    assert worse.verdict.endswith("segments=depthwise is better")


def test_the_issues_case_of_near_equal_scores_on_360_images_is_within_noise(tmp_path):
    # Scores between 0.975 and 1.000 on 360 validation images, two seeds: nothing is distinguishable.
    table = {(2, 0): 0.9861, (2, 1): 0.9944, (8, 0): 0.9972, (8, 1): 0.9833, ("depthwise", 0): 1.0,
             ("depthwise", 1): 0.9917}
    found = made(tmp_path, lambda seg, seed: table[(seg, seed)], seeds=(0, 1), val_images=360)
    assert found.headline.startswith("Within noise: none of the 3 comparisons is distinguishable")
    assert "seeds per point would resolve 0.5-point differences" in found.headline
    for comparison in found.comparisons:
        assert not comparison.distinguishable and "not distinguishable" in comparison.verdict
        assert comparison.difference.interval.low < 0 < comparison.difference.interval.high
    depthwise = next(p for p in found.points if p["label"] == "segments=depthwise")
    assert depthwise["seeds"] == 2 and depthwise["interval"]["high"] <= 1


def one_knob(tmp_path, key, values, seeds=(0, 1)):
    """A study varying one knob over `values` and the seed, every trial at 0.5 on 1,000 images."""
    study = new_study(tmp_path)
    space = {key: CategoricalDistribution(list(values)), "seed": CategoricalDistribution(list(seeds))}
    for number, (value, seed) in enumerate((v, s) for v in values for s in seeds):
        trial_dir = tmp_path / "trials" / str(number)
        trial_dir.mkdir(parents=True)
        (trial_dir / "summary.json").write_text('{"status": "completed", "best": {"epoch": 0, "val/acc": 0.5, '
                                                '"val_images": 1000}, "model": {}, "not_applicable": []}')
        study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=0.5,
                                                  params={key: value, "seed": seed}, distributions=space,
                                                  user_attrs={"dir": str(trial_dir)}))
    return findings(sweep_data(study, f"sqlite:///{tmp_path / 'study.db'}", tmp_path))


def test_an_unordered_knob_compares_every_pair_and_an_ordered_one_only_neighbours(tmp_path):
    activation = one_knob(tmp_path / "a", "model.mid_activation", ["none", "relu", "elu"])
    assert {frozenset((c.a, c.b)) for c in activation.comparisons} == {
        frozenset(p) for p in [("mid_activation=none", "mid_activation=relu"),
                               ("mid_activation=elu", "mid_activation=none"),
                               ("mid_activation=elu", "mid_activation=relu")]}
    assert {c.kind for c in activation.comparisons} == {"vs the paper", "neighbours"}  # none is the paper's
    segments = one_knob(tmp_path / "s", "model.segments", [1, 2, 4, 8])  # no depthwise: no paper point
    assert [(c.a, c.b, c.kind) for c in segments.comparisons] == [
        ("segments=1", "segments=2", "neighbours"), ("segments=2", "segments=4", "neighbours"),
        ("segments=4", "segments=8", "neighbours")]


def test_trials_without_validation_sizes_get_no_verdicts_and_say_why(tmp_path):
    found = made(tmp_path, lambda seg, seed: 0.5, val_images=0)
    assert found.headline.startswith("No intervals") and not found.comparisons


def test_the_report_files_carry_the_headline_and_verdicts(tmp_path):
    made(tmp_path, lambda seg, seed: {2: 0.60, 8: 0.70, "depthwise": 0.80}[seg])
    report = write_report(tmp_path, wandb=False)
    summary, page = (report / "summary.md").read_text(), (report / "index.html").read_text()
    for text in (summary, page):
        assert "The sweep separates all 3 of its comparisons" in text
        assert "segments=2 vs segments=depthwise: -20.0 ± " in text
    drawn = {p["name"]: p for p in json.loads((report / "plots.json").read_text())}
    assert (report / "points.png").is_file()
    assert [p["label"] for p in drawn["points"]["data"]["points"]] == ["segments=2", "segments=8", "segments=depthwise"]
    for point in drawn["points"]["data"]["points"]:
        assert point["interval"]["low"] < point["interval"]["estimate"] < point["interval"]["high"]


def test_points_that_differ_in_several_knobs_each_get_an_interval_and_no_comparison(tmp_path):
    # A random search's points: no two one knob apart, none the paper's.
    study = new_study(tmp_path)
    space = {"model.segments": CategoricalDistribution([2, 8]), "model.op_order": CategoricalDistribution(
        ["depthwise_first", "pointwise_first"])}
    for number, (segments, order) in enumerate([(2, "pointwise_first"), (8, "depthwise_first")]):
        trial_dir = tmp_path / "trials" / str(number)
        trial_dir.mkdir(parents=True)
        (trial_dir / "summary.json").write_text('{"status": "completed", "best": {"epoch": 0, "val/acc": 0.5, '
                                                '"val_images": 1000}, "model": {}, "not_applicable": []}')
        study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=0.5, distributions=space,
                                                  params={"model.segments": segments, "model.op_order": order},
                                                  user_attrs={"dir": str(trial_dir)}))
    found = findings(sweep_data(study, f"sqlite:///{tmp_path / 'study.db'}", tmp_path))
    assert found.headline.startswith("No comparisons") and not found.comparisons and len(found.points) == 2
