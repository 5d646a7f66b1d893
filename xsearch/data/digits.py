"""scikit-learn's bundled handwritten digits: 1797 grayscale 8x8 images of 0-9, no download needed."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from xsearch import validate
from xsearch.data.module import InMemoryDataModule, InMemorySource, TensorSplits
from xsearch.data.normalization import channel_stats
from xsearch.data.settings import InMemorySettings
from xsearch.validate import bad

NUM_CLASSES = 10
PIXEL_MAX = 16.0  # the bundled images count ink on 0..16
# Padding 2 at 32 pixels: a shift of half an original 8x8 pixel. No flip: a mirrored 2 is not a 2.
SHIFT_FRACTION = 2 / 32


@dataclasses.dataclass(frozen=True, kw_only=True)
class DigitsSettings(InMemorySettings):
    val_fraction: float  # share held out for validation
    split_seed: int  # fixes the split, independent of the training seed

    def __post_init__(self) -> None:
        super().__post_init__()
        validate.number("data.val_fraction", self.val_fraction, low=0, high=1, low_open=True, high_open=True)
        validate.integer("data.split_seed", self.split_seed, low=0)



def digits_datamodule(settings: DigitsSettings, *, seed: int) -> InMemoryDataModule:
    load = functools.partial(load_digit_splits, size=settings.input_size, val_fraction=settings.val_fraction,
                             split_seed=settings.split_seed)
    source = InMemorySource(num_classes=NUM_CLASSES, channels=1, shift_fraction=SHIFT_FRACTION, flip=False,
                            load=load)
    return InMemoryDataModule(settings=settings, source=source, seed=seed)


def load_digit_splits(*, size: int, val_fraction: float, split_seed: int) -> TensorSplits:
    # Imported here so that runs on other datasets neither need scikit-learn nor pay for importing it.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().div_(PIXEL_MAX).unsqueeze(1)
    # Resized once here, not per batch: the whole set is only a few MB at 32x32.
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                           antialias=size < images.shape[-1])
    labels = torch.from_numpy(bunch.target).long()
    train, val = split_indices(labels, val_fraction=val_fraction, seed=split_seed)
    return TensorSplits(train_images=images[train], train_labels=labels[train], val_images=images[val],
                        val_labels=labels[val], stats=channel_stats(images[train]))


def split_indices(labels: torch.Tensor, *, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A held-out split fixed by `seed` alone, so every run with the same settings scores on the same images.

    Stratified (each class in the same share on both sides) whenever both sides
    are big enough to hold every class, plain random otherwise.
    """
    from sklearn.model_selection import train_test_split

    total = len(labels)
    val_count = math.ceil(val_fraction * total)
    if val_count >= total:
        raise bad("data.val_fraction", val_fraction, f"a share of the {total} digits that leaves some to train on")
    classes = len(torch.unique(labels))
    stratify = labels.numpy() if min(val_count, total - val_count) >= classes else None
    train, val = train_test_split(np.arange(total), test_size=val_count, stratify=stratify,
                                  random_state=seed % 2**32)
    return torch.from_numpy(np.sort(train)), torch.from_numpy(np.sort(val))
