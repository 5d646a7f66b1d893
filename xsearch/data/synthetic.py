"""Random images with random labels, any shape: for benchmarks that time the model, not the data.

Nothing in them can be learned; they exist so a run needs no dataset on disk.
"""

from __future__ import annotations

import functools
import math

import torch

from xsearch.data.module import InMemorySource, TensorSplits
from xsearch.data.settings import SYNTHETIC_CLASSES, DataSettings

# Pixels are uniform over 0..255, whose mean and std on [0, 1] are known exactly.
UNIFORM_MEAN = 0.5
UNIFORM_STD = math.sqrt((256**2 - 1) / 12) / 255


def synthetic_source(settings: DataSettings) -> InMemorySource:
    num_classes = settings.num_classes if settings.num_classes is not None else SYNTHETIC_CLASSES
    load = functools.partial(make_synthetic, channels=settings.input_channels, size=settings.input_size,
                             num_classes=num_classes, train_samples=settings.train_samples,
                             val_samples=settings.val_samples, seed=settings.split_seed)
    return InMemorySource(num_classes=num_classes, channels=settings.input_channels, shift_fraction=0.0,
                          flip=False, load=load)


def make_synthetic(*, channels: int, size: int, num_classes: int, train_samples: int, val_samples: int,
                   seed: int) -> TensorSplits:
    # Own generator: the same tensors for the same settings, whatever the global seed.
    generator = torch.Generator().manual_seed(seed)
    # uint8, like CIFAR, so large benchmark shapes cost a quarter of the memory.
    images = torch.randint(0, 256, (train_samples + val_samples, channels, size, size), dtype=torch.uint8,
                           generator=generator)
    labels = torch.randint(0, num_classes, (train_samples + val_samples,), generator=generator)
    return TensorSplits(train_images=images[:train_samples], train_labels=labels[:train_samples],
                        val_images=images[train_samples:], val_labels=labels[train_samples:],
                        stats=((UNIFORM_MEAN,) * channels, (UNIFORM_STD,) * channels))
