"""scikit-learn's bundled handwritten digits: 1797 grayscale 8x8 images of 0-9, no download needed."""

from __future__ import annotations

import dataclasses
import functools

import torch
import torch.nn.functional as F

from xsearch.data.module import InMemoryDataModule, InMemorySource, TensorSplits, carved_splits
from xsearch.data.normalization import channel_stats
from xsearch.data.settings import DigitsSettings
from xsearch.data.splits import carve_record, stratified_carve, tensor_identity

PIXEL_MAX = 16.0  # the bundled images count ink on 0..16
# Padding 2 at 32 pixels: a shift of half an original 8x8 pixel. No flip: a mirrored 2 is not a 2.
SHIFT_FRACTION = 2 / 32


def digits_datamodule(settings: DigitsSettings, *, seed: int) -> InMemoryDataModule:
    load = functools.partial(load_digit_splits, size=settings.input_size, test_fraction=settings.test_fraction,
                             val_fraction=settings.val_fraction, split_seed=settings.split_seed)
    source = InMemorySource(num_classes=DigitsSettings.NUM_CLASSES, channels=1, shift_fraction=SHIFT_FRACTION,
                            flip=False, load=load)
    return InMemoryDataModule(settings=settings, source=source, seed=seed)


def load_digit_splits(*, size: int, test_fraction: float, val_fraction: float, split_seed: int) -> TensorSplits:
    """Three stratified parts fixed by `split_seed` alone: the test images first, out of all of them, then val out
    of the rest, each its share of the whole set."""
    # Imported here so that runs on other datasets neither need scikit-learn nor pay for importing it.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().div_(PIXEL_MAX).unsqueeze(1)
    # Resized once here, not per batch: the whole set is only a few MB at 32x32.
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                           antialias=size < images.shape[-1])
    labels = torch.from_numpy(bunch.target).long()
    rest, test = stratified_carve(labels, test_fraction, seed=split_seed, what="data.test_fraction")
    source = f"all {len(labels)} digits"
    # The test digits' identity is that of the 8x8 originals: the same digits at another data.size are the same
    # test images, paired image by image.
    raw = torch.from_numpy(bunch.images)
    splits = carved_splits(images=images[rest], labels=labels[rest], test_images=images[test],
                           test_labels=labels[test], stats=channel_stats, fraction=val_fraction / (1 - test_fraction),
                           seed=split_seed, source=f"the {len(rest)} digits left after the test carve",
                           test_from=f"carved from {source}", image_set=tensor_identity(raw[test], labels[test]))
    record = dataclasses.replace(splits.record, carves={
        "test": carve_record(source, test_fraction, split_seed, len(test)), **splits.record.carves})
    return dataclasses.replace(splits, record=record)
