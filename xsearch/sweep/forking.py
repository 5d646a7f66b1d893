"""The worker's side of its warm zygote (xsearch/zygote.py): start trials in it, and wait for them as for a
subprocess.Popen.

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
from collections.abc import Mapping, Sequence
from typing import Any


class ZygoteGone(RuntimeError):
    """The warm process has exited: it can start no trial and report no end."""


class Zygote:
    """The worker's side: start trials in the warm process and wait for them like subprocess.Popen."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "xsearch.zygote"], stdin=subprocess.PIPE,
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


def forkable(trainer: Mapping[str, Any]) -> bool:
    """Whether a trial may be forked from a warm zygote. Not a multi-device one: Lightning starts its other
    ranks by re-running the process's command line, which must then be `python -m xsearch ...`."""
    return trainer.get("devices", 1) in (1, "1", "auto", [0])


# A zygote started before the sweep's driver has imported anything heavy: driver and zygote each spend ~5 s
# importing torch and Lightning, and started together they do it side by side instead of one after the other.
_early: Zygote | None = None
_early_lock = threading.Lock()


def start_early(env: Mapping[str, str]) -> None:
    """Start the first worker's zygote now; `take` hands it over. One left unused dies with this process."""
    global _early
    with _early_lock:
        if _early is None:
            _early = Zygote(env)
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

