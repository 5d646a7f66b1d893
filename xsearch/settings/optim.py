"""The `optim` config group: optimizer, learning-rate schedule, regularization. Its values live in conf/optim/."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from xsearch import validate

OPTIMIZERS = ("sgd", "adamw", "rmsprop")
SCHEDULES = ("step", "cosine", "constant")


@dataclasses.dataclass(frozen=True, kw_only=True)
class OptimSettings:
    name: str
    lr: float
    weight_decay: float  # conv and linear weights only
    momentum: float  # SGD/RMSProp momentum, AdamW's beta1
    schedule: str
    warmup_epochs: float
    decay_rate: float  # step schedule: lr x decay_rate every decay_epochs
    decay_epochs: float
    min_lr_ratio: float  # cosine floor, as a fraction of lr
    label_smoothing: float
    ema_decay: float | None  # validate with an exponential moving average of the weights

    def __post_init__(self) -> None:
        validate.choice("optim.name", self.name, OPTIMIZERS)
        validate.choice("optim.schedule", self.schedule, SCHEDULES)
        validate.number("optim.lr", self.lr, low=0, low_open=True)
        validate.number("optim.weight_decay", self.weight_decay, low=0)
        validate.number("optim.momentum", self.momentum, low=0, high=1, high_open=True)
        validate.number("optim.warmup_epochs", self.warmup_epochs, low=0)
        validate.number("optim.decay_rate", self.decay_rate, low=0, high=1, low_open=True)
        validate.number("optim.decay_epochs", self.decay_epochs, low=0, low_open=True)
        validate.number("optim.min_lr_ratio", self.min_lr_ratio, low=0, high=1)
        validate.number("optim.label_smoothing", self.label_smoothing, low=0, high=1, high_open=True)
        validate.number("optim.ema_decay", self.ema_decay, low=0, high=1, low_open=True, high_open=True,
                        optional=True)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> OptimSettings:
        return validate.from_mapping(cls, values, "optim")
