"""The warm process trials fork from: losing it never loses a trial or leaves one running unwatched."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from processes import stat, wait_for
from test_watchdog import TRIAL, training

from xsearch.contract import TRIAL_LOG
from xsearch.process.trial import TrialProcess
from xsearch.process.zygote import Zygote, ZygoteGone
from xsearch.sweep.pruning import TrialLink

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def zygote():
    warm = Zygote({**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    yield warm
    if warm.alive():
        warm.close()


def _killed(zygote: Zygote) -> None:
    os.kill(zygote.process.pid, signal.SIGKILL)
    zygote.process.wait()


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:  # looks at least once, so a timeout of 0 asks "gone now?"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def test_a_trial_whose_zygote_dies_is_killed_and_ends_as_killed(zygote, tmp_path):
    # A run that would train for a long time: only the zygote's death can end it within the test.
    args = ["trainer.max_epochs=100000", "logger=none", f"hydra.run.dir={tmp_path}"]
    trial = zygote.start(args, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=str(ROOT), log=str(tmp_path / "log"))
    time.sleep(1.0)
    assert trial.poll() is None and not _gone(trial.pid, 0)
    _killed(zygote)
    assert trial.wait() == -signal.SIGKILL  # the worker reads this as "killed": the trial is queued again
    assert _gone(trial.pid, timeout=10)


def test_a_dead_zygote_refuses_to_start_a_trial(zygote, tmp_path):
    _killed(zygote)
    with pytest.raises(ZygoteGone, match="exited with code -9"):
        zygote.start(["--help"], env=dict(os.environ), cwd=str(tmp_path), log=str(tmp_path / "log"))


def test_a_trial_whose_zygote_died_before_it_started_runs_in_a_fresh_interpreter(zygote, tmp_path):
    _killed(zygote)
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    link = TrialLink(storage=f"sqlite:///{tmp_path / 'study.db'}", study="s", number=trial.number,
                     pruner={"name": "none"}, monitor="val/acc")
    # No trial.yaml in the trial's folder: the fresh `python -m xsearch` fails at once, in Hydra, with its
    # message (as a config error's line) in the trial's log, which proves it ran.
    process = TrialProcess(trial_dir=tmp_path, number=trial.number, link=link.to_env(),
                           env={"PYTHONPATH": str(ROOT)}, study=study, heartbeat=60, stopping=threading.Event(),
                           zygote=zygote)
    assert process.run() == 2
    assert "Cannot find primary config 'trial'" in (tmp_path / TRIAL_LOG).read_text()
    assert process.process.args[:3] == [sys.executable, "-m", "xsearch"]


def test_a_forked_zygote_is_waited_for_and_killed_like_a_started_one():
    # What a worker does with its zygote's process (alive, close, kill, wait), on the zygote a driver forks.
    ended = Zygote.fork(lambda: None)
    assert ended.alive()
    ended.close()  # the end of its input ends it
    assert ended.process.wait() == 0 and not ended.alive()
    killed = Zygote.fork(lambda: None)
    killed.process.kill()
    assert killed.process.wait() == -signal.SIGKILL
    reaped = Zygote.fork(lambda: None)
    reaped.requests.close()
    os.waitpid(reaped.process.pid, 0)  # reaped elsewhere, its status gone: ended, not an error
    assert reaped.process.wait() == 0 and not reaped.alive()


def _parent(pid: int) -> int:
    return int(stat(pid)[1])


def _command(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process tree from /proc")
def test_a_sweeps_first_trials_fork_from_the_driver_itself_not_from_a_second_interpreter(tmp_path, spawned):
    # The driver has imported torch and Lightning (about 5 s of a core) by the time it would start a zygote, so
    # its first worker's zygote is the driver forked: a sweep pays for those imports once. A zygote started fresh
    # would be another interpreter, `python -m xsearch --zygote`, importing them all again.
    driver = spawned([*TRIAL, f"sweep.dir={tmp_path}", "trainer.max_epochs=10000"], stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
    trial = wait_for(lambda: training(tmp_path / "trials" / "0"), timeout=120, what="trial 0 to train")
    zygote = _parent(trial)
    assert _parent(zygote) == driver.pid
    assert _command(zygote) == _command(driver.pid)  # the driver's own command line: forked, not started
    driver.send_signal(signal.SIGINT)  # the trial saves a checkpoint and is queued again; the driver ends
    output, _ = driver.communicate(timeout=120)
    assert "stopping" in output, output[-3000:]
