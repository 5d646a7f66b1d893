"""Making sure the network's input has the memory layout the settings chose (`Settings.use_channels_last`)."""

from __future__ import annotations

import torch


def in_layout(x: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """`x` with exactly the strides of `memory_format` (NCHW or channels last).

    `x.contiguous(memory_format=...)` is not enough: a batch whose strides read as both layouts (one channel)
    comes back unchanged, and the convolutions then choose their kernels from strides the settings never asked
    for.
    """
    if x.dim() != 4 or x.stride() == strides(x.shape, memory_format):
        return x
    return x.clone(memory_format=memory_format)


def strides(shape: torch.Size, memory_format: torch.memory_format) -> tuple[int, ...]:
    """The strides a freshly allocated `[N, C, H, W]` tensor of this layout has."""
    _, c, h, w = shape
    if memory_format == torch.channels_last:
        return (h * w * c, 1, w * c, c)
    return (c * h * w, h * w, w, 1)
