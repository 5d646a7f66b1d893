"""A study is what its config says: another config's trials are never counted as this sweep's, a study resumes
with other execution settings, and a grid that gains values continues its study with nothing lost."""

import threading
import time

import optuna
import pytest
from conftest import composed
from omegaconf import OmegaConf

from xsearch import contract
from xsearch.inference.sequential import Look, Record
from xsearch.schema import ConfigError
from xsearch.settings.sweep import SweepSettings
from xsearch.studies import optuna_private, widen
from xsearch.sweep.driver import Sweep


def opened(tmp_path, *overrides) -> Sweep:
    values = OmegaConf.to_container(composed("+sweep=depth_width", f"sweep.dir={tmp_path}", *overrides), resolve=True)
    return Sweep(values, SweepSettings.from_mapping(values.pop("sweep")))


def finish(sweep: Sweep, count: int) -> dict[int, float]:
    """Completes `count` trials by hand, as trained trials would, and returns their values by number."""
    values = {}
    for _ in range(count):
        trial = sweep.study.ask()
        sweep.space.suggest(trial)
        values[trial.number] = 0.5 + trial.number / 100
        sweep.study.tell(trial, values[trial.number])
    return values


def test_another_config_is_refused_naming_the_keys_and_the_way_out(tmp_path):
    finish(opened(tmp_path), 3)
    with pytest.raises(ConfigError) as error:
        opened(tmp_path, "data.batch_size=32", "optim.lr=0.01")
    message = str(error.value)
    assert "study 'depth_width'" in message and "was run with another config" in message
    assert "data.batch_size: 64 -> 32" in message and "optim.lr:" in message
    assert "sweep.name=<new name>" in message and "sweep.dir=" in message
    assert len(opened(tmp_path).study.trials) == 3  # refused, not touched: the original config still continues


def test_another_dataset_in_the_same_folder_is_refused(tmp_path):
    finish(opened(tmp_path), 1)
    with pytest.raises(ConfigError, match=r"data.name: \"digits\" -> \"synthetic\""):
        opened(tmp_path, "data=synthetic")


@pytest.mark.parametrize("override", ["sweep.workers=2", "sweep.n_trials=5", "sweep.retries=0", "sweep.heartbeat=7",
                                      "sweep.stall_timeout=30", "sweep.trial_timeout=900", "sweep.job=1",
                                      "sweep.fork_trials=false", "sweep.longest_first=false", "logger=none",
                                      "logger.wandb.project=elsewhere"])
def test_how_a_sweep_runs_may_change_when_it_resumes(tmp_path, override):
    values = finish(opened(tmp_path), 2)
    resumed = opened(tmp_path, override)
    assert {t.number: t.value for t in resumed.study.trials} == values


def test_a_setting_that_changes_what_a_trial_computes_is_refused(tmp_path):
    finish(opened(tmp_path), 2)
    with pytest.raises(ConfigError, match=r"callbacks.early_stopping._target_: \(absent\) -> "):
        opened(tmp_path, "callbacks=early_stopping")  # stopping early changes what a trial computes


def test_a_grid_that_gains_values_continues_with_every_trial_kept(tmp_path):
    first = opened(tmp_path)
    values = finish(first, 9)  # the whole 3x3 grid
    before = {t.number: (t.params, t.value, t.datetime_start) for t in first.study.trials}
    grown = opened(tmp_path, "sweep.space.model.middle_depth=[0,2,4,8]")
    assert {t.number: (t.params, t.value, t.datetime_start) for t in grown.study.trials} == before
    new = [grown.space.suggest(grown.study.ask()) for _ in range(3)]
    assert sorted(p["model.width"] for p in new) == [0.125, 0.25, 0.5]
    assert {p["model.middle_depth"] for p in new} == {8}  # only the new points run
    assert values and not any(name.endswith(widen.BACKUP_SUFFIX) for name in optuna.get_all_study_names(
        optuna_private.storage(grown.study)))


@pytest.mark.parametrize("override, named", [
    ("sweep.space.model.middle_depth=[0,2]", "sweep.space.model.middle_depth"),  # values removed
    ("+sweep.space.seed=[0,1]", "sweep.space.seed: added"),
])
def test_any_other_change_to_the_space_is_refused(tmp_path, override, named):
    finish(opened(tmp_path), 2)
    with pytest.raises(ConfigError, match=named):
        opened(tmp_path, override)


def test_a_widening_that_crashed_is_finished_from_its_copy(tmp_path):
    sweep = opened(tmp_path)
    values = finish(sweep, 4)
    storage = optuna_private.storage(sweep.study)
    optuna.copy_study(from_study_name="depth_width", from_storage=storage, to_storage=storage,
                      to_study_name=widen.backup_name("depth_width"))
    optuna.delete_study(study_name="depth_width", storage=storage)  # crashed here: only the copy holds the trials
    reopened = opened(tmp_path)
    assert {t.number: t.value for t in reopened.study.trials} == values
    assert optuna.get_all_study_names(storage) == ["depth_width"]
    assert reopened.study.user_attrs[contract.STUDY_CONFIG]["data.batch_size"] == 64


def test_a_decided_study_that_has_looked_cannot_gain_values(tmp_path):
    # Its looks spent their share of the error rate on its grid; growing the grid afterwards is looking again
    # by another route.
    decided = ["sweep.decide=true", "+sweep.space.seed=[0,1]", "sweep.max_seeds=4", "sweep.pruner.name=none",
               "~sweep.pruner.n_startup_trials", "~sweep.pruner.n_warmup_steps"]
    sweep = opened(tmp_path, *decided)
    finish(sweep, 2)
    sweep.study.set_user_attr(contract.DECIDE, Record([2, 4], 0.01, [Look(2, {"undecided": 1}, {})]).as_attr())
    with pytest.raises(ConfigError, match=r"has already looked at its verdicts.*\(model.middle_depth\)"):
        opened(tmp_path, *decided, "sweep.space.model.middle_depth=[0,2,4,8]")
    assert len(opened(tmp_path, *decided).study.trials) == 2  # refused, untouched


def test_two_drivers_starting_together_queue_sweep_enqueue_once(tmp_path, monkeypatch):
    # Each driver queues sweep.enqueue's trials into a study it finds empty. Slowed down so that both look before
    # either has queued: without the study's lock both found it empty and the trials ran twice, past n_trials.
    overrides = ["sweep.sampler.name=tpe", "sweep.n_trials=4",
                 "sweep.enqueue=[{model.width:0.5},{model.width:0.25}]"]
    first, second = opened(tmp_path, *overrides), opened(tmp_path, *overrides)
    original = optuna.Study.enqueue_trial

    def slowly(study, *args, **kwargs):
        time.sleep(0.3)
        return original(study, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "enqueue_trial", slowly)
    threads = [threading.Thread(target=sweep.enqueue_first) for sweep in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(t.params.get("model.width", t.system_attrs["fixed_params"]["model.width"])
                  for t in first.study.get_trials()) == [0.25, 0.5]
