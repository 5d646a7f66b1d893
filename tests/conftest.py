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


def _share_the_cpus_among_xdist_workers() -> None:
    """Under pytest-xdist, each worker and everything it starts runs OpenMP pools of its share of the CPUs.

    A sweep's trials take no more threads than an OMP_NUM_THREADS set for it (xsearch/sweep/resources.py), so two
    workers never run more compute threads than there are cores. Without this, two workers' trials each ran
    OpenMP's spinning threads on both cores, and the parallel suite was slower than the serial one. Set before
    torch is imported, so this process's own pool has its share too.
    """
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if "PYTEST_XDIST_WORKER" in os.environ and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // count))


_share_the_cpus_among_xdist_workers()

import xsearch.app  # noqa: E402, F401  (registers model=xception, as `python -m xsearch` does)
from xsearch.contract import config_dir  # noqa: E402
from xsearch.studies.lock import file_lock  # noqa: E402

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


def pytest_collection_modifyitems(items):
    """The slow tests first, each file's still together (a module's fixtures are made once): pytest-xdist hands
    tests out in this order, so the last to run are the second-long ones, which a worker that has run out takes
    from the other (`--dist worksteal`, pyproject) until both are done. In the files' order the last were the
    sweep and watchdog tests, a minute each."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: each group keeps its order


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


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory, worker_id) -> Path:
    """A folder every pytest-xdist worker of this run sees (each worker's own temp folders are inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if worker_id != "master" else base


@pytest.fixture
def services_held(shared_dir):
    """One PostgreSQL server and one SLURM node serve every test, and one test stops the server: a test that uses
    either holds them alone, while a test on another xdist worker that needs them waits its turn."""
    with file_lock(shared_dir / "services.lock"):
        yield


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
def postgres(services_held) -> str:
    url = os.environ.get("XSEARCH_TEST_POSTGRES")
    service("PostgreSQL", bool(url), "run `bash .ci/services` and source /var/tmp/xsearch-ci/env")
    return url


@pytest.fixture
def slurm(services_held) -> None:
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
