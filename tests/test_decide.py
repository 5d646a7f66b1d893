"""A sweep that runs until its question is decided (`sweep.decide=true`), and a grid of explicit points
(`sweep.points`): the looks, the seeds they add and to whom, and both in a real sweep."""

import json

import optuna
import pytest
from conftest import composed
from optuna.trial import TrialState
from test_report import outcome_bits
from test_sweep import load, run

from xsearch import contract
from xsearch.inference import comparisons, sequential
from xsearch.outcomes import Outcomes
from xsearch.schema import ConfigError
from xsearch.sweep.decide import Decider, Step, analysis_of
from xsearch.sweep.launch import prepare


def settings_of(*overrides):
    return prepare(composed(*overrides))[1]


def test_there_are_never_more_looks_than_the_schedule_has():
    settings = settings_of(*DECIDED)
    spread = {0: 0.0, 1: 0.02, 2: -0.02}
    study = study_with(settings, {(8, s): 0.77 + d for s, d in spread.items()}
                       | {("depthwise", s): 0.80 + d for s, d in spread.items()})
    analysis = analysis_of(study, resolution=0.01, looks=3)
    assert sequential.next_seeds(analysis, [3, 6, 12], look=1).seeds == 6
    assert sequential.next_seeds(analysis, [3, 6, 12], look=2).seeds == 12
    assert sequential.next_seeds(analysis, [3, 6, 12], look=3) is None  # the last look adds nothing


@pytest.mark.parametrize("planned,cap,counts", [(3, 12, [3, 6, 12]), (2, 10, [2, 4, 8, 10]), (3, 6, [3, 6]),
                                                (4, 4, [4])])
def test_the_looks_double_the_seeds_up_to_the_cap(planned, cap, counts):
    assert sequential.schedule(planned, cap) == counts


DECIDED = ["+sweep=separability", "sweep.space.model.segments=[8,depthwise]",
           "sweep.space.model.op_order=[depthwise_first]", "sweep.space.seed=[0,1,2]", "sweep.decide=true",
           "sweep.max_seeds=12"]


def study_with(settings, accuracies: dict, images: int = 2000) -> optuna.Study:
    """An in-memory study of `settings`' grid, each (segments, seed) complete at its accuracy."""
    study = optuna.create_study(direction="maximize")
    distributions = settings.search_space.distributions
    for (segments, seed), accuracy in accuracies.items():
        params = {"model.segments": segments, "model.op_order": "depthwise_first", "seed": seed}
        correct = outcome_bits(accuracy, images, 0, noise=0.0)  # every seed finds the same images hard
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=accuracy, params=params, distributions=distributions,
            user_attrs={contract.TEST_OUTCOMES: Outcomes("made", correct).to_attr()}))
    return study


def test_a_look_that_decides_everything_is_the_last():
    settings = settings_of(*DECIDED)
    study = study_with(settings, {(8, s): 0.70 + 0.001 * s for s in range(3)}
                       | {("depthwise", s): 0.80 + 0.001 * s for s in range(3)})
    decider = Decider(settings)
    decider.record_plan(study)
    assert decider.step(study) == Step.DONE
    decided = study.user_attrs[contract.DECIDE]
    assert decided["schedule"] == [3, 6, 12] and decided["final"] is True
    assert decided["looks"] == [{"seeds": 3, "distinguishable": 1, "equivalent": 0, "undecided": 0, "added": {}}]
    assert not study.get_trials(states=(TrialState.WAITING,))


def test_an_undecided_comparison_gets_the_next_unused_seeds_for_both_its_points_and_the_next_look_waits():
    settings = settings_of(*DECIDED)
    # Three points' apart on average, but the seeds scatter by two: undecided at 3 seeds, decidable within 12.
    spread = {0: 0.0, 1: 0.02, 2: -0.02}
    study = study_with(settings, {(8, s): 0.77 + d for s, d in spread.items()}
                       | {("depthwise", s): 0.80 + d for s, d in spread.items()})
    decider = Decider(settings)
    assert decider.step(study) == Step.RUN
    queued = study.get_trials(states=(TrialState.WAITING,))
    assert sorted((t.system_attrs["fixed_params"]["model.segments"] == 8, t.system_attrs["fixed_params"]["seed"])
                  for t in queued) == [(False, 3), (False, 4), (False, 5), (True, 3), (True, 4), (True, 5)]
    look = study.user_attrs[contract.DECIDE]["looks"][0]
    assert look["undecided"] == 1 and sum(look["added"].values()) == 6
    assert not study.user_attrs[contract.DECIDE]["final"]
    assert decider.step(study) == Step.WAIT  # the next look needs the queued seeds run first


