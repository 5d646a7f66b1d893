"""A sweep worker's warm zygote: the process its trials fork from, and the worker's side of it, which starts
trials there and waits for them as for a subprocess.Popen (`Forked`, the one Popen-like of forked processes).

A fresh `python -m xsearch` spends about 5 s importing torch, Lightning, Hydra and W&B before it trains; a sweep
of short trials would spend much of its time there. A zygote imports them once and forks each trial from that
state. A trial is still its own process, in its own session, with its own environment, working directory, log
and exit status: exactly the `python -m xsearch` run its `trial.yaml` re-runs, minus the imports.

The first worker's zygote is the driver itself, forked once its own imports are done and before it starts any
thread (`start_early`), so a sweep pays for those imports once. Any other is `python -m xsearch --zygote`, started
fresh: by then the driver runs threads, and a fork copies only the thread that forks and every lock as it is.

Protocol, one JSON object per line: the worker writes
`{"args": [...], "env": {...}, "cwd": ..., "log": ...}`; the zygote answers
`{"pid": n}` once the trial runs and `{"code": c}` when it ends (c < 0: killed
by signal -c, as with subprocess). End of input ends the zygote.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TextIO

from xsearch.contract import STOP_SIGNALS

ZYGOTE_FLAG = "--zygote"  # `python -m xsearch --zygote`: a fresh zygote (xsearch/__main__.py)


class ZygoteGone(RuntimeError):
    """The warm process has exited: it can start no trial and report no end."""


class Zygote:
    """The worker's side: start trials in the warm process and wait for them like subprocess.Popen."""

    def __init__(self, env: Mapping[str, str]) -> None:
        """A fresh zygote: `python -m xsearch --zygote`, which does its imports itself."""
        started = subprocess.Popen([sys.executable, "-m", "xsearch", ZYGOTE_FLAG], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True, env=dict(env), start_new_session=True)
        self.process: subprocess.Popen | Forked = started
        self.requests, self.answers = started.stdin, started.stdout

    @classmethod
    def fork(cls, main: Callable[[], None]) -> Zygote:
        """This process, forked, as a zygote whose trials run `main`. Only from a process that has imported what a
        trial needs and runs no other thread."""
        zygote = cls.__new__(cls)
        zygote.process, zygote.requests, zygote.answers = _fork_zygote(main)
        return zygote

    def start(self, args: Sequence[str], *, env: Mapping[str, str], cwd: str, log: str) -> Forked:
        try:
            self.requests.write(json.dumps({"args": list(args), "env": dict(env), "cwd": cwd, "log": log}) + "\n")
            self.requests.flush()
        except (BrokenPipeError, ValueError) as error:  # ValueError: its pipe was already closed
            raise ZygoteGone(f"the trial zygote exited with code {self.process.wait()}") from error
        pid = int(self._read()["pid"])
        trial = Forked(pid, lambda block: self._trial_end(trial) if block else None)
        return trial

    def _trial_end(self, trial: Forked) -> int:
        """The trial's exit code, as the zygote reports it; a zygote gone can report nothing, so the trial is
        ended here."""
        try:
            return int(self._read()["code"])
        except ZygoteGone:
            trial.kill()
            return -signal.SIGKILL

    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self) -> dict[str, Any]:
        line = self.answers.readline()
        if not line:
            raise ZygoteGone(f"the trial zygote exited with code {self.process.wait()}")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.requests.close()
            self.process.wait()


def forkable(trainer: Mapping[str, Any]) -> bool:
    """Whether a trial may be forked from a warm zygote. Not a multi-device one: Lightning starts its other
    ranks by re-running the process's command line, which must then be `python -m xsearch ...`."""
    return trainer.get("devices", 1) in (1, "1", "auto", [0])


_early: Zygote | None = None
_early_lock = threading.Lock()
_forked_before = False


