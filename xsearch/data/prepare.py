"""Turns stored images into model-ready batches: float, sized, augmented, normalized.

Doing this per batch rather than once at load lets CIFAR stay uint8 in memory
(a quarter of the float size) and draws fresh augmentation every step.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor

from xsearch.data.augment import random_flip, random_shift
from xsearch.data.normalization import Stats


@dataclasses.dataclass(frozen=True, kw_only=True)
class BatchRecipe:
    size: int
    shift_padding: int = 0  # 0: no random shift
    flip: bool = False
    stats: Stats | None = None  # None: pixels stay on [0, 1]

    def __call__(self, images: Tensor, *, train: bool, generator: torch.Generator | None = None) -> Tensor:
        batch = images.float()
        if images.dtype == torch.uint8:
            batch = batch.div_(255.0)
        if batch.shape[-2:] != (self.size, self.size):
            batch = F.interpolate(batch, size=(self.size, self.size), mode="bilinear", align_corners=False,
                                  antialias=batch.shape[-1] > self.size)
        if train:
            batch = random_shift(batch, padding=self.shift_padding, generator=generator)
            if self.flip:
                batch = random_flip(batch, generator=generator)
        # Normalized last so the zero padding of a shift is black, as in the reference recipes.
        if self.stats is not None:
            mean, std = (torch.tensor(s, dtype=batch.dtype, device=batch.device).view(1, -1, 1, 1)
                         for s in self.stats)
            batch = (batch - mean) / std
        return batch
