"""Parameters and multiply-accumulates of any variant, from its plan alone.

Nothing is allocated: the plan is walked layer by layer with the spatial size,
as pycls does, so a budget solver can evaluate thousands of widths a second.
MACs count convolutions and the classifier (what `torch.utils.flop_counter`
counts, halved); batch norm, activations, pooling and adds are left out, as usual.
"""

from __future__ import annotations

import dataclasses

from xsearch.model.config import XceptionConfig
from xsearch.model.spec import BlockSpec, NetSpec, UnitSpec, resolve

PAPER_INPUT = (299, 299)


@dataclasses.dataclass(frozen=True)
class Cost:
    params: int  # trainable parameters
    flops: int  # multiply-accumulates per image
    bn_stats: int  # batch-norm running means and variances


@dataclasses.dataclass
class _Tally:
    h: int
    w: int
    params: int = 0
    flops: int = 0
    bn_stats: int = 0

    def conv(self, c_in: int, c_out: int, k: int, *, stride: int = 1, padding: int = 0, groups: int = 1) -> None:
        self.h = (self.h + 2 * padding - k) // stride + 1
        self.w = (self.w + 2 * padding - k) // stride + 1
        if self.h < 1 or self.w < 1:
            raise ValueError(f"the input is too small: a {k}x{k} convolution would leave {self.h}x{self.w}")
        weights = k * k * (c_in // groups) * c_out
        self.params += weights
        self.flops += weights * self.h * self.w

    def bn(self, c: int) -> None:
        self.params += 2 * c
        self.bn_stats += 2 * c

    def max_pool(self) -> None:  # 3x3, stride 2, padding 1
        self.h = (self.h - 1) // 2 + 1
        self.w = (self.w - 1) // 2 + 1

    def branch(self) -> _Tally:
        return _Tally(self.h, self.w)

    def merge(self, other: _Tally) -> None:
        self.params += other.params
        self.flops += other.flops
        self.bn_stats += other.bn_stats


def _unit(t: _Tally, unit: UnitSpec, c_in: int, c_out: int) -> None:
    if unit.conv == "regular":
        t.conv(c_in, c_out, 3, padding=1)
        return
    # Both steps keep the spatial size, so their order does not change the count.
    c = unit.spatial_channels(c_in, c_out)
    t.conv(c, c, 3, padding=1, groups=unit.groups(c_in, c_out))
    t.conv(c_in, c_out, 1)
    if unit.mid_norm:
        t.bn(c)


def _block(t: _Tally, block: BlockSpec, unit: UnitSpec) -> None:
    shortcut = t.branch()
    c_in = block.c_in
    for c_out in block.channels:
        _unit(t, unit, c_in, c_out)
        t.bn(c_out)
        c_in = c_out
    if block.pool:
        t.max_pool()
    if block.residual and (block.pool or block.c_in != block.c_out):
        shortcut.conv(block.c_in, block.c_out, 1, stride=2 if block.pool else 1)
        shortcut.bn(block.c_out)
        t.merge(shortcut)


def cost(model: XceptionConfig | NetSpec, input_size: tuple[int, int] = PAPER_INPUT) -> Cost:
    """Parameters, MACs per image and BN statistics of a variant at `input_size` (H, W)."""
    spec = resolve(model) if isinstance(model, XceptionConfig) else model
    t = _Tally(*input_size)
    c1, c2 = spec.stem
    t.conv(spec.in_channels, c1, 3, stride=spec.stem_stride, padding=spec.stem_padding)
    t.bn(c1)
    t.conv(c1, c2, 3, padding=spec.stem_padding)
    t.bn(c2)
    for block in spec.blocks:
        _block(t, block, spec.unit)
    t.params += spec.num_features * spec.num_classes + spec.num_classes
    t.flops += spec.num_features * spec.num_classes
    return Cost(params=t.params, flops=t.flops, bn_stats=t.bn_stats)
