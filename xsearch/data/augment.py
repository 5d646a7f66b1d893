"""Random shifts and flips applied to a whole batch at once, on whatever device it lives.

Each sample draws its own offset and flip, yet no Python loop runs over the
samples: per-sample choices become index tensors and masks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_shift(images: Tensor, *, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad by `padding` on every side, then crop back to the original side at a random offset per sample."""
    if padding <= 0:
        return images
    batch, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (batch, 1), device=images.device, generator=generator)
    left = torch.randint(0, 2 * padding + 1, (batch, 1), device=images.device, generator=generator)
    rows = top + torch.arange(height, device=images.device)  # [B, H]
    cols = left + torch.arange(width, device=images.device)  # [B, W]
    sample = torch.arange(batch, device=images.device)[:, None, None]
    # Channels last so the three index tensors broadcast to [B, H, W] and channels ride along.
    cropped = padded.permute(0, 2, 3, 1)[sample, rows[:, :, None], cols[:, None, :]]
    # Back to NCHW strides by a copy: `.contiguous()` would keep the channels-last strides of a one-channel batch
    # (they read as both layouts), and oneDNN would then run channels-last kernels (docs/ONEDNN_AVX2_HANG.md).
    return cropped.permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)


def random_flip(images: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each sample left-right with probability one half."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)
