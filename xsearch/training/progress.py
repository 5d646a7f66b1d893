"""Proof of life: where a run is (phase, epoch, step) and when it last moved.

A run that stops moving is told apart from a slow one by its steps, not by its
CPU use: a kernel that never returns keeps every core busy. The `Beacon` notes
every training and validation batch. Inside a sweep it also writes one short
line to the trial's progress file on every batch (one `pwrite`, a few
microseconds), which the sweep's watchdog reads from outside the process.
A process that is stuck, stopped or gone writes nothing more, so nothing in it
has to work for the watchdog to see that.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytorch_lightning as pl

PROGRESS = "progress.json"  # in a sweep trial's folder
RECORD_BYTES = 160  # one fixed-width record, rewritten in place, so a reader never sees a stale tail


@dataclasses.dataclass(frozen=True)
class Position:
    """Where a run was at its last beat. `epoch` counts from 1, as the console prints it; `step` is Lightning's
    global step (optimizer steps so far), or the batch within a validation pass."""

    phase: str  # "starting", "training", "validating", "finishing"
    epoch: int = 0
    step: int = 0

    def describe(self) -> str:
        if self.phase == "training":
            return f"in epoch {self.epoch} (last step {self.step})"
        if self.phase == "validating":
            return f"validating epoch {self.epoch} (batch {self.step})"
        return {"starting": "before its first step", "finishing": "after training"}.get(self.phase, self.phase)


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
            record = json.dumps({**dataclasses.asdict(position), "beats": self.beats})
            os.pwrite(self._fd, record.ljust(RECORD_BYTES - 1).encode()[:RECORD_BYTES - 1] + b"\n", 0)

    def silent_for(self) -> float:
        return time.monotonic() - self.last_beat

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


def read_position(path: Path) -> tuple[bytes, Position | None]:
    """The progress file's raw record (which changes with every beat) and the position it names.

    A record read while it was being rewritten may not parse: its bytes still differ from the last ones read,
    which is all a watchdog needs to see movement.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return b"", None
    try:
        fields = json.loads(raw)
        return raw, Position(fields["phase"], fields["epoch"], fields["step"])
    except (ValueError, KeyError, TypeError):
        return raw, None
