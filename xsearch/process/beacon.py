"""Proof of life: where a run is (phase, epoch, step) and when it last moved.

A run that stops moving is told apart from a slow one by its steps, not by its CPU use: a kernel that never
returns keeps every core busy. The `Beacon` notes every training and validation batch. Inside a sweep it also
writes the position to the trial's progress file (xsearch/process/progress.py) on every batch, one `pwrite` of a few
microseconds, which the sweep's watchdog reads from outside the process. A process that is stuck, stopped or
gone writes nothing more, so nothing in it has to work for the watchdog to see that.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytorch_lightning as pl

from xsearch.process.progress import Position, record


class Beacon(pl.Callback):
    """Notes every batch; with a `path`, writes each note there for a watchdog in another process."""

    def __init__(self, path: Path | None = None) -> None:
        self.position = Position("starting")
        self.beats = 0
        self.last_beat = time.monotonic()
        self.longest_silence = 0.0  # the longest gap between two beats: what a stall timeout must exceed
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if path is not None else None
        self.beat(self.position)

    def beat(self, position: Position) -> None:
        now = time.monotonic()
        self.longest_silence = max(self.longest_silence, now - self.last_beat)
        self.last_beat, self.position, self.beats = now, position, self.beats + 1
        if self._fd is not None:
            os.pwrite(self._fd, record(position, self.beats), 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.is_global_zero:
            self.beat(Position("training", trainer.current_epoch + 1, trainer.global_step))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0
                                ) -> None:
        if trainer.is_global_zero:
            self.beat(Position("validating", trainer.current_epoch + 1, batch_idx + 1))

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.beat(Position("finishing", trainer.current_epoch, trainer.global_step))
