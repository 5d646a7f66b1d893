"""Shared helpers: compose the real config tree and train in-process, as `python -m xsearch` would."""

import os
import shutil
import warnings
from pathlib import Path

import optuna
import processes
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from optuna.trial import TrialState

import xsearch.app  # noqa: F401  (registers model=xception, as `python -m xsearch` does)
from xsearch.contract import config_dir

# W&B must never try to reach a server from a test.
os.environ["WANDB_MODE"] = "offline"
os.environ.pop("WANDB_API_KEY", None)
os.environ.setdefault("WANDB_SILENT", "true")

# A few steps of a tiny network: enough to exercise every part of a run in seconds.
TINY = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=2", "logger=csv",
        "model.width=0.125", "model.middle_depth=1", "data.batch_size=16", "trainer.log_every_n_steps=1"]


def composed(*overrides):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def train_run(run_dir: Path, *overrides, callbacks=()) -> dict:
    from xsearch.settings.run import load_settings
    from xsearch.training.run import train

    cfg = composed(*overrides)
    return train(load_settings(cfg), OmegaConf.to_container(cfg, resolve=True), run_dir, callbacks=callbacks)


@pytest.fixture(autouse=True)
def _only_slow_tests_start_processes(request):
    processes.allowed = request.node.get_closest_marker("slow") is not None
    yield
    processes.allowed = True


@pytest.fixture
def tiny_run(tmp_path):
    def run(*overrides):
        return train_run(tmp_path, *TINY, *overrides)

    return run


@pytest.fixture
def spawned():
    """`spawned(args, **popen_kwargs)` starts `python -m xsearch <args>` in the background. Whatever it started
    and is still running when the test ends, trials and zygotes included, is killed then."""
    started = []

    def spawn(args, **kwargs):
        process = processes.spawn(args, **kwargs)
        started.append(process)
        return process

    yield spawn
    for process in started:
        processes.kill_tree(process.pid)
        process.communicate()


# The real services (.ci/services: PostgreSQL, a one-node SLURM cluster). Outside CI a test whose service is
# missing skips and says which; in CI (XSEARCH_CI=1) it fails.
IN_CI = os.environ.get("XSEARCH_CI") == "1"


def service(name: str, available: bool, how: str) -> None:
    if available:
        return
    message = f"{name} is not available: {how}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres() -> str:
    url = os.environ.get("XSEARCH_TEST_POSTGRES")
    service("PostgreSQL", bool(url), "run `bash .ci/services` and source /var/tmp/xsearch-ci/env")
    return url


@pytest.fixture
def slurm() -> None:
    up = os.environ.get("XSEARCH_TEST_SLURM") == "1" and shutil.which("sbatch") is not None
    service("SLURM", up, "run `bash .ci/services` and source /var/tmp/xsearch-ci/env")


def retry_of(trial: optuna.trial.FrozenTrial) -> int | None:
    """The trial `trial` re-runs, read as Optuna's own tools read a retry (None for a trial that is no retry)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(trial)
    return history[-1] if history else None


def assert_nothing_lost(study: optuna.Study, before: dict[int, float], total: int) -> None:
    """Every trial completed before the fault keeps its value, no configuration ran to completion twice, and the
    study has its total of counted trials."""
    trials = {t.number: t for t in study.trials}
    for number, value in before.items():
        assert trials[number].state == TrialState.COMPLETE and trials[number].value == value
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len({tuple(sorted(t.params.items())) for t in complete}) == len(complete), "a configuration ran twice"
    retried = {retry_of(t) for t in study.trials if retry_of(t) is not None}
    counted = [t for t in study.trials if t.state.is_finished() and t.number not in retried
               and not t.user_attrs.get("surplus")]
    assert len(counted) == total


def completed(study: optuna.Study) -> dict[int, float]:
    return {t.number: t.value for t in study.trials if t.state == TrialState.COMPLETE}
