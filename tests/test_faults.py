"""Fault injection with real processes: whatever breaks, nothing completed is lost or run twice, and the study
reaches n_trials. docs/RELIABILITY.md lists every fault, what a user sees and the time measured to recover.

The other faults of that table are asserted where their machinery lives: a trial killed with SIGKILL, a driver
killed mid-trial and re-run, two drivers on one SQLite study and a NaN loss in tests/test_sweep.py; a stopped
(SIGSTOP) or hung trial in tests/test_watchdog.py; a SLURM job's time limit in tests/test_cluster.py.
"""

import json
import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import optuna
import processes
import pytest
from conftest import assert_nothing_lost, completed, retry_of, service
from optuna.trial import TrialState
from processes import ROOT, wait_for
from test_watchdog import training

pytestmark = pytest.mark.slow  # every test here starts xsearch processes or services


def seeds(n: int, *, batches: int = 10, epochs: int = 3) -> list[str]:
    """A sweep of n one-point trials (seeds) of a tiny network, a few seconds each."""
    return ["+sweep=residual", f"sweep.n_trials={n}", f"sweep.space.seed=[{','.join(map(str, range(n)))}]",
            "~sweep.space.model", "model.budget=null", "model.width=0.125", "model.middle_depth=1",
            "data.batch_size=16", "logger=csv", f"+trainer.limit_train_batches={batches}",
            "+trainer.limit_val_batches=2", f"trainer.max_epochs={epochs}", "sweep.workers=1"]


def test_postgresql_stopped_for_12_s_mid_trial_delays_the_sweep_and_loses_nothing(tmp_path, postgres, spawned):
    pg_ctl = os.environ.get("XSEARCH_TEST_PG_CTL")
    service("pg_ctl", bool(pg_ctl), "run `bash .ci/services` and source /var/tmp/xsearch-ci/env")
    name = f"ci-{uuid.uuid4().hex[:8]}"
    # Beats every 5 s: the outage spans two of them, and stays under the 15 s after which a trial counts as dead.
    driver = spawned([*seeds(2, epochs=4), f"sweep.name={name}", f"sweep.storage={postgres}", "sweep.heartbeat=5",
                      f"sweep.dir={tmp_path}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for(lambda: training(tmp_path / "trials" / "1") or driver.poll() is not None, timeout=240,
             what="the second trial to train")
    before = completed(optuna.load_study(study_name=name, storage=postgres))
    assert list(before) == [0]
    subprocess.run([*shlex.split(pg_ctl), "stop", "-m", "fast"], check=True, capture_output=True, timeout=60)
    try:
        time.sleep(12)  # trial 1 trains on; its epoch reports and the worker's heartbeats wait for the server
    finally:
        subprocess.run([*shlex.split(pg_ctl), "start", "-w", "-t", "60"], check=True, capture_output=True,
                       timeout=90)
    restarted = time.monotonic()
    output, _ = driver.communicate(timeout=300)
    print(f"sweep ended {time.monotonic() - restarted:.1f} s after PostgreSQL came back")
    assert driver.returncode == 0, output[-3000:]
    study = optuna.load_study(study_name=name, storage=postgres)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2, output[-3000:]  # trial 1 not even failed
    assert_nothing_lost(study, before, total=2)


def test_a_trial_that_raises_fails_alone_with_its_error_and_is_not_rerun(tmp_path):
    env = {"PYTHONPATH": f"{ROOT / 'tests' / 'hang'}:{ROOT}", "XSEARCH_TEST_RAISE_IN_TRIAL": "1"}
    out = processes.xsearch(*seeds(2), f"sweep.dir={tmp_path}", env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    study = optuna.load_study(study_name="residual", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]  # not run again: it would
    assert "injected fault" in (Path(study.trials[1].user_attrs["dir"]) / "trial.out").read_text()  # fail again
    assert_nothing_lost(study, {}, total=2)


def test_a_slurm_worker_job_cancelled_mid_trial_is_replaced_and_the_command_ends(tmp_path, postgres, slurm,
                                                                                spawned):
    name = f"ci-{uuid.uuid4().hex[:8]}"
    launcher = spawned([*seeds(3, batches=40), f"sweep.name={name}",
                        f"sweep.storage={postgres}", f"sweep.dir={tmp_path}", "sweep.heartbeat=2", "sweep.job=0,1",
                        "hydra/launcher=slurm", f"hydra.launcher.name={name}", "hydra.launcher.cpus_per_task=1",
                        "hydra.launcher.timeout_min=20", "--multirun"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def a_trial_training():
        for trial_dir in (tmp_path / "trials").glob("*"):
            if training(trial_dir):
                return trial_dir
        assert launcher.poll() is None, "the launcher ended before any trial trained"
        return None

    trial_dir = wait_for(a_trial_training, timeout=240, what="a trial to train")
    study = optuna.load_study(study_name=name, storage=postgres)
    victim = next(t for t in study.trials if t.user_attrs.get("dir") == str(trial_dir))
    before = completed(study)
    job = victim.user_attrs["worker"].split(":")[1]
    subprocess.run(["scancel", job], check=True, timeout=60)  # SIGTERM to the job: its driver stops its trial
    started = time.monotonic()
    output, _ = launcher.communicate(timeout=400)
    print(f"the command ended {time.monotonic() - started:.1f} s after the cancel")
    assert launcher.returncode == 0, output[-3000:]
    assert "ended early" in output and "the study is complete" in output, output[-5000:]
    study = optuna.load_study(study_name=name, storage=postgres)
    failed = study.trials[victim.number]
    assert failed.state == TrialState.FAIL and failed.user_attrs["failure_reason"].startswith("interrupted")
    retry = next(t for t in study.trials if retry_of(t) == victim.number)
    assert retry.state == TrialState.COMPLETE and retry.params == victim.params  # run by the other job
    assert retry.user_attrs["worker"] != victim.user_attrs["worker"]
    # The retry resumed from the checkpoint its original saved when the cancel stopped it, not from scratch.
    checkpoint = retry.user_attrs["resume_from"]
    assert checkpoint == str(trial_dir / "interrupted.ckpt")
    resumed = json.loads((Path(retry.user_attrs["dir"]) / "summary.json").read_text())
    assert resumed["resumed_from"] == checkpoint and resumed["status"] == "complete"
    assert_nothing_lost(study, before, total=3)
