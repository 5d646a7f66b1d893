"""The knobs of the spectrum network, validated the moment they are set.

Every knob is a plain value so that Hydra overrides and Optuna suggestions map
onto it directly. The defaults are the paper's Xception (docs/DESIGN.md section 1);
each knob's meaning is docs/DESIGN.md section 2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from xsearch import validate
from xsearch.validate import bad, is_int

CONVS = ("separable", "regular")
OP_ORDERS = ("depthwise_first", "pointwise_first")
MID_ACTIVATIONS = ("none", "relu", "elu", "gelu", "silu")
DEPTHWISE = "depthwise"
# Knobs that only shape a separable convolution; `conv=regular` has nothing for them to act on.
SEPARABLE_ONLY = ("segments", "op_order", "mid_activation", "mid_norm")


@dataclasses.dataclass(frozen=True, kw_only=True)
class XceptionConfig:
    conv: str = "separable"
    segments: int | str = DEPTHWISE
    op_order: str = "depthwise_first"
    mid_activation: str = "none"
    mid_norm: bool = False
    middle_depth: int = 8
    width: float = 1.0
    residual: bool = True
    dropout: float = 0.5  # the paper's, before the classifier
    num_classes: int = 1000
    in_channels: int = 3
    # The paper's stem is stride 2 with valid padding; stride 1 / padding 1 keeps
    # 32x32 inputs (CIFAR, upsampled digits) from shrinking to nothing.
    stem_stride: int = 2
    stem_padding: int = 0
    # Keras' 0.99 in PyTorch's convention. Its running statistics need ~500 steps to settle,
    # more than a small dataset gives in a short run: there 0.1 (PyTorch's default) evaluates correctly.
    bn_momentum: float = 0.01

    def __post_init__(self) -> None:
        if self.mid_activation is None:  # Hydra's `null` reads as "no activation"
            object.__setattr__(self, "mid_activation", "none")
        validate.choice("model.conv", self.conv, CONVS)
        validate.choice("model.op_order", self.op_order, OP_ORDERS)
        validate.choice("model.mid_activation", self.mid_activation, MID_ACTIVATIONS)
        if self.segments != DEPTHWISE and not (is_int(self.segments) and self.segments >= 1):
            raise bad("model.segments", self.segments, f"{DEPTHWISE!r} or an integer >= 1")
        validate.boolean("model.mid_norm", self.mid_norm)
        validate.boolean("model.residual", self.residual)
        for knob, low in (("middle_depth", 0), ("num_classes", 1), ("in_channels", 1),
                          ("stem_stride", 1), ("stem_padding", 0)):
            validate.integer(f"model.{knob}", getattr(self, knob), low=low)
        validate.number("model.width", self.width, low=0, low_open=True)
        validate.number("model.dropout", self.dropout, low=0, high=1, high_open=True)
        validate.number("model.bn_momentum", self.bn_momentum, low=0, high=1, low_open=True)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> XceptionConfig:
        """Build from a config node, naming any key that is not a knob."""
        return validate.from_mapping(cls, values, "model")

    def replace(self, **changes: Any) -> XceptionConfig:
        return dataclasses.replace(self, **changes)

    def not_applicable(self) -> tuple[str, ...]:
        """Knobs this variant ignores: recorded with a run so a grid over them never fails."""
        return SEPARABLE_ONLY if self.conv == "regular" else ()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
