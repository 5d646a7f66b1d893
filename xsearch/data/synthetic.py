"""Random images with random labels, any shape: for benchmarks that time the model, not the data.

Nothing in them can be learned; they exist so a run needs no dataset on disk.
"""

from __future__ import annotations

import functools
import math

import torch

from xsearch.data.module import InMemoryDataModule, InMemorySource, TensorSplits
from xsearch.data.settings import SyntheticSettings
from xsearch.data.splits import SplitRecord, tensor_identity

# Pixels are uniform over 0..255, whose mean and std on [0, 1] are known exactly.
UNIFORM_MEAN = 0.5
UNIFORM_STD = math.sqrt((256**2 - 1) / 12) / 255


def synthetic_datamodule(settings: SyntheticSettings, *, seed: int) -> InMemoryDataModule:
    load = functools.partial(make_synthetic, channels=settings.channels, size=settings.input_size,
                             num_classes=settings.num_classes, train_samples=settings.train_samples,
                             val_samples=settings.val_samples, test_samples=settings.test_samples,
                             seed=settings.split_seed)
    source = InMemorySource(num_classes=settings.num_classes, channels=settings.channels, shift_fraction=0.0,
                            flip=False, load=load)
    return InMemoryDataModule(settings=settings, source=source, seed=seed)


def make_synthetic(*, channels: int, size: int, num_classes: int, train_samples: int, val_samples: int,
                   test_samples: int, seed: int) -> TensorSplits:
    # Own generator: the same tensors for the same settings, whatever the global seed.
    generator = torch.Generator().manual_seed(seed)
    total = train_samples + val_samples + test_samples
    # uint8, like CIFAR, so large benchmark shapes cost a quarter of the memory.
    images = torch.randint(0, 256, (total, channels, size, size), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, num_classes, (total,), generator=generator)
    val_end = train_samples + val_samples
    record = SplitRecord(train=train_samples, val=val_samples, test=test_samples, val_from="generated",
                         test_from="generated apart", image_set=tensor_identity(images[val_end:], labels[val_end:]))
    return TensorSplits(train_images=images[:train_samples], train_labels=labels[:train_samples],
                        val_images=images[train_samples:val_end], val_labels=labels[train_samples:val_end],
                        test_images=images[val_end:], test_labels=labels[val_end:],
                        stats=((UNIFORM_MEAN,) * channels, (UNIFORM_STD,) * channels), record=record)
