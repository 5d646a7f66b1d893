"""Picks the datamodule for `data.name`."""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl

from xsearch.data.cifar import cifar_source
from xsearch.data.digits import digits_source
from xsearch.data.imagefolder import ImageFolderDataModule
from xsearch.data.module import InMemoryDataModule, InMemorySource
from xsearch.data.settings import DataSettings
from xsearch.data.synthetic import synthetic_source

IN_MEMORY: dict[str, Callable[[DataSettings], InMemorySource]] = {
    "digits": digits_source,
    "cifar10": cifar_source,
    "cifar100": cifar_source,
    "synthetic": synthetic_source,
}


def build_datamodule(settings: DataSettings, *, seed: int = 0) -> pl.LightningDataModule:
    """The datamodule for `settings`, with `num_classes`, `channels` and `size` already known.

    A missing or malformed dataset raises DataError here, before any model is
    built. `seed` orders the training batches; the train/val split and the
    synthetic tensors follow `settings.split_seed` instead, so they stay put
    when only the training seed changes.
    """
    if settings.name == "imagefolder":
        return ImageFolderDataModule(settings=settings, seed=seed)
    return InMemoryDataModule(settings=settings, source=IN_MEMORY[settings.name](settings), seed=seed)
