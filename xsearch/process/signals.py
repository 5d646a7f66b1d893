"""How a run ends when it is told to stop: a stop signal reaches it at a batch boundary (Lightning's handler, with a
checkpoint: xsearch/training/preemption.py), or, stuck in native code where no handler runs, it ends itself
within a grace period with its stacks and a summary that says so.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from xsearch import contract

# After a stop signal a run must reach a batch boundary within this long (or twice its slowest step so far), else
# it is stuck in a kernel that may never return; it then ends itself, so `timeout 60 python -m xsearch` ends.
STOP_GRACE_S = 20.0


class Interrupted(BaseException):
    """The run was asked to stop (SIGTERM: a sweep stopping, a scheduler's kill).

    A BaseException, like KeyboardInterrupt, so that no library's `except Exception` swallows it.
    """


def stop_signal(signum: int, frame) -> None:
    """Outside `fit`: stop at once. Inside it Lightning calls this after its own handler, which stops at the next
    batch boundary with a checkpoint, so nothing is raised here."""
    if signal.getsignal(signal.SIGTERM) is stop_signal:
        raise Interrupted(f"stopped by {signal.Signals(signum).name}")


def _as_sigterm(signum: int, frame) -> None:
    handler = signal.getsignal(signal.SIGTERM)
    if callable(handler):
        handler(signum, frame)


def install() -> Callable[[], None]:
    """Route SIGTERM (and SIGUSR2 when nobody else handles it) to `stop_signal`; returns the undo."""
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, stop_signal)}
    # Under submitit a job's SIGUSR2 belongs to submitit (it requeues the job): leave it alone then.
    if signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL:
        previous[signal.SIGUSR2] = signal.signal(signal.SIGUSR2, _as_sigterm)

    def undo() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return undo


class StopDeadline:
    """Ends a run that a stop signal cannot reach: one stuck inside a kernel that never returns.

    Python runs a signal handler only between bytecodes of the main thread, so a main thread blocked in native
    code never runs Lightning's handler and never reaches the batch boundary where it would stop. The C-level
    handler still writes the signal's number to a wakeup file descriptor, which a thread of our own reads; if no
    batch ends within the grace period after that, the thread dumps every thread's Python stack to stderr, lets
    `on_stuck` write the run's summary, and exits the process with 128 + the signal's number, as the signal's
    default action would have. Created and closed in the main thread (`signal.set_wakeup_fd` requires it).
    """

    def __init__(self, moved: Callable[[], int], slowest_step: Callable[[], float],
                 on_stuck: Callable[[str], None], grace: float = STOP_GRACE_S) -> None:
        self.moved, self.slowest_step, self.on_stuck, self.grace = moved, slowest_step, on_stuck, grace
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._closed = threading.Event()
        threading.Thread(target=self._watch, name="xsearch-stop-deadline", daemon=True).start()

    def _watch(self) -> None:
        while True:
            try:
                received = self._reader.recv(64)
            except OSError:
                return
            if not received or self._closed.is_set():
                return
            stops = [signum for signum in received if signum in contract.STOP_SIGNALS]
            if stops:
                self._await_boundary(signal.Signals(stops[0]))

    def _await_boundary(self, signum: signal.Signals) -> None:
        seen, started = self.moved(), time.monotonic()
        grace = max(self.grace, 2 * self.slowest_step())
        while not self._closed.wait(0.2):
            if self.moved() != seen:
                return  # a batch ended: Lightning's handler has run and the run stops at this boundary
            if time.monotonic() - started > grace:
                print(f"xsearch: no batch ended within {grace:.0f} s of {signum.name}: stuck in native code; "
                      "Python stacks of every thread follow", file=sys.stderr, flush=True)
                faulthandler.dump_traceback(all_threads=True)
                self.on_stuck(f"stuck: no batch ended within {grace:.0f} s of {signum.name}")
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(128 + signum)

    def close(self) -> None:
        self._closed.set()
        signal.set_wakeup_fd(self._previous)
        self._writer.close()  # wakes the watching thread, which then returns
        self._reader.close()


def answer_watchdog() -> None:
    """In a sweep's trial: SIGQUIT prints every thread's Python stack, which the sweep's watchdog asks for before
    it kills a stalled trial (xsearch/process/trial.py)."""
    faulthandler.register(signal.SIGQUIT, all_threads=True)
