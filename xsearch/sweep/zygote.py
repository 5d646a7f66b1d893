"""A warm process per sweep worker that forks its trial processes.

A fresh `python -m xsearch` spends about 5 s importing torch, Lightning, Hydra
and W&B before it trains; a sweep of short trials would spend much of its time
there. The zygote imports them once and forks each trial from that state (no
thread and no CUDA context exists in it yet, so the fork is clean). A trial is
still its own process, in its own session, with its own environment, working
directory, log and exit status: exactly the `python -m xsearch` run its
`trial.yaml` re-runs, minus the imports.

Protocol, one JSON object per line: the worker writes
`{"args": [...], "env": {...}, "cwd": ..., "log": ...}`; the zygote answers
`{"pid": n}` once the trial runs and `{"code": c}` when it ends (c < 0: killed
by signal -c, as with subprocess). End of input ends the zygote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)


def _run_trial(request: Mapping[str, Any]) -> int:
    """In the forked child: become `python -m xsearch <args>` and return its exit code."""
    os.setsid()  # like start_new_session: a Ctrl-C in the terminal reaches the driver, not the trial
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = [sys.argv[0], *request["args"]]

    import torch

    # OpenMP read OMP_NUM_THREADS when torch was imported, in the zygote: apply the trial's own.
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from xsearch.app import cli

    try:
        cli()
        return 0
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1


def serve() -> None:
    # Everything a trial imports, imported once. (Nothing here may start a thread or touch CUDA.)
    import optuna  # noqa: F401
    import pytorch_lightning  # noqa: F401
    import torch  # noqa: F401
    import wandb  # noqa: F401

    import xsearch.app  # noqa: F401
    import xsearch.training.run  # noqa: F401

    # The zygote outlives no worker (it ends with its input) and must survive what stops a trial: SLURM signals
    # every process of a job, and a trial that is told to checkpoint still needs its zygote to report its end.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        out.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _run_trial(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _, status = os.waitpid(pid, 0)
        out.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        out.flush()


class ZygoteGone(RuntimeError):
    """The warm process has exited: it can start no trial and report no end."""


class Zygote:
    """The worker's side: start trials in the warm process and wait for them like subprocess.Popen."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "xsearch.sweep.zygote"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=dict(env), start_new_session=True)

    def start(self, args: Sequence[str], *, env: Mapping[str, str], cwd: str, log: str) -> ForkedTrial:
        try:
            self.process.stdin.write(json.dumps({"args": list(args), "env": dict(env), "cwd": cwd, "log": log}) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError) as error:  # ValueError: its pipe was already closed
            raise ZygoteGone(f"the trial zygote exited with code {self.process.wait()}") from error
        return ForkedTrial(self, int(self._read()["pid"]))

    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            raise ZygoteGone(f"the trial zygote exited with code {self.process.wait()}")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()


class ForkedTrial:
    """A trial forked by the zygote: the subset of subprocess.Popen the worker uses."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            try:
                self.returncode = int(self.zygote._read()["code"])
            except ZygoteGone:  # nothing can report this trial's end any more, so end it here
                self.kill()
                self.returncode = -signal.SIGKILL
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


if __name__ == "__main__":
    serve()
