"""What happened in each epoch: throughput, loss, validation metrics; kept for the summary, printed off a terminal."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl
import torch


class EpochMeter(pl.Callback):
    """Logs `train/images_per_s` and `train/epoch_time` (training only, validation excluded) and keeps a history.

    The training loss is averaged here rather than read back from Lightning,
    whose epoch aggregates are only published after this hook has run.
    """

    def __init__(self, *, print_lines: bool) -> None:
        self.print_lines = print_lines
        self.epochs: list[dict[str, float]] = []
        self._images = 0
        self._loss_sum: torch.Tensor | float = 0.0
        self._batches = 0
        self._start = 0.0
        self._train_seconds: float | None = None
        self._val_images = 0  # images the last validation scored: the n of its accuracy's binomial interval
        self.first_step_at: float | None = None  # wall clock of the first training step (overhead benchmarks)
        self._elapsed = 0.0  # training seconds of a resumed epoch before its interruption (from the checkpoint)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A resumed epoch gets no on_train_epoch_start: its counts and its seconds so far come from the
        # checkpoint, so its images/s covers the whole epoch rather than its images over the resumed part's time.
        self._start, self._elapsed = time.perf_counter() - self._elapsed, 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._images, self._loss_sum, self._batches = 0, 0.0, 0
        self._start = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.first_step_at is None:
            self.first_step_at = time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._images += len(batch[0]) * trainer.world_size
        self._loss_sum = self._loss_sum + outputs["loss"].detach()  # stays on device: no sync per step
        self._batches += 1

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self._train_seconds = time.perf_counter() - self._start
        self._val_images = 0

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:  # every rank scores as many images (the remainder is left out)
            self._val_images += len(batch[1]) * trainer.world_size

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seconds = self._train_seconds or (time.perf_counter() - self._start)
        self._train_seconds = None
        record = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        record.update({
            "epoch": trainer.current_epoch,
            "train/loss": float(self._loss_sum) / max(self._batches, 1),
            "train/epoch_time": seconds,
            "train/images_per_s": self._images / seconds if seconds > 0 else 0.0,
            "val_images": self._val_images,
        })
        pl_module.log("train/epoch_time", seconds, rank_zero_only=True)
        pl_module.log("train/images_per_s", record["train/images_per_s"], rank_zero_only=True)
        self.epochs.append(record)
        if self.print_lines and trainer.is_global_zero:
            print(self.line(record, trainer.max_epochs), flush=True)

    def state_dict(self) -> dict[str, Any]:
        # A resumed run's summary still covers every epoch, and the interrupted one's loss every batch.
        return {"epochs": self.epochs, "images": self._images, "loss_sum": self._loss_sum, "batches": self._batches,
                "elapsed": time.perf_counter() - self._start}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs = list(state_dict["epochs"])
        self._images, self._loss_sum, self._batches = (state_dict[k] for k in ("images", "loss_sum", "batches"))
        self._elapsed = state_dict.get("elapsed", 0.0)

    @staticmethod
    def line(metrics: dict[str, float], max_epochs: int | None) -> str:
        parts = [f"epoch {int(metrics['epoch']) + 1}/{max_epochs}"]
        for key in ("train/loss", "val/loss", "val/acc", "val/acc5"):
            if key in metrics and math.isfinite(metrics[key]):
                parts.append(f"{key} {metrics[key]:.4f}")
        parts.append(f"{metrics['train/epoch_time']:.1f} s")
        parts.append(f"{metrics['train/images_per_s']:.0f} img/s")
        return "  ".join(parts)