def start_early(main: Callable[[], None]) -> None:
    """Make the first worker's zygote now; `take` hands it over. One left unused dies with this process.

    Called by the driver as soon as its imports are done. The first time in a process whose only thread is this
    one, the zygote is the driver forked, and costs no imports of its own. Otherwise it is started fresh: a
    second driver run in the same process (the next job of a local multirun) has done work since its imports
    (OpenMP's thread pool, database connections, threads), which a fork would copy in whatever state it was."""
    global _early, _forked_before
    with _early_lock:
        if _early is None:
            if not _forked_before and threading.active_count() == 1:
                _forked_before = True
                _early = Zygote.fork(main)
            else:
                _early = Zygote(os.environ)
            atexit.register(_discard)


def take(env: Mapping[str, str]) -> Zygote:
    """The zygote started early, if there is one still alive, else a new one."""
    global _early
    with _early_lock:
        zygote, _early = _early, None
    return zygote if zygote is not None and zygote.alive() else Zygote(env)


def _discard() -> None:
    with _early_lock:
        if _early is not None and _early.alive():
            _early.process.kill()
            _early.process.wait()


class Forked:
    """A forked process as a worker handles it, the subset of subprocess.Popen it uses: alive, wait, signal, kill.

    How its end is learnt is the one difference between the two kinds: a zygote is this process's own child
    (`os.waitpid`); a trial is the zygote's, which reports its exit code on the protocol (`reap`)."""

    def __init__(self, pid: int, reap: Callable[[bool], int | None]) -> None:
        self.pid = pid
        self._reap = reap  # (block) -> exit code, or None while it runs (only when not blocking)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._reap(False)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = self._reap(True)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:  # it ended and was reaped meanwhile
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _own_child(pid: int) -> Callable[[bool], int | None]:
    def reap(block: bool) -> int | None:
        try:
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped already, elsewhere: its status is gone (subprocess says 0 too)
            return 0
        return os.waitstatus_to_exitcode(status) if done else None
    return reap


def _fork_zygote(main: Callable[[], None]) -> tuple[Forked, TextIO, TextIO]:
    """This process forked as a zygote serving `main`: the process, and the pipes to and from it."""
    requests, answers = os.pipe(), os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()  # as the fresh one's start_new_session
            os.close(requests[1])
            os.close(answers[0])
            # Forked inside the driver's Hydra run: a trial's own run must start as in a fresh interpreter.
            from hydra.core.global_hydra import GlobalHydra

            GlobalHydra.instance().clear()
            # The protocol on pipes of its own: stdout is still the driver's, where the driver's logging
            # handlers (Hydra's console handler, say) would write anything this process logs.
            serve(main, os.fdopen(requests[0], "r"), os.fdopen(answers[1], "w"))
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(1)
    os.close(requests[0])
    os.close(answers[1])
    return Forked(pid, _own_child(pid)), os.fdopen(requests[1], "w"), os.fdopen(answers[0], "r")


# --- the zygote's side ---------------------------------------------------------------------------------------

def serve(main: Callable[[], None], requests: TextIO, answers: TextIO) -> NoReturn:
    """Fork a trial running `main` for each line of `requests`, answer on `answers`; exit when requests end."""
    try:  # W&B only where it is installed: logger=csv runs without it
        import wandb  # noqa: F401
    except ImportError:
        pass
    # The zygote outlives no worker (it ends with its input) and must survive what stops a trial: SLURM signals
    # every process of a job, and a trial that is told to checkpoint still needs its zygote to report its end.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    for line in requests:
        request = json.loads(line)
        answers.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _run_trial(request, main, protocol=(requests.fileno(), answers.fileno()))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()
    # Its input ended: nothing is left to do, and finalizing torch and Lightning would keep the worker that
    # waits for this process ~1.2 s longer.
    sys.stderr.flush()
    os._exit(0)


def _run_trial(request: Mapping[str, Any], main: Callable[[], None], protocol: tuple[int, int]) -> int:
    """In the forked child: become `python -m xsearch <args>` and return its exit code."""
    os.setsid()  # like start_new_session: a Ctrl-C in the terminal reaches the driver, not the trial
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    # The zygote's pipes, where they are not stdin and stdout (replaced above): a trial that held them open would
    # hide its zygote's death from the worker, which learns of it from the end of the answers.
    for fd in protocol:
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = [sys.argv[0], *request["args"]]

    import torch

    # OpenMP read OMP_NUM_THREADS when torch was imported, in the zygote: apply the trial's own.
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    try:
        main()
        return 0
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1