def test_a_look_an_earlier_method_took_is_retaken_from_the_trials_it_saw_and_kept_as_superseded():
    # The study's first look was taken by an earlier method (no method recorded), which asked for nothing and
    # queued seed 3 of depthwise. Since then seed 3 of depthwise completed, far from the rest; the re-taken look
    # must not see it (it was not there at the look), and asks this method's seeds for both points.
    settings = settings_of(*DECIDED)
    spread = {0: 0.0, 1: 0.02, 2: -0.02}
    study = study_with(settings, {(8, s): 0.77 + d for s, d in spread.items()}
                       | {("depthwise", s): 0.80 + d for s, d in spread.items()} | {("depthwise", 3): 0.95})
    earlier = {"seeds": 3, "distinguishable": 1, "equivalent": 0, "undecided": 0, "added": {"depthwise": 1}}
    study.set_user_attr(contract.DECIDE, {"schedule": [3, 6, 12], "resolution": 0.01, "looks": [earlier],
                                          "final": False})
    decider = Decider(settings)
    decider.record_plan(study)
    assert decider.step(study) == Step.RUN
    decided = study.user_attrs[contract.DECIDE]
    assert decided["method"] == comparisons.METHOD and not decided["final"]
    assert decided["superseded"] == [{"look": 1, "method": None, "seen": earlier}]
    (look,) = decided["looks"]
    assert look["seeds"] == 3 and look["undecided"] == 1  # seed 3 of depthwise unseen
    assert look["added"] == {"segments=8": 3, "Xception (the paper's point)": 3}
    queued = sorted((str(t.system_attrs["fixed_params"]["model.segments"]), t.system_attrs["fixed_params"]["seed"])
                    for t in study.get_trials(states=(TrialState.WAITING,)))
    assert queued == [("8", 3), ("8", 4), ("8", 5), ("depthwise", 4), ("depthwise", 5)]  # depthwise 3 ran already
    assert decider.step(study) == Step.WAIT  # re-taken once: the next step is the next look's, once they ran


def test_a_difference_no_number_of_seeds_up_to_the_cap_decides_adds_nothing():
    settings = settings_of(*DECIDED[:-1], "sweep.max_seeds=4")
    spread = {0: 0.0, 1: 0.02, 2: -0.02}
    study = study_with(settings, {(8, s): 0.79 + d for s, d in spread.items()}
                       | {("depthwise", s): 0.80 + d for s, d in spread.items()})
    assert Decider(settings).step(study) == Step.DONE
    assert study.user_attrs[contract.DECIDE]["looks"][0]["undecided"] == 1 and not study.get_trials(
        states=(TrialState.WAITING,))


@pytest.mark.parametrize("override,message", [
    ("sweep.sampler.name=tpe", "sweep.decide=true needs sweep.sampler.name=grid"),
    ("sweep.pruner.name=median", "sweep.decide=true needs sweep.pruner.name=none"),
    ("sweep.max_seeds=2", r"sweep.max_seeds=2 is invalid with 3 planned seed\(s\)"),
    ("sweep.space.seed=[0]", r"deciding needs at least 2 planned seeds"),
])
def test_a_decided_sweep_that_cannot_work_is_a_config_error(override, message):
    extra = ["sweep.n_trials=4"] if "tpe" in override else []
    with pytest.raises(ConfigError, match=message):
        settings_of(*DECIDED, override, *extra)


