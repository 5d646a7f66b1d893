"""Choosing and scoring, kept apart: the epoch a run keeps is the one its validation images choose, and the
weights of that epoch are scored once, at the end, on the scoring images, which chose nothing.

Where the dataset has no test split (val both chooses and scores), the final epoch is scored instead of the
best: the scoring images then chose nothing either, though they may still have pruned or stopped the run, which
its record says (xsearch/data/splits.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from xsearch import contract
from xsearch.outcomes import Outcomes
from xsearch.process.progress import Position

FINAL = "final epoch"  # how the chosen epoch is named where the scoring images could not be kept apart


def snapshot(module: torch.nn.Module) -> dict[str, Tensor]:
    """A copy of every weight and buffer, in host memory."""
    return {key: value.detach().to("cpu", copy=True) for key, value in module.state_dict().items()}


def gathered_in_order(strategy, mine: Tensor, total: int) -> Tensor:
    """Rank r of W holds images r, r + W, r + 2W, ...; every rank gets all `total` of them back in image order, in
    one gather (shares are padded to the largest with -1, which lands past the end)."""
    world = strategy.world_size
    if world == 1:
        return mine
    longest = math.ceil(total / world)
    padded = torch.full((longest,), -1, dtype=mine.dtype, device=mine.device)
    padded[:len(mine)] = mine
    everyone = strategy.all_gather(padded)  # [world, longest]: row r is rank r's share
    return everyone.transpose(0, 1).reshape(-1)[:total]


class ChooseAndScore(pl.Callback):
    """Keeps the weights of the best validated epoch by `monitor` (or none where val also scores: the last epoch
    is the one scored then); when training ends (completed, pruned or stopped early) scores them on the
    datamodule's scoring images, writes the per-image outcomes (rank 0) and logs `test/acc`. `result` is what the
    summary records."""

    def __init__(self, run_dir: Path, *, monitor: str, mode: str,
                 beat: Callable[[Position], None] | None = None) -> None:
        self.run_dir = run_dir
        self.beat = beat  # proof of life per scored batch: scoring 10,000 images on a CPU takes a while
        self.monitor = monitor
        self.better = (lambda new, old: new > old) if mode == "max" else (lambda new, old: new < old)
        self.final = False  # set once the datamodule knows its splits
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, Tensor] | None = None
        self.last_epoch = 0  # the last epoch trained (0-based): the one scored with `final`
        self.result: dict[str, Any] | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.final = trainer.datamodule.split_record.shared  # the datamodule is set up before its callbacks

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.last_epoch = trainer.current_epoch

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if self.final or trainer.sanity_checking or value is None:
            return
        value = float(value)
        if math.isfinite(value) and (self.best_value is None or self.better(value, self.best_value)):
            self.best_value, self.best_epoch = value, trainer.current_epoch
            self.best_state = snapshot(pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        record = datamodule.split_record
        chosen = self.best_state is not None
        final_state = snapshot(pl_module) if chosen else None
        if chosen:
            pl_module.load_state_dict(self.best_state)
        try:
            predicted, labels = self._predict(trainer, pl_module, datamodule.scoring_dataloader())
        finally:
            if final_state is not None:  # the run ends with the weights it trained to, whatever was scored
                pl_module.load_state_dict(final_state)
        predicted = gathered_in_order(trainer.strategy, predicted, record.test).cpu().numpy()
        labels = gathered_in_order(trainer.strategy, labels, record.test).cpu().numpy()
        outcomes = Outcomes(record.image_set, predicted == labels, predicted)
        epoch = self.best_epoch if chosen else self.last_epoch
        self.result = {
            "acc": outcomes.accuracy, "correct": int(outcomes.correct.sum()), "images": outcomes.images,
            "epoch": epoch, "chosen_by": f"best {self.monitor}" if chosen else FINAL,
            "image_set": record.image_set, "split": record.test_from, "shares_choosing_images": record.shared,
            "outcomes": contract.OUTCOMES,
        }
        if trainer.is_global_zero:
            outcomes.save(self.run_dir / contract.OUTCOMES)
            for logger in trainer.loggers:
                logger.log_metrics({contract.TEST_ACCURACY: outcomes.accuracy}, step=trainer.global_step)

    def _predict(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loader) -> tuple[Tensor, Tensor]:
        was_training = pl_module.training
        pl_module.eval()
        predicted, labels = [], []
        try:
            with torch.inference_mode(), trainer.precision_plugin.test_step_context():
                for batch, (images, targets) in enumerate(loader, 1):
                    logits = pl_module.evaluate(images.to(pl_module.device, non_blocking=True))
                    predicted.append(logits.argmax(dim=1))
                    labels.append(targets.to(pl_module.device))
                    if self.beat is not None and trainer.is_global_zero:
                        self.beat(Position("scoring", trainer.current_epoch, batch))
        finally:
            pl_module.train(was_training)
        empty = torch.empty(0, dtype=torch.int64, device=pl_module.device)
        return (torch.cat(predicted) if predicted else empty), (torch.cat(labels) if labels else empty)

    def state_dict(self) -> dict[str, Any]:
        # A run resumed from its interrupted checkpoint still scores the best epoch it trained before the stop.
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "best_state": self.best_state,
                "last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_value, self.best_epoch = state_dict["best_value"], state_dict["best_epoch"]
        self.best_state, self.last_epoch = state_dict["best_state"], state_dict["last_epoch"]
