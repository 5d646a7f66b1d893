"""A grid sweep hands out its costliest trials first, so its workers finish together instead of one waiting
for a long last trial."""

import optuna
from conftest import composed
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, IntDistribution

from xsearch.settings.sweep import SweepSettings
from xsearch.sweep.driver import Sweep
from xsearch.sweep.grid import GridSampler

SPACE = {"x": [1, 2, 3, 4], "y": ["a", "b"]}
POINTS = [{"x": x, "y": y} for x in SPACE["x"] for y in SPACE["y"]]


def grid(points=POINTS, space=SPACE, seed=3):
    return GridSampler({k: CategoricalDistribution(v) for k, v in space.items()}, points, seed=seed)


def _cost(point):
    return point["x"] * (10 if point["y"] == "b" else 1)


def _ask(study, n):
    trials = [study.ask() for _ in range(n)]
    return [{"x": t.suggest_categorical("x", SPACE["x"]), "y": t.suggest_categorical("y", SPACE["y"])}
            for t in trials]


def test_every_point_is_handed_out_once_in_decreasing_cost():
    sampler = grid()
    sampler.longest_first(_cost)
    study = optuna.create_study(sampler=sampler)
    points = _ask(study, 8)
    assert [_cost(p) for p in points] == [40, 30, 20, 10, 4, 3, 2, 1]


def test_a_resumed_study_skips_points_already_taken_for_the_costliest_free_one():
    first = grid()  # an earlier run of the study, in the seeded shuffle
    study = optuna.create_study(sampler=first)
    taken = _ask(study, 3)
    for trial in study.trials:
        study.tell(trial.number, 0.0)
    resumed = grid()
    resumed.longest_first(_cost)
    study.sampler = resumed
    rest = _ask(study, 5)
    free = sorted((p for p in ({"x": x, "y": y} for x in SPACE["x"] for y in SPACE["y"]) if p not in taken),
                  key=_cost, reverse=True)
    assert rest == free


def test_a_grid_that_grows_runs_only_its_new_points():
    def sampler(high):
        return GridSampler({"x": IntDistribution(1, high)}, [{"x": x} for x in range(1, high + 1)], seed=3)

    study = optuna.create_study(sampler=sampler(3))
    before = [t.suggest_int("x", 1, 3) for t in (study.ask() for _ in range(3))]
    study.sampler = sampler(4)  # x=4 added: an Optuna range may grow within a study
    after = [t.suggest_int("x", 1, 4) for t in (study.ask() for _ in range(1))]
    assert sorted(before) == [1, 2, 3] and after == [4]  # each point once: the old ones not again


def _asked_macs(tmp_path, *overrides):
    values = OmegaConf.to_container(composed("+sweep=depth_width", f"sweep.dir={tmp_path}", *overrides), resolve=True)
    settings = SweepSettings.from_mapping(values.pop("sweep"))
    sweep = Sweep(values, settings)
    trials = [sweep.study.ask() for _ in range(settings.total)]
    return [sweep.plans.check(sweep.space.suggest(t)).plan.flops for t in trials]


def test_an_unpruned_sweep_asks_for_its_most_expensive_variant_first(tmp_path):
    macs = _asked_macs(tmp_path, "sweep.pruner.name=none", "~sweep.pruner.n_startup_trials",
                       "~sweep.pruner.n_warmup_steps")
    assert macs == sorted(macs, reverse=True) and len(set(macs)) == len(macs) == 9


def test_a_pruned_sweep_keeps_optunas_order(tmp_path):
    # A pruner passes a study's first trials leniently: they must not all be the costliest.
    macs = _asked_macs(tmp_path)  # depth_width prunes with the median rule
    assert macs not in (sorted(macs, reverse=True), sorted(macs)) and len(set(macs)) == 9  # by cost neither way
