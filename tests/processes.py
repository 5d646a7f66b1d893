"""Running xsearch as a user does, in real processes that a test can always end.

A sweep's trials and its warm zygote each lead a session of their own (so a Ctrl-C reaches only the driver), so
killing the driver, or its process group, leaves them running. On a timeout these helpers end every process the
command started, found through /proc, and only then report the timeout: a stuck test never leaves trials behind
to slow or break the next ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Whether the running test may start processes: only a test marked `slow` may (conftest sets this), so the fast
# tier (`pytest -m "not slow"`) stays fast, and a test that starts one without the mark fails saying so.
allowed = True


def _check_allowed(command) -> None:
    if not allowed:
        raise RuntimeError(f"this test starts a process ({' '.join(map(str, command))[:80]}): mark it "
                           "@pytest.mark.slow, or test in-process")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and everything it started. Each is stopped first, so none can start another meanwhile."""
    seen: list[int] = []
    for _ in range(5):
        new = [p for p in [pid, *descendants(pid)] if p not in seen]
        if not new:
            break
        for p in new:
            send(p, signal.SIGSTOP)
        seen += new
    for p in seen:
        send(p, signal.SIGKILL)


def send(pid: int, signum: int) -> None:
    """Send a signal to a process that may already be gone."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def env_for(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "offline", **(extra or {})}
    env.pop("WANDB_API_KEY", None)
    return env


def spawn(args: list[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT, **kwargs) -> subprocess.Popen:
    """`python -m xsearch <args>` started in the background, with text pipes; end it with `kill_tree`."""
    _check_allowed(["xsearch", *args])
    return subprocess.Popen([sys.executable, "-m", "xsearch", *args], cwd=cwd, env=env_for(env), text=True,
                            start_new_session=True, **kwargs)


def run(command: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path = ROOT,
        check: bool = False, **popen) -> subprocess.CompletedProcess:
    """subprocess.run with output captured, whose timeout ends every process the command started (`popen`: more
    of subprocess.Popen's arguments, e.g. a preexec_fn)."""
    _check_allowed(command)
    with subprocess.Popen(command, cwd=cwd, env=env_for(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True, **popen) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(process.pid)
            out, err = process.communicate()
            raise subprocess.TimeoutExpired(command, timeout, out, err) from None
    done = subprocess.CompletedProcess(command, process.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def xsearch(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
            cwd: Path = ROOT, **popen) -> subprocess.CompletedProcess:
    """`python -m xsearch <args>`, W&B offline, bounded by `timeout`."""
    return run([sys.executable, "-m", "xsearch", *args], timeout=timeout, env=env, cwd=cwd, **popen)


def wait_for(condition, *, timeout: float, what: str, every: float = 0.1):
    """Poll `condition()` until it returns something truthy; fail the test naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command's name: state, parent pid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie counts as gone: it runs no more)."""
    try:
        state = stat(pid)[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")
