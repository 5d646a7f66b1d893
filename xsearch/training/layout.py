"""Which memory layout the network trains in, and making sure its input really has it.

Channels last is the faster layout on GPUs and on x86 CPUs, through oneDNN's AVX-512 kernels and its AVX2 ones
alike (docs/BENCHMARKS.md), so `channels_last: auto` picks it there. Elsewhere (e.g. ARM CPUs) it is not
measured, and NCHW stays.
"""

from __future__ import annotations

import platform

import torch

MEASURED_CPUS = ("x86_64", "amd64")


def channels_last_pays_on_cpu() -> bool:
    return platform.machine().lower() in MEASURED_CPUS


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
