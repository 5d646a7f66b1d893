"""Stopping on a scheduler's signal with a checkpoint, and resuming from it as if nothing had happened.

SLURM warns a job before its time limit or a preemption (SIGUSR2 with
submitit's `--signal`, SIGTERM otherwise). Lightning turns SIGTERM into a
`SIGTERMException` at the next batch boundary, agreed across DDP ranks, so the
checkpoint saved then holds a consistent step: weights, optimizer, loop
progress, the data loader's position in its epoch and the random state. A run
resumed from it continues with the very batches and draws it would have had.
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
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

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


class SaveOnInterrupt(pl.Callback):
    """Saves a checkpoint when Lightning stops the run for SIGTERM (on every rank at once: saving is collective)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: Path | None = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path)
            self.saved = self.path


class FinishValidation(pl.Callback):
    """A stop signal that arrives during a fit's validation takes effect once the validation is done.

    Lightning stops a validation at its next batch, and a checkpoint saved there restores an epoch whose training
    is done and whose validation never ran: the resumed run ends that epoch unvalidated, so the epoch validation
    would have chosen is lost. Held until the validation ends, the stop lands at the batch or epoch boundary
    after it, where a resume is exact.
    """

    def __init__(self) -> None:
        self._held = False

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        connector = trainer._signal_connector  # Lightning's own flag, read just after this hook (private)
        if trainer.training or not trainer.state.fn == "fit" or not connector.received_sigterm:
            return
        connector.received_sigterm, self._held = False, True

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._held:
            trainer._signal_connector.received_sigterm, self._held = True, False


class FinishLastEpoch(pl.Callback):
    """A stop signal that arrives once the last epoch has trained and validated lets the run score and complete.

    Lightning would stop at the end of that epoch with a checkpoint of a finished fit; a run resumed from it has
    nothing left to train, so Lightning skips its fit loop and, with it, the scoring at the end of training: the
    trial would complete without its test outcomes. What is left is the scoring alone (seconds to a minute, with
    proof of life per batch), so the run finishes it instead. Runs before the fit loop checks the signal.
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        last = trainer.should_stop or (trainer.max_epochs is not None and trainer.max_epochs >= 0
                                       and trainer.current_epoch + 1 >= trainer.max_epochs)
        if last and trainer.received_sigterm:
            trainer._signal_connector.received_sigterm = False  # Lightning's own flag (private)


class RandomState(pl.Callback):
    """Keeps torch's random state in the checkpoint: augmentation and dropout continue where they were."""

    def state_dict(self) -> dict[str, Any]:
        state = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["cpu"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class DataPosition(pl.Callback):
    """Counts the batches trained in the current epoch; after a resume, the in-memory loader skips them.

    (A loader without `skip`, such as the image-folder DataLoader, restarts the epoch's order: Lightning's default.)
    """

    def __init__(self) -> None:
        self.trained = 0
        self._resumed = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning calls this after restoring a checkpoint and before the resumed epoch's first batch is fetched
        # (it calls no on_train_epoch_start for a resumed epoch).
        self.trained, self._resumed = self._resumed, 0
        loader = trainer.train_dataloader
        if self.trained and hasattr(loader, "skip"):
            loader.skip = self.trained

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A new epoch starts at its first batch, whatever a resume had set for the epoch it restored.
        self.trained = 0
        if hasattr(trainer.train_dataloader, "skip"):
            trainer.train_dataloader.skip = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.trained += 1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.trained = 0  # a checkpoint at an epoch's end has nothing of the next epoch to skip

    def state_dict(self) -> dict[str, Any]:
        return {"trained": self.trained}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resumed = state_dict["trained"]


def callbacks(run_dir: Path) -> list[pl.Callback]:
    """What a run needs to stop with a checkpoint and to resume from one exactly."""
    return [SaveOnInterrupt(run_dir / contract.CHECKPOINT), FinishValidation(), FinishLastEpoch(), RandomState(),
            DataPosition()]
