"""The network's building blocks, each built from its spec in `__init__` so `forward` only runs modules."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xsearch.model.spec import BlockSpec, UnitSpec

# Keras' batch-norm epsilon; the momentum is the `bn_momentum` knob, set by the network.
BN_EPS = 1e-3

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


def conv3x3(c_in: int, c_out: int, *, stride: int = 1, padding: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=padding, groups=groups, bias=False)


def conv1x1(c_in: int, c_out: int, *, stride: int = 1) -> nn.Conv2d:
    if stride > 1:
        return StridedPointwise(c_in, c_out, 1, stride=stride, bias=False)
    return nn.Conv2d(c_in, c_out, 1, bias=False)


class StridedPointwise(nn.Conv2d):
    """A strided 1x1 convolution (the entry and exit flows' shortcuts) that keeps off oneDNN's broken kernel.

    oneDNN's AVX2 backward pass of a strided 1x1 convolution in channels-last layout hangs or corrupts the heap
    (docs/ONEDNN_AVX2_HANG.md). On a CPU this takes every stride-th pixel first (an average pool over one pixel,
    which is exact) and convolves that with stride 1: the same numbers from the same parameters, and oneDNN never
    runs a strided 1x1 kernel, on any instruction set. As fast as the strided kernel (docs/BENCHMARKS.md); a
    strided slice instead would cost 13-15% of a training step, in its backward pass. GPUs run the convolution
    as it is.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        return F.conv2d(F.avg_pool2d(x, kernel_size=1, stride=self.stride), self.weight, self.bias,
                        groups=self.groups)


def activation(name: str) -> nn.Module:
    # GELU has no in-place form; the others act on a tensor nothing else reads.
    return nn.GELU() if name == "gelu" else _ACTIVATIONS[name](inplace=True)


class SeparableConv2d(nn.Sequential):
    """A grouped 3x3 spatial step and a 1x1 pointwise step, in either order.

    depthwise_first: 3x3 on c_in channels, then 1x1 c_in -> c_out (Keras' SeparableConv2D).
    pointwise_first: 1x1 c_in -> c_out, then 3x3 on c_out channels (the paper's Fig. 4).
    Between the two: optional batch norm, then the optional activation.
    """

    def __init__(self, unit: UnitSpec, c_in: int, c_out: int) -> None:
        groups = unit.groups(c_in, c_out)
        spatial_channels = unit.spatial_channels(c_in, c_out)
        between: list[nn.Module] = []
        if unit.mid_norm:
            between.append(batch_norm(spatial_channels))
        if unit.mid_activation != "none":
            between.append(activation(unit.mid_activation))
        spatial = conv3x3(spatial_channels, spatial_channels, groups=groups)
        pointwise = conv1x1(c_in, c_out)
        steps = [spatial, *between, pointwise] if unit.op_order == "depthwise_first" else [pointwise, *between, spatial]
        super().__init__(*steps)


def conv_unit(unit: UnitSpec, c_in: int, c_out: int) -> nn.Module:
    """What stands at each of the paper's SepConv positions."""
    if unit.conv == "regular":
        return conv3x3(c_in, c_out)
    return SeparableConv2d(unit, c_in, c_out)


class XceptionBlock(nn.Module):
    def __init__(self, spec: BlockSpec, unit: UnitSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = spec.c_in
        for i, c_out in enumerate(spec.channels):
            if i > 0 or spec.relu_first:
                # The leading ReLU must not overwrite the block input: the shortcut reads it.
                layers.append(nn.ReLU(inplace=i > 0))
            layers += [conv_unit(unit, c_in, c_out), batch_norm(c_out)]
            c_in = c_out
        if spec.pool:
            layers.append(nn.MaxPool2d(3, stride=2, padding=1))
        if spec.relu_last:
            layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module | None = None
        if spec.residual:
            if spec.pool or spec.c_in != spec.c_out:
                stride = 2 if spec.pool else 1
                self.shortcut = nn.Sequential(conv1x1(spec.c_in, spec.c_out, stride=stride), batch_norm(spec.c_out))
            else:
                self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.shortcut is None:
            return out
        # In place: the body ends in BN or max-pool, whose backward does not read their output.
        return out.add_(self.shortcut(x))
