"""Every dataset xsearch knows: its name, its settings and how to build its datamodule.

Adding a dataset is its own module (a settings class holding only what it uses, and a function that builds
its datamodule), its YAML in conf/data/, and one entry here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pytorch_lightning as pl

from xsearch import validate
from xsearch.data.cifar import CifarSettings, cifar_datamodule
from xsearch.data.digits import DigitsSettings, digits_datamodule
from xsearch.data.imagefolder import ImageFolderSettings, imagefolder_datamodule
from xsearch.data.imagefolder_memory import ImageFolderMemorySettings, imagefolder_memory_datamodule
from xsearch.data.settings import DataSettings
from xsearch.data.synthetic import SyntheticSettings, synthetic_datamodule


@dataclasses.dataclass(frozen=True)
class Dataset:
    settings: type[DataSettings]
    datamodule: Callable[..., pl.LightningDataModule]  # (settings, *, seed) -> datamodule


DATASETS = {
    "digits": Dataset(DigitsSettings, digits_datamodule),
    "cifar10": Dataset(CifarSettings, cifar_datamodule),
    "cifar100": Dataset(CifarSettings, cifar_datamodule),
    "imagefolder": Dataset(ImageFolderSettings, imagefolder_datamodule),
    "imagefolder_memory": Dataset(ImageFolderMemorySettings, imagefolder_memory_datamodule),
    "synthetic": Dataset(SyntheticSettings, synthetic_datamodule),
}


def data_settings(values: Mapping[str, Any]) -> DataSettings:
    """The settings of the dataset `values["name"]` names, every key checked against that dataset's."""
    name = values.get("name")
    validate.choice("data.name", name, DATASETS)
    return validate.from_mapping(DATASETS[name].settings, values, f"data ({name})")


def build_datamodule(settings: DataSettings, *, seed: int = 0) -> pl.LightningDataModule:
    """The datamodule for `settings`, with `num_classes`, `channels` and `size` already known.

    A missing or malformed dataset raises DataError here, before any model is built. `seed` orders the
    training batches; a dataset's split and synthetic tensors follow its own `split_seed`, so they stay put
    when only the training seed changes.
    """
    return DATASETS[settings.name].datamodule(settings, seed=seed)
