"""Scale-out against the real things: SLURM jobs through Hydra's submitit launcher, a PostgreSQL study, DDP trials.

The services come from `.ci/services` (a one-node SLURM cluster and PostgreSQL 15 on 127.0.0.1), which writes
their coordinates to an env file that `.ci/run` sources. Outside CI a test whose service is missing skips and
says which; in CI (XSEARCH_CI=1) a missing service fails the test.
"""

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import optuna
import processes
import pytest
from conftest import assert_nothing_lost
from optuna.trial import TrialState
from processes import ROOT
from test_sweep import TINY

from xsearch import contract
from xsearch.data import build_datamodule, data_settings
from xsearch.outcomes import Outcomes
from xsearch.settings.presets import preset

pytestmark = pytest.mark.slow  # every test here starts xsearch processes or services


def digits_test_labels():
    """The shipped digits' test labels, in the order their images are stored."""
    module = build_datamodule(data_settings(preset("data", "digits")))
    module.setup("fit")
    return module.splits.test_labels.numpy()


def xsearch(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return processes.xsearch(*args, timeout=timeout)


def passwords() -> list[str]:
    """The test server's password, from where libpq reads it (a password file, or PGPASSWORD)."""
    path = os.environ.get("PGPASSFILE")
    found = [line.strip().rsplit(":", 1)[-1] for line in open(path) if line.strip()] if path and os.path.isfile(
        path) else []
    return found + ([os.environ["PGPASSWORD"]] if os.environ.get("PGPASSWORD") else [])


def files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_unreachable_storage_is_a_clear_error_within_seconds_naming_the_host(tmp_path):
    started = time.monotonic()
    out = xsearch("+sweep=residual", "sweep.storage=postgresql://xsearch@127.0.0.1:1/xsearch", f"sweep.dir={tmp_path}",
                  *TINY, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    assert time.monotonic() - started < 30
    assert "cannot open the study storage postgresql://xsearch@127.0.0.1:1/xsearch at 127.0.0.1:1" in out.stderr
    assert "Connection refused" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "trials").exists()


def test_password_in_the_storage_url_is_refused_before_hydra_saves_anything(tmp_path):
    out = xsearch("+sweep=residual", "sweep.storage=postgresql://xsearch:hunter2@127.0.0.1/xsearch",
                  f"sweep.dir={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}", timeout=60)
    assert out.returncode == 2
    assert "sweep.storage has a password written into it" in out.stderr and "PGPASSFILE" in out.stderr
    assert "hunter2" not in out.stdout + out.stderr
    assert not any(tmp_path.iterdir())  # no .hydra/overrides.yaml, no study


def test_ddp_trials_inside_a_sweep_are_pruned_and_completed_on_every_rank(tmp_path):
    # Trial 0 learns; trial 1 cannot (lr 1e-12) and is pruned by rank 0 after its second epoch. Every rank has to
    # stop with it, or the next collective hangs and the sweep times out.
    enqueue = "[{optim:{lr:0.003},seed:0},{optim:{lr:1.0e-12},seed:1}]"
    args = ["+sweep=activation", "sweep.name=ddp", "sweep.workers=1", "sweep.n_trials=2",
            "sweep.sampler={name:random,seed:0}", "~sweep.space.model", "sweep.space.seed=[0,1]",
            "+sweep.space.optim.lr={type:float,low:1.0e-12,high:0.01,log:true}", f"sweep.enqueue={enqueue}",
            "sweep.pruner.name=median", "+sweep.pruner.n_startup_trials=1", "+sweep.pruner.n_warmup_steps=2",
            "trainer.max_epochs=3", "optim.warmup_epochs=0", "trainer.accelerator=cpu", "trainer.devices=2",
            "trainer.strategy=ddp", f"sweep.dir={tmp_path}", "logger=wandb",
            *[a for a in TINY if not a.startswith(("trainer.max_epochs", "logger"))]]
    out = xsearch(*args, timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    study = optuna.load_study(study_name="ddp", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    for trial, epochs in zip(study.trials, (3, 2)):
        trial_dir = tmp_path / "trials" / str(trial.number)
        summary = json.loads((trial_dir / "summary.json").read_text())
        assert summary["device"] == "cpu x2" and summary["epochs"] == epochs
        assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))  # epochs trained, once each
        # Both ranks scored their halves of the test images; rank 0 wrote them all, once, in image order.
        scored = Outcomes.load(trial_dir / contract.OUTCOMES)
        assert scored.images == summary["test"]["images"] == summary["splits"]["test"]
        assert scored.accuracy == summary["test"]["acc"]
        assert Outcomes.from_attr(trial.user_attrs[contract.TEST_OUTCOMES]).correct.tolist() == scored.correct.tolist()
        # In image order: each prediction sits against its own image's label (a shuffle would put them apart).
        assert ((scored.predicted == digits_test_labels()) == scored.correct).all()
    # W&B written once per trial, by rank 0, in the sweep's folder beside the report's run; no trial folder has one.
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 2 + 1 and not list(tmp_path.glob("trials/*/wandb"))
    # The sweep ran once: Lightning's re-launch of the trial's command line for rank 1 did not start another.
    assert out.stdout.count("xsearch sweep ddp: 0/2 trials done") == 1
    assert len(list((tmp_path / "driver").iterdir())) == 1


def test_drivers_in_different_folders_share_the_postgres_studys_own_lock(tmp_path, postgres, spawned):
    # Two drivers of one study, each with its own sweep folder (node-local, say), two workers each, and a grid
    # sampler slowed between choosing a point and taking it: only a lock that lives with the study keeps them off
    # each other's points.
    name = f"ci-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'tests' / 'hang'}:{ROOT}", "XSEARCH_TEST_SLOW_SAMPLING": "0.5"}
    args = ["+sweep=separability", f"sweep.name={name}", f"sweep.storage={postgres}", "sweep.workers=2",
            "sweep.space.model.segments=[2,4,8,depthwise]", "sweep.space.model.op_order=[depthwise_first]",
            "sweep.space.seed=[0,1]", *TINY]
    drivers = [spawned([*args, f"sweep.dir={tmp_path / folder}"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT) for folder in ("a", "b")]
    outputs = [d.communicate(timeout=400)[0] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    study = optuna.load_study(study_name=name, storage=postgres)
    assert len(study.trials) == 8 and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 8  # no grid point twice
    assert {t.user_attrs["dir"].split("/")[-3] for t in study.trials} == {"a", "b"}  # both drivers worked
    assert_nothing_lost(study, {}, total=8)


def test_slurm_worker_jobs_share_one_postgres_study_until_it_has_n_trials(tmp_path, postgres, slurm):
    name = f"ci-{uuid.uuid4().hex[:8]}"
    out = xsearch("+sweep=residual", f"sweep.name={name}", f"sweep.storage={postgres}", f"sweep.dir={tmp_path}",
                  "sweep.n_trials=6", "sweep.workers=1", "sweep.job=0,1", "hydra/launcher=slurm",
                  "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=20", *TINY, "--multirun")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    study = optuna.load_study(study_name=name, storage=postgres)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    jobs = {t.user_attrs["worker"].split(":")[1] for t in study.trials}
    assert len(jobs) == 2 and all(re.fullmatch(r"\d+_[01]", job) for job in jobs)  # ran in both array tasks
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["counts"] == {"complete": 6} and results["storage"] == postgres
    assert (tmp_path / "report" / "index.html").is_file()
    secrets = passwords()
    assert secrets, "no password to look for: the server's is in PGPASSFILE or PGPASSWORD, or this check is empty"
    for secret in secrets:
        assert not files_containing(tmp_path, secret)


def test_a_slurm_job_warned_before_its_time_limit_checkpoints_requeues_and_resumes(tmp_path, postgres, slurm,
                                                                                  spawned):
    name = f"ci-{uuid.uuid4().hex[:8]}"
    run = [a for a in TINY if not a.startswith(("trainer.max_epochs", "+trainer.limit_train_batches"))]
    launcher = spawned(
        ["+sweep=residual", f"sweep.name={name}", f"sweep.storage={postgres}",
         f"sweep.dir={tmp_path}", "sweep.n_trials=1", "sweep.workers=1", "sweep.job=0", "hydra/launcher=slurm",
         f"hydra.launcher.name={name}", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=20",
         "trainer.max_epochs=4", "+trainer.limit_train_batches=30", *run, "--multirun"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = tmp_path / "trials" / "0" / "trial.out"
    deadline = time.monotonic() + 240
    while not (log.is_file() and "epoch 1/4" in log.read_text()):
        assert time.monotonic() < deadline and launcher.poll() is None, "the trial never finished an epoch"
        time.sleep(0.2)
    job = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True).stdout.split()
    assert len(job) == 1
    # What SLURM sends before the time limit (submitit's --signal=USR2@120), to every process of the job.
    subprocess.run(["scancel", "--signal=USR2", job[0]], check=True)
    while "PENDING" not in subprocess.run(["squeue", "-h", "-j", job[0], "-o", "%T"], capture_output=True,
                                          text=True).stdout:  # requeued by submitit
        assert time.monotonic() < deadline + 120 and launcher.poll() is None, "the job was not requeued"
        time.sleep(0.5)
    # SLURM holds a requeued job until its old credential has expired (cred_expire + 1 s, 11 s in .ci/services):
    # forcing StartTime=now inside that window makes slurmctld kill the job ("Job credential revoked").
    output, _ = launcher.communicate(timeout=300)
    assert launcher.returncode == 0, output[-3000:]

    study = optuna.load_study(study_name=name, storage=postgres)
    first, retry = study.trials
    checkpoint = str(tmp_path / "trials" / "0" / "interrupted.ckpt")
    assert first.state == TrialState.FAIL and first.user_attrs["failure_reason"].startswith("interrupted")
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["resume_from"] == checkpoint
    assert first.user_attrs["worker"] == retry.user_attrs["worker"]  # the same job, requeued
    stopped = json.loads((tmp_path / "trials" / "0" / "summary.json").read_text())
    resumed = json.loads((tmp_path / "trials" / "1" / "summary.json").read_text())
    assert stopped["status"] == "interrupted" and 1 <= stopped["epochs"] < 4
    assert resumed["resumed_from"] == checkpoint and resumed["epochs"] == 4  # finished the run, not restarted it
    assert resumed["history"][:stopped["epochs"]] == stopped["history"]
    assert sorted(retry.intermediate_values) == [1, 2, 3, 4]
    assert_nothing_lost(study, {}, total=1)
