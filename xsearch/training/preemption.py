"""Stopping on a scheduler's signal with a checkpoint, and resuming from it as if nothing had happened.

SLURM warns a job before its time limit or a preemption (SIGUSR2 with
submitit's `--signal`, SIGTERM otherwise). Lightning turns SIGTERM into a
`SIGTERMException` at the next batch boundary, agreed across DDP ranks, so the
checkpoint saved then holds a consistent step: weights, optimizer, loop
progress, the data loader's position in its epoch and the random state. A run
resumed from it continues with the very batches and draws it would have had.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from xsearch import contract


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
