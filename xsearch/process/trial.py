"""A trial's process, as its worker runs it: started (forked from a warm zygote, or a fresh interpreter), kept alive
in the study by heartbeats, watched for stalls and time limits, stopped (and killed where it will not stop).

Each trial trains in a child process so that anything (an exception, NaN, an out-of-memory error, a segfault, a
kill) ends that trial only. The child is an ordinary `python -m xsearch` run of the trial's saved config, which is
also the command a user re-runs it with.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import optuna
import sqlalchemy.exc

from xsearch import contract
from xsearch.process.progress import Position, read_position
from xsearch.process.zygote import Forked, Zygote, ZygoteGone
from xsearch.studies import optuna_private

GRACE_S = 60  # for a stopping trial to checkpoint (SLURM's warning comes 120 s before the kill in xsearch's presets)
WATCH_S = 1.0  # how often the watchdog reads a trial's progress file
STACKS_S = 2.0  # between asking a stalled trial for its Python stacks (SIGQUIT) and killing it


@dataclasses.dataclass(frozen=True)
class Abort:
    """Why the watchdog killed a trial."""

    reason: str
    stalled: bool  # False: it ran past its time limit


class TrialProcess:
    """A trial's child process, kept alive in the study by heartbeats until it ends. A fused group's process is
    one process for several trials (`fused`: the other members' numbers and folders): it beats for each of them,
    and its log, progress and pid live in the first member's folder."""

    def __init__(self, *, trial_dir: Path, number: int, link: str, env: Mapping[str, str | None],
                 study: optuna.Study, heartbeat: int, stopping: threading.Event,
                 zygote: Zygote | None = None, stall_timeout: float | None = None,
                 trial_timeout: float | None = None, fused: Sequence[tuple[int, Path]] = ()) -> None:
        self.trial_dir = trial_dir
        self.number = number
        self.fused = list(fused)
        merged = {**os.environ, **env, contract.TRIAL_ENV: link}  # the trial's coordinates in the study
        self.env = {key: value for key, value in merged.items() if value is not None}
        self.study = study
        self.heartbeat = heartbeat
        self.sweep_stopping = stopping
        self.zygote = zygote
        self.stall_timeout = stall_timeout
        self.trial_timeout = trial_timeout
        self.process: subprocess.Popen | Forked | None = None
        self.stopped = threading.Event()
        self.aborted: Abort | None = None  # set when the watchdog killed the trial

    def run(self) -> int:
        args = [f"--config-path={self.trial_dir}", "--config-name=trial", f"hydra.run.dir={self.trial_dir}"]
        if self.fused:
            args = [contract.FUSED_FLAG, str(self.trial_dir), *(str(folder) for _, folder in self.fused)]
        log = self.trial_dir / contract.TRIAL_LOG
        # What this process writes, and nothing an earlier study left in a reused trial folder.
        for folder in (self.trial_dir, *(folder for _, folder in self.fused)):
            for name in (contract.PROGRESS, contract.SUMMARY, contract.OUTCOMES):
                (folder / name).unlink(missing_ok=True)
        if self.zygote is not None:
            try:
                self.process = self.zygote.start(args, env=self.env, cwd=os.getcwd(), log=str(log))
            except ZygoteGone:  # it died since the worker last looked: this trial starts the slow way
                self.process = None
        if self.process is None:
            with open(log, "w") as out:  # a new session: a Ctrl-C reaches the driver, not the trial
                self.process = subprocess.Popen([sys.executable, "-m", "xsearch", *args], stdout=out,
                                                stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        try:
            (self.trial_dir / contract.TRIAL_PID).write_text(f"{self.process.pid}\n")
            if self.sweep_stopping.is_set():  # the sweep stopped while this trial was being prepared
                self.terminate()
            for watch in (self._beat, self._watch):
                threading.Thread(target=watch, daemon=True).start()
            return self.process.wait()
        except BaseException:
            self.kill()  # whatever went wrong here, no trial runs on unwatched
            raise
        finally:
            self.stopped.set()
            (self.trial_dir / contract.TRIAL_PID).unlink(missing_ok=True)

    def terminate(self) -> None:
        """Ask the trial to stop (it checkpoints and finishes its W&B run and summary); kill it if it takes more
        than GRACE_S. Returns at once: a signal handler calls this."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        escalate = threading.Timer(GRACE_S, self.kill)
        escalate.daemon = True
        escalate.start()

    def kill(self) -> None:
        """SIGKILL the trial's whole process group: DDP ranks and data loader workers die with it."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the trial leads its own session and group
            except ProcessLookupError:
                pass

    def _watch(self) -> None:
        """Kill the trial when its progress file has not changed for `stall_timeout` s (a hang: no batch ends), or
        when it has run for `trial_timeout` s. Progress is read from outside, so a process that is stuck in a
        kernel, stopped or deadlocked is caught as surely as one that is merely slow."""
        started = moved = time.monotonic()
        seen, where = b"", Position("starting")
        while not self.stopped.wait(WATCH_S):
            now = time.monotonic()
            raw, position = read_position(self.trial_dir / contract.PROGRESS)
            if raw != seen:
                seen, moved, where = raw, now, position or where
            if self.trial_timeout is not None and now - started > self.trial_timeout:
                return self._abort(f"timed out: ran past sweep.trial_timeout={self.trial_timeout:g} s, "
                                   f"{where.describe()}", stalled=False, answers=bool(seen))
            if self.stall_timeout is not None and now - moved > self.stall_timeout:
                return self._abort(f"stalled: no step for {self.stall_timeout:g} s {where.describe()}", stalled=True,
                                   answers=bool(seen))

    def _abort(self, reason: str, *, stalled: bool, answers: bool) -> None:
        """Kill the trial's process group; first, if it can answer, have it print its Python stacks to its log.
        (It can once it has written progress: it registered the dump on SIGQUIT before that.)"""
        if process_state(self.process.pid) == "T":
            reason += "; its process was stopped (SIGSTOP)"
        elif answers:
            self.process.send_signal(signal.SIGQUIT)
            self.stopped.wait(STACKS_S)
            reason += f"; its Python stacks are at the end of {contract.TRIAL_LOG}"
        self.aborted = Abort(reason, stalled=stalled)
        self.kill()

    def _beat(self) -> None:
        if not optuna_private.beats(self.study):
            return
        trials = [optuna_private.by_number(self.study, n) for n in (self.number, *(n for n, _ in self.fused))]
        while True:
            try:
                for trial in trials:
                    optuna_private.beat(self.study, trial)
            except (OSError, sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
                # The connection broke under this beat (a database restart, a network filesystem's hiccup under a
                # journal file); the next one tries again. Beats stop only with the trial, or it would be judged
                # dead while it trains.
                print(f"  trial {self.number}: a heartbeat failed ({type(error).__name__}); beating on",
                      flush=True)
            if self.stopped.wait(self.heartbeat):
                return


def process_state(pid: int) -> str | None:
    """The state letter Linux gives a process (R running, S sleeping, T stopped, Z zombie), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
