"""`python -m xsearch +sweep=<name>`: real studies with real trial processes, on the embedded data."""

import json
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path

import optuna
import processes
import pytest
import yaml
from conftest import assert_nothing_lost, completed, composed, retry_of
from optuna.trial import TrialState

from xsearch.schema import ConfigError
from xsearch.settings.run import load_settings
from xsearch.settings.sweep import SweepSettings
from xsearch.sweep.launch import validate_space

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in (ROOT / "conf" / "sweep").glob("*.yaml"))
# Trials of a few steps of a tiny network; W&B stays out of the way (logger=csv) unless a test wants it.
TINY = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
        "model.width=0.125", "model.middle_depth=1", "data.batch_size=16", "logger=csv", "model.budget=null"]


def sweep_args(root: Path, *args: str) -> list[str]:
    return [*args, f"sweep.dir={root}", *TINY]


def run(root: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return processes.xsearch(*sweep_args(root, *args), timeout=timeout)


def running_trial(trial_dir: Path, *, timeout: float) -> list[str]:
    """The pid of the trial process running in `trial_dir` (from its trial.pid), once it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid_file = trial_dir / "trial.pid"
        if pid_file.is_file() and pid_file.read_text().strip():
            return [pid_file.read_text().strip()]
        time.sleep(0.2)
    return []


def load(root: Path, name: str, *, journal: bool = False) -> optuna.Study:
    if journal:
        backend = optuna.storages.journal.JournalFileBackend(str(root / "study.journal"))
        storage = optuna.storages.JournalStorage(backend)
        return optuna.load_study(study_name=name, storage=storage)
    return optuna.load_study(study_name=name, storage=f"sqlite:///{root / 'study.db'}")


def states(study: optuna.Study) -> dict[str, int]:
    counted: dict[str, int] = {}
    for trial in study.trials:
        counted[trial.state.name] = counted.get(trial.state.name, 0) + 1
    return counted


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_sweep_composes_and_its_space_validates(name):
    values = composed(f"+sweep={name}")
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(values, resolve=True)
    settings = SweepSettings.from_mapping(config.pop("sweep"))
    load_settings(config)
    validate_space(config, settings)
    assert settings.name == name and settings.total >= 4


# Each shipped sweep as written (its sampler, pruner, objectives, limits, budget), made tiny: 2 trials of one short
# epoch. nas gets 6: its MAC limit refuses about half of what NSGA-II's random first generation proposes.
SHIPPED_TINY = ["trainer.max_epochs=1", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2",
                "model.middle_depth=1", "data.batch_size=16", "logger=csv"]
SHIPPED_TRIALS = {"nas": 6}  # the others: 2
SHIPPED_EXTRA = {"questions": ["sweep.decide=false"]}  # n trials of a grid, not until decided (tests/test_decide.py)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_sweep_runs_end_to_end_and_completes_trials(tmp_path, name):
    out = processes.xsearch(f"+sweep={name}", *SHIPPED_TINY, f"sweep.n_trials={SHIPPED_TRIALS.get(name, 2)}",
                            *SHIPPED_EXTRA.get(name, []), f"sweep.dir={tmp_path}", timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["counts"].get("complete", 0) >= 2, results["trials"]
    assert results["best_trials"]
    if len(results["objectives"]) > 1:  # a Pareto set, in the results and drawn
        complete = {t["number"] for t in results["trials"] if t["state"] == "complete"}
        assert set(results["best_trials"]) <= complete
        assert (tmp_path / "report" / "pareto.png").is_file()


@pytest.mark.parametrize("override,message", [
    ("+sweep.space.model.segments=[0,4]", "sweep value {'model.segments': 0} cannot run: model.segments=0 is invalid"),
    ("+sweep.space.model.segmnets=[1,2]", "sweep.space.model.segmnets names no config key"),
    ("sweep.space.model.mid_activation=[]", "sweep.space.model.mid_activation has no choices"),
    ("+sweep.space.optim.lr={type:float,low:0.1,high:0.01}", "sweep.space.optim.lr has an inverted range"),
    ("sweep.sampler.name=annealing", "sweep.sampler.name='annealing' is invalid: expected one of grid, tpe"),
    ("+sweep.pruner.patience=3", "sweep.pruner (optuna.pruners.NopPruner): TypeError"),
    ("+sweep.pruner.n_startup_trials=3", "(given: n_startup_trials; a name switched from another pruner keeps that "
     "one's arguments: drop them with ~sweep.pruner.n_startup_trials)"),
    ("sweep.sampler._target_=collections.OrderedDict sweep.n_trials=3",
     "sweep.sampler._target_=collections.OrderedDict is a OrderedDict, not an Optuna BaseSampler"),
    ("sweep.pruner._target_=optuna.pruners.NoSuchPruner", "sweep.pruner (optuna.pruners.NoSuchPruner): "),
    ("sweep.pruner._target_=median", "sweep.pruner._target_='median' is invalid: expected a dotted class path"),
    ("sweep.n_trials=99", "sweep.n_trials=99 exceeds the grid's 9 points"),
])
def test_invalid_sweeps_are_rejected_before_any_trial(override, message):
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(composed("+sweep=activation", *override.split()), resolve=True)
    with pytest.raises(ConfigError) as error:
        settings = SweepSettings.from_mapping(config.pop("sweep"))
        validate_space(config, settings)
    assert message in str(error.value)


def test_a_pruner_with_a_nested_target_is_built_from_command_line_overrides():
    import optuna
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(composed(
        "+sweep=depth_width", "sweep.pruner._target_=optuna.pruners.PatientPruner", "+sweep.pruner.patience=2",
        "+sweep.pruner.wrapped_pruner={_target_:optuna.pruners.MedianPruner,n_startup_trials:3}",
        "~sweep.pruner.n_warmup_steps", "~sweep.pruner.n_startup_trials"), resolve=True)
    pruner = SweepSettings.from_mapping(config["sweep"]).build_pruner()
    assert isinstance(pruner, optuna.pruners.PatientPruner) and pruner._patience == 2
    assert isinstance(pruner._wrapped_pruner, optuna.pruners.MedianPruner)
    assert pruner._wrapped_pruner._n_startup_trials == 3


def test_a_sweep_left_without_a_space_says_what_is_missing():
    from xsearch.sweep.launch import prepare

    with pytest.raises(ConfigError, match=r"^sweep.space not set: a sweep needs a name and a space"):
        prepare(composed("+sweep=activation", "sweep.space=???"))


@pytest.mark.slow
def test_invalid_space_from_the_command_line_creates_no_study(tmp_path):
    out = run(tmp_path, "+sweep=activation", "+sweep.space.model.segments=[0]", timeout=120)
    assert out.returncode == 2
    assert "model.segments=0 is invalid" in out.stderr
    assert not (tmp_path / "study.db").exists()


@pytest.mark.slow
def test_two_workers_finish_exactly_n_trials_and_a_nan_trial_fails_alone(tmp_path):
    out = run(tmp_path, "+sweep=activation", "sweep.name=mixed", "sweep.workers=2", "sweep.n_trials=4",
              "~sweep.space.model", "+sweep.space.optim.lr=[0.003,1.0e30]", "sweep.space.seed=[0,1]",
              "optim.warmup_epochs=0")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    study = load(tmp_path, "mixed")
    assert len(study.trials) == 4
    assert states(study) == {"COMPLETE": 2, "FAIL": 2}
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4  # no trial ran twice
    assert_nothing_lost(study, {}, total=4)
    for trial in study.trials:
        trial_dir = tmp_path / "trials" / str(trial.number)
        summary = json.loads((trial_dir / "summary.json").read_text())
        assert (trial_dir / "trial.yaml").is_file()
        if trial.params["optim.lr"] > 1:
            assert trial.state == TrialState.FAIL
            assert "training loss is nan" in trial.user_attrs["failure_reason"]
            assert summary["status"] == "failed"
        else:
            assert trial.state == TrialState.COMPLETE
            assert trial.value == summary["best"]["val/acc"]
            assert (trial_dir / "metrics.csv").is_file()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["counts"] == {"complete": 2, "failed": 2} and len(results["best_trials"]) == 1
    assert "re-run alone: python -m xsearch --config-path=" in out.stdout
    assert "xsearch sweep mixed: 2 complete, 2 failed" in out.stdout
    assert "Traceback" not in out.stderr  # e.g. a worker thread dying when the grid runs out

    # The saved config of a trial re-runs alone as a plain training run and rebuilds the same network.
    first = json.loads((tmp_path / "trials" / "0" / "summary.json").read_text())
    rerun = processes.xsearch(f"--config-path={tmp_path / 'trials' / '0'}", "--config-name=trial",
                              f"hydra.run.dir={tmp_path / 'rerun'}", cwd=tmp_path, timeout=120)
    again = json.loads((tmp_path / "rerun" / "summary.json").read_text())
    assert again["params"] == first["params"] and again["model"] == first["model"], rerun.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_killed_driver_resumes_without_redoing_completed_trials(tmp_path, spawned, storage):
    # SQLite: Optuna's heartbeat finds the dead worker's trial; a journal file has none of Optuna's, so xsearch's
    # own beat attribute does (a session that ended, a node lost, must not leave the study stuck).
    journal = [f"sweep.storage={tmp_path / 'study.journal'}"] if storage == "journal" else []
    args = ["+sweep=residual", "sweep.name=resume", "sweep.workers=1", "sweep.n_trials=2", "sweep.heartbeat=1",
            "trainer.max_epochs=2", *journal]
    driver = spawned(sweep_args(tmp_path, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trial = running_trial(tmp_path / "trials" / "1", timeout=240)  # one trial completed, the second one running
    assert trial, "the sweep never reached its second trial"
    # Lose the whole node: the driver and its running trial die without a word.
    driver.kill()
    for pid in trial:
        os.kill(int(pid), signal.SIGKILL)
    driver.wait()
    before = load(tmp_path, "resume", journal=bool(journal))
    completed_before = {t.number: t.params for t in before.trials if t.state == TrialState.COMPLETE}
    values_before = completed(before)
    assert completed_before and before.trials[1].state == TrialState.RUNNING

    time.sleep(3.5)  # past the heartbeat's grace period (3 beats)
    out = run(tmp_path, *args)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    after = load(tmp_path, "resume", journal=bool(journal))
    complete = [t for t in after.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2
    for number, params in completed_before.items():  # kept, not redone
        assert after.trials[number].state == TrialState.COMPLETE
        assert sum(t.params == params for t in complete) == 1
    assert_nothing_lost(after, values_before, total=2)
    stale = after.trials[1]
    assert stale.state == TrialState.FAIL
    retry = next(t for t in after.trials if retry_of(t) == 1)
    assert retry.state == TrialState.COMPLETE and retry.params == stale.params
    assert retry.user_attrs["retry_reason"] == "worker stopped: no heartbeat"


@pytest.mark.slow
def test_a_killed_trial_process_is_retried(tmp_path, spawned):
    args = ["+sweep=residual", "sweep.name=killed", "sweep.workers=1", "sweep.n_trials=1"]
    driver = spawned(sweep_args(tmp_path, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pids = running_trial(tmp_path / "trials" / "0", timeout=120)
    assert pids, "the trial process never started"
    os.kill(int(pids[0]), signal.SIGKILL)
    output, _ = driver.communicate(timeout=240)
    assert driver.returncode == 0, output[-3000:]
    study = load(tmp_path, "killed")
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[0].user_attrs["failure_reason"] == "trial process killed by SIGKILL"
    assert retry_of(study.trials[1]) == 0 and study.trials[1].params == study.trials[0].params
    with warnings.catch_warnings():  # Optuna's own retry bookkeeping sees the retry
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(study.trials[1]) == 0
        assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(study.trials[0]) is None
    assert "(queued again)" in output
    assert_nothing_lost(study, {}, total=1)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["trials"][0]["retried"] is True


@pytest.mark.slow
def test_a_pruner_prunes_trials_that_trail_and_any_optuna_sampler_or_pruner_comes_by_target(tmp_path):
    # A controlled objective: the first trial learns (lr 3e-3); the second cannot (lr 1e-12) and sits at chance,
    # which Wilcoxon's signed-rank test finds worse than the best trial epoch by epoch (with 4 differing epochs,
    # one-sided p = 1/16 < 0.1), so it is pruned before its last epoch; then GP samples a third. (The shipped
    # depth_width sweep runs the median pruner by its short name.)
    enqueue = "[{optim:{lr:0.003},seed:0},{optim:{lr:1.0e-12},seed:1}]"
    args = ["+sweep=activation", "sweep.name=targets", "sweep.workers=1", "sweep.n_trials=3", "~sweep.space.model",
            "+sweep.space.optim.lr={type:float,low:1.0e-12,high:0.01,log:true}", "sweep.space.seed=[0,1,2]",
            "sweep.sampler._target_=optuna.samplers.GPSampler", "+sweep.sampler.n_startup_trials=2",
            "sweep.pruner._target_=optuna.pruners.WilcoxonPruner", "+sweep.pruner.p_threshold=0.1",
            "+sweep.pruner.n_startup_steps=0", f"sweep.enqueue={enqueue}", "trainer.max_epochs=6",
            "optim.warmup_epochs=0", f"sweep.dir={tmp_path}", "+trainer.limit_train_batches=30",
            "+trainer.limit_val_batches=4",
            *[a for a in TINY if not a.startswith(("+trainer.limit_", "trainer.max_epochs", "logger"))]]
    out = processes.xsearch(*args, timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    study = load(tmp_path, "targets")
    assert study.user_attrs["config"]["sweep.sampler._target_"] == "optuna.samplers.GPSampler"
    assert [t.state for t in study.trials[:2]] == [TrialState.COMPLETE, TrialState.PRUNED]
    summary = json.loads((tmp_path / "trials" / "1" / "summary.json").read_text())
    assert summary["status"] == "pruned" and 4 <= summary["epochs"] < 6
    import wandb_records

    recorded = wandb_records.summary(wandb_records.run_of(tmp_path / "trials" / "1"))
    assert recorded["status"] == "pruned" and "state" not in recorded  # W&B's own state column stays W&B's
    config = wandb_records.config(wandb_records.run_of(tmp_path / "trials" / "1"))
    assert config["logger"]["wandb"]["group"] == "targets" and config["logger"]["wandb"]["job_type"] == "trial"
    third = study.trials[2]
    assert third.state.is_finished() and 1e-12 <= third.params["optim.lr"] <= 0.01 and third.params["seed"] in (0, 1, 2)


@pytest.mark.slow
def test_early_stopping_from_the_callbacks_group_ends_a_trial_complete_with_its_best_value(tmp_path):
    # The sweep minimizes val/loss, and the callback's `${monitor}` follows the sweep's objective: an improvement
    # must exceed 1.0 of loss, which none does after the first epoch (the first sets the best), so the callback
    # stops the trial after its second epoch, well before max_epochs.
    args = ["+sweep=residual", "sweep.name=early", "sweep.n_trials=1", "sweep.objectives=[val/loss]",
            "callbacks=early_stopping", "callbacks.early_stopping.patience=1", "callbacks.early_stopping.min_delta=1.0",
            "trainer.max_epochs=5",
            f"sweep.dir={tmp_path}", *[a for a in TINY if not a.startswith("trainer.max_epochs")]]
    out = processes.xsearch(*args, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    trial = load(tmp_path, "early").trials[0]
    summary = json.loads((tmp_path / "trials" / "0" / "summary.json").read_text())
    assert trial.state == TrialState.COMPLETE and summary["status"] == "complete" and summary["epochs"] == 2
    assert trial.value == min(e["val/loss"] for e in summary["history"]) == summary["best"]["val/loss"]
    stopping = yaml.safe_load((tmp_path / "trials" / "0" / "trial.yaml").read_text())["callbacks"]["early_stopping"]
    assert (stopping["monitor"], stopping["mode"]) == ("val/loss", None)  # null kept; built as min (test_training)


@pytest.mark.slow
def test_plain_hydra_multirun_runs_one_job_per_value(tmp_path):
    out = processes.xsearch("model.segments=1,depthwise", f"hydra.sweep.dir={tmp_path}",
                            *[a for a in TINY if a != "logger=csv"], "--multirun", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    import wandb_records

    for job, segments in (("0", 1), ("1", "depthwise")):
        summary = json.loads((tmp_path / job / "summary.json").read_text())
        assert summary["status"] == "complete" and summary["model"]["segments"] == segments
        assert wandb_records.config(wandb_records.offline_run(tmp_path / job))["model"]["segments"] == segments


@pytest.mark.slow
def test_sigint_stops_cleanly_marks_the_running_trial_and_finishes_its_wandb_run(tmp_path, spawned):
    args = ["+sweep=residual", "sweep.name=stopped", "sweep.workers=1", "sweep.n_trials=2", "trainer.max_epochs=5000",
            *[a for a in TINY if not a.startswith(("trainer.max_epochs", "logger"))]]
    driver = spawned([*args, f"sweep.dir={tmp_path}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    log = tmp_path / "trials" / "0" / "trial.out"
    while not (log.is_file() and "epoch 3/" in log.read_text()):  # in the middle of training
        assert time.monotonic() < deadline, "the trial never got to its third epoch"
        time.sleep(0.2)
    driver.send_signal(signal.SIGINT)
    output, _ = driver.communicate(timeout=120)
    assert driver.returncode == 130, output[-3000:]
    assert "SIGINT: stopping" in output
    study = load(tmp_path, "stopped")
    first = study.trials[0]
    assert first.state == TrialState.FAIL
    assert first.user_attrs["failure_reason"] == "interrupted: the sweep was stopped"
    queued = [t for t in study.trials if t.state == TrialState.WAITING]
    checkpoint = str(tmp_path / "trials" / "0" / "interrupted.ckpt")
    assert [retry_of(t) for t in queued] == [0]  # a resume runs it again...
    assert queued[0].user_attrs["resume_from"] == checkpoint  # ...from where it stopped
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    import wandb_records

    path = wandb_records.run_of(tmp_path / "trials" / "0")
    assert wandb_records.summary(path)["status"] == "interrupted"
    assert "preempting" in wandb_records.kinds(path)  # W&B shows a preempted run, not a failed one
    summary = json.loads((tmp_path / "trials" / "0" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["error"] == "stopped by a signal at a batch boundary"
    assert summary["interrupted_checkpoint"] == checkpoint and os.path.isfile(checkpoint)
    assert 3 <= summary["epochs"] < 5000


@pytest.mark.slow
def test_two_driver_processes_share_one_study_without_duplicates_or_extra_trials(tmp_path, spawned):
    args = ["+sweep=activation", "sweep.name=shared", "sweep.workers=1", "sweep.n_trials=4"]
    drivers = [spawned(sweep_args(tmp_path, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for _ in range(2)]
    outputs = [d.communicate(timeout=300)[0] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    study = load(tmp_path, "shared")
    counted = [t for t in study.trials if not t.user_attrs.get("surplus")]
    assert len(counted) == 4 and all(t.state == TrialState.COMPLETE for t in counted)
    assert len({tuple(sorted(t.params.items())) for t in counted}) == 4
    assert all(t.state == TrialState.FAIL for t in study.trials if t.user_attrs.get("surplus"))
    assert_nothing_lost(study, {}, total=4)
    ran = {p.name for p in (tmp_path / "trials").iterdir() if (p / "summary.json").exists()}
    assert ran == {str(t.number) for t in counted}  # a surplus trial never trains
