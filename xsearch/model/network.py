"""The spectrum network: the paper's Xception at its defaults, any point between Inception and Xception otherwise."""

from __future__ import annotations

import torch
from torch import nn

from xsearch.model.config import XceptionConfig
from xsearch.model.layers import XceptionBlock, batch_norm, conv3x3
from xsearch.model.spec import NetSpec, resolve


class Xception(nn.Module):
    """Built from its resolved spec (xsearch/model/spec.py), which says every layer's channels and groups: the
    same spec a run's plan costed and logged."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        c1, c2 = spec.stem
        pad = spec.stem_padding
        self.stem = nn.Sequential(
            conv3x3(spec.in_channels, c1, stride=spec.stem_stride, padding=pad), batch_norm(c1), nn.ReLU(inplace=True),
            conv3x3(c1, c2, padding=pad), batch_norm(c2), nn.ReLU(inplace=True),
        )
        self.entry = nn.Sequential(*(XceptionBlock(b, spec.unit) for b in spec.entry))
        self.middle = nn.Sequential(*(XceptionBlock(b, spec.unit) for b in spec.middle))
        self.exit = nn.Sequential(*(XceptionBlock(b, spec.unit) for b in spec.exit))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(spec.dropout)
        self.fc = nn.Linear(spec.num_features, spec.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.momentum = self.spec.bn_momentum

    @property
    def num_features(self) -> int:
        return self.spec.num_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.exit(self.middle(self.entry(self.stem(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x).flatten(1)
        if pre_logits:
            return x
        return self.fc(self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def build_model(cfg: XceptionConfig | None = None, **knobs) -> Xception:
    """`build_model(segments=4, op_order="pointwise_first")` or `build_model(cfg)`: the knobs resolved into a
    spec, and the network built from it."""
    if cfg is not None and knobs:
        cfg = cfg.replace(**knobs)
    return Xception(resolve(cfg or XceptionConfig(**knobs)))
