"""Optimizers and learning-rate schedules, from the `optim` config group."""

from __future__ import annotations

import math

import torch
from torch import nn

from xsearch.settings.optim import OptimSettings


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay conv and linear weights only: batch-norm scales and biases are not decayed."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(settings: OptimSettings, model: nn.Module) -> torch.optim.Optimizer:
    groups = param_groups(model, settings.weight_decay)
    if settings.name == "sgd":
        return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum)
    if settings.name == "rmsprop":
        # TensorFlow's RMSProp as Inception V3 used it: decay 0.9, epsilon 1.0.
        return torch.optim.RMSprop(groups, lr=settings.lr, alpha=0.9, eps=1.0, momentum=settings.momentum)
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(settings.momentum, 0.999))


def lr_factor(settings: OptimSettings, epoch: float, total_epochs: float) -> float:
    """Multiplier on `lr` at a (fractional) epoch: linear warm-up, then the schedule."""
    if epoch < settings.warmup_epochs:
        return (epoch + 1e-3) / settings.warmup_epochs
    if settings.schedule == "step":  # the paper: x0.94 every 2 epochs
        return settings.decay_rate ** math.floor(epoch / settings.decay_epochs)
    if settings.schedule == "cosine":
        span = max(total_epochs - settings.warmup_epochs, 1e-9)
        progress = min((epoch - settings.warmup_epochs) / span, 1.0)
        floor = settings.min_lr_ratio
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def build_scheduler(settings: OptimSettings, optimizer: torch.optim.Optimizer, *, steps_per_epoch: int,
                    total_epochs: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped every batch, so warm-up and cosine are smooth and the step schedule falls on epoch edges."""
    steps_per_epoch = max(steps_per_epoch, 1)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(settings, step / steps_per_epoch, total_epochs))