def test_points_are_completed_from_the_base_config_and_crossed_with_the_space():
    settings = settings_of("+sweep=questions", "sweep.space.seed=[0,1]")
    space = settings.search_space
    points = space.grid_points()
    assert len(points) == 10 * 2
    assert {"model.segments": "depthwise", "model.op_order": "depthwise_first", "model.residual": False,
            "model.mid_activation": "none", "seed": 1} in points
    assert space.distributions["seed"].choices == (0, 1, 2, 3, 4, 5)  # decided: the seeds it may add
    assert space.distributions["model.mid_activation"].choices == ("none", "relu", "elu")


@pytest.mark.parametrize("points,message", [
    ("[{model.segments:4},{model.segments:4}]", r"sweep.points\[1\]=.* is listed twice"),
    ("[{seed:1}]", r"sweep.points\[0\].seed is also in sweep.space"),
    ("[{model.nothing:1}]", r"sweep.points: model.nothing names no config key"),
    ("[{model.segments:[1,2]}]", r"sweep.points\[0\].model.segments=\[1, 2\] is invalid: expected one value"),
])
def test_bad_points_are_config_errors_that_name_them(points, message):
    with pytest.raises(ConfigError, match=message):
        settings_of("+sweep=residual", f"sweep.points={points}")


def test_points_need_the_grid_sampler():
    with pytest.raises(ConfigError, match="sweep.points needs sweep.sampler.name=grid"):
        settings_of("+sweep=residual", "sweep.points=[{model.segments:4}]", "sweep.sampler.name=tpe",
                    "sweep.n_trials=4")


@pytest.mark.slow
def test_a_real_decided_sweep_of_points_records_its_looks_and_runs_no_seed_twice(tmp_path):
    # Two points of the spectrum, 2 planned seeds, at most 4: whatever it decides, every look is recorded and every
    # trial it added is a new seed of a point it found undecided.
    out = run(tmp_path, "+sweep=residual", "sweep.name=decided", "~sweep.space.model",
              "sweep.points=[{model.segments:8},{model.segments:depthwise}]", "sweep.space.seed=[0,1]",
              "sweep.decide=true", "sweep.max_seeds=4", "sweep.workers=2", "trainer.max_epochs=2", timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    study = load(tmp_path, "decided")
    decided = study.user_attrs[contract.DECIDE]
    assert decided["schedule"] == [2, 4] and decided["final"] is True and decided["looks"]
    added = sum(sum(look["added"].values()) for look in decided["looks"])
    assert len(study.trials) == 4 + added and all(t.state == TrialState.COMPLETE for t in study.trials)
    ran = [(t.params["model.segments"], t.params["seed"]) for t in study.trials]
    assert len(set(ran)) == len(ran)
    assert all(contract.TEST_OUTCOMES in t.user_attrs for t in study.trials)
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "1 comparison at " in summary and "(looks: 2, each at alpha/2)" in summary
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["counts"] == {"complete": 4 + added}


def test_seeds_added_to_a_point_take_its_own_values_never_those_of_a_point_that_only_failed():
    # segments=8 pointwise_first failed on every seed, so the scored points differ in segments alone; its trials
    # share segments=8 with a scored point, and must lend that point neither their op_order nor their seeds.
    settings = settings_of(*DECIDED, "sweep.space.model.op_order=[depthwise_first,pointwise_first]")
    study = optuna.create_study(direction="maximize")
    distributions = settings.search_space.distributions
    for seed in range(3):
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.FAIL, distributions=distributions,
            params={"model.segments": 8, "model.op_order": "pointwise_first", "seed": seed}))
    spread = {0: 0.0, 1: 0.02, 2: -0.02}
    scored = study_with(settings, {(8, s): 0.77 + d for s, d in spread.items()}
                        | {("depthwise", s): 0.80 + d for s, d in spread.items()})
    for trial in scored.trials:
        study.add_trial(trial)
    assert Decider(settings).step(study) == Step.RUN
    queued = [t.system_attrs["fixed_params"] for t in study.get_trials(states=(TrialState.WAITING,))]
    assert {q["model.op_order"] for q in queued} == {"depthwise_first"}
    assert sorted((str(q["model.segments"]), q["seed"]) for q in queued) == [
        (segments, seed) for segments in ("8", "depthwise") for seed in (3, 4, 5)]
