"""The LightningModule: one spectrum network, its loss, metrics, optimizer and optional weight averaging."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torchmetrics
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from xsearch.model.network import Xception
from xsearch.model.spec import NetSpec
from xsearch.training.layout import in_layout
from xsearch.training.optim import OptimSettings, build_optimizer, build_scheduler


class SpectrumModule(pl.LightningModule):
    def __init__(self, spec: NetSpec, optim: OptimSettings, *, channels_last: bool = False,
                 compile: bool = False) -> None:
        super().__init__()
        self.optim = optim
        self.net = Xception(spec)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.forward_fn = torch.compile(self.net) if compile else self.net
        # The paper's Polyak averaging: validation sees the averaged weights (and BN statistics).
        self.ema: AveragedModel | None = None
        if optim.ema_decay is not None:
            self.ema = AveragedModel(self.net, multi_avg_fn=get_ema_multi_avg_fn(optim.ema_decay), use_buffers=True)
            self.ema.requires_grad_(False)
        self.loss = nn.CrossEntropyLoss(label_smoothing=optim.label_smoothing)
        classes = spec.num_classes
        self.val_acc = torchmetrics.classification.MulticlassAccuracy(classes, top_k=1, average="micro")
        # Top-5 only means something with well over 5 classes.
        self.val_acc5 = (torchmetrics.classification.MulticlassAccuracy(classes, top_k=5, average="micro")
                         if classes >= 10 else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_fn(in_layout(x, self.memory_format))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss(self(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at epoch {self.current_epoch}, "
                                     f"step {self.global_step}")
        self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=len(y))
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.net)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """Logits as validation and scoring see them: through the averaged weights where there are any."""
        net = self.ema.module if self.ema is not None else self.forward_fn
        return net(in_layout(x, self.memory_format))

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits = self.evaluate(x)
        self.log("val/loss", self.loss(logits, y), on_epoch=True, sync_dist=True, batch_size=len(y))
        self.val_acc(logits, y)
        self.log("val/acc", self.val_acc, on_epoch=True, batch_size=len(y))
        if self.val_acc5 is not None:
            self.val_acc5(logits, y)
            self.log("val/acc5", self.val_acc5, on_epoch=True, batch_size=len(y))

    def configure_optimizers(self):
        optimizer = build_optimizer(self.optim, self.net)
        trainer = self.trainer
        total_epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 1
        steps_per_epoch = max(1, trainer.estimated_stepping_batches // total_epochs)
        scheduler = build_scheduler(self.optim, optimizer, steps_per_epoch=steps_per_epoch,
                                    total_epochs=total_epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
