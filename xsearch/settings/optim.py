"""The `optim` config group: optimizer, learning-rate schedule, regularization. Its values live in conf/optim/."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from xsearch.schema import Schema

Share = Annotated[float, Field(ge=0, le=1)]


class OptimSettings(Schema):
    section = "optim"

    name: Literal["sgd", "adamw", "rmsprop"]
    lr: Annotated[float, Field(gt=0)]
    weight_decay: Annotated[float, Field(ge=0)]  # conv and linear weights only
    momentum: Annotated[float, Field(ge=0, lt=1)]  # SGD/RMSProp momentum, AdamW's beta1
    schedule: Literal["step", "cosine", "constant"]
    warmup_epochs: Annotated[float, Field(ge=0)]
    decay_rate: Annotated[float, Field(gt=0, le=1)]  # step schedule: lr x decay_rate every decay_epochs
    decay_epochs: Annotated[float, Field(gt=0)]
    min_lr_ratio: Share  # cosine floor, as a fraction of lr
    label_smoothing: Annotated[float, Field(ge=0, lt=1)]
    ema_decay: Annotated[float, Field(gt=0, lt=1)] | None  # validate with an exponential moving average of weights

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> OptimSettings:
        return cls.checked(values, "optim")
