"""The knobs of the spectrum network: their types, ranges and defaults, checked the moment they are set.

Every knob is a plain value so that Hydra overrides and Optuna suggestions map onto it directly. The defaults
are the paper's Xception (docs/DESIGN.md section 1), and are its one home: `model=xception` is registered from
them. Each knob's meaning is docs/DESIGN.md section 2. Adding a knob is a field here, its use in spec.py (and
layers.py and cost.py where it shapes a layer), and its tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from xsearch.schema import Schema

DEPTHWISE = "depthwise"
# Knobs that only shape a separable convolution; `conv=regular` has nothing for them to act on.
SEPARABLE_ONLY = ("segments", "op_order", "mid_activation", "mid_norm")

Conv = Literal["separable", "regular"]
OpOrder = Literal["depthwise_first", "pointwise_first"]
MidActivation = Literal["none", "relu", "elu", "gelu", "silu"]
Segments = Literal["depthwise"] | Annotated[int, Field(ge=1)]
# The data sets these two (xsearch/settings/plan.py): the model group may not.
FROM_DATA = ("num_classes", "in_channels")


class XceptionConfig(Schema):
    section = "model"

    conv: Conv = "separable"
    segments: Segments = DEPTHWISE
    op_order: OpOrder = "depthwise_first"
    mid_activation: MidActivation = "none"
    mid_norm: bool = False
    middle_depth: Annotated[int, Field(ge=0)] = 8
    width: Annotated[float, Field(gt=0)] = 1.0
    residual: bool = True
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5  # the paper's, before the classifier
    num_classes: Annotated[int, Field(ge=1)] = 1000
    in_channels: Annotated[int, Field(ge=1)] = 3
    # The paper's stem is stride 2 with valid padding; stride 1 / padding 1 keeps
    # 32x32 inputs (CIFAR, upsampled digits) from shrinking to nothing.
    stem_stride: Annotated[int, Field(ge=1)] = 2
    stem_padding: Annotated[int, Field(ge=0)] = 0
    # Keras' 0.99 in PyTorch's convention. Its running statistics need ~500 steps to settle,
    # more than a small dataset gives in a short run: there 0.1 (PyTorch's default) evaluates correctly.
    bn_momentum: Annotated[float, Field(gt=0, le=1)] = 0.01

    @field_validator("mid_activation", mode="before")
    @classmethod
    def _null_is_none(cls, value: Any) -> Any:
        return "none" if value is None else value  # Hydra's `null` reads as "no activation"

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> XceptionConfig:
        """Build from a config node, naming any key that is not a knob."""
        return cls.checked(values, "model")

    def not_applicable(self) -> tuple[str, ...]:
        """Knobs this variant ignores: recorded with a run so a grid over them never fails."""
        return SEPARABLE_ONLY if self.conv == "regular" else ()


def knob_defaults() -> dict[str, Any]:
    """The paper's values of the knobs a model group sets (not the data's): `model=xception`."""
    return {k: v for k, v in XceptionConfig().as_dict().items() if k not in FROM_DATA}
