"""Stopping on a scheduler's signal with a checkpoint, and resuming from it as if nothing had happened.

SLURM warns a job before its time limit or a preemption (SIGUSR2 with
submitit's `--signal`, SIGTERM otherwise). Lightning turns SIGTERM into a
`SIGTERMException` at the next batch boundary, agreed across DDP ranks, so the
checkpoint saved then holds a consistent step: weights, optimizer, loop
progress, the data loader's position in its epoch and the random state. A run
resumed from it continues with the very batches and draws it would have had.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

CHECKPOINT = "interrupted.ckpt"


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


class SaveOnInterrupt(pl.Callback):
    """Saves a checkpoint when Lightning stops the run for SIGTERM (on every rank at once: saving is collective)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: Path | None = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path)
            self.saved = self.path


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
        self.trained = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.trained += 1

    def state_dict(self) -> dict[str, Any]:
        return {"trained": self.trained}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resumed = state_dict["trained"]


def callbacks(run_dir: Path) -> list[pl.Callback]:
    """What a run needs to stop with a checkpoint and to resume from one exactly."""
    return [SaveOnInterrupt(run_dir / CHECKPOINT), RandomState(), DataPosition()]
