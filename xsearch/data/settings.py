"""What data a run trains on: each dataset's settings (only what that dataset uses), and the shape of its
batches (classes, channels, side), all known without torch.

Each dataset's YAML in conf/data/ holds its values; the classes here hold the types, ranges and rules.
`data_settings` picks the class by `data.name`. `shape` answers what the plan needs before any data loads: a
folder dataset counts its class folders, so a wrong root fails here, naming what was expected.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from xsearch.schema import ConfigError, Schema, bad, nearest

Fraction = Annotated[float, Field(gt=0, lt=1)]
Seed = Annotated[int, Field(ge=0)]


class DataError(ConfigError):
    """A dataset that is missing or malformed; the message names the path and the layout expected.

    A ConfigError because the fix is nearly always a setting (`data.root`, `data.download`), and the app
    reports both kinds the same way.
    """


@dataclasses.dataclass(frozen=True)
class DataShape:
    """What the network needs of the data: classes, input channels and the side H = W of every batch."""

    num_classes: int
    channels: int
    size: int


class DataSettings(Schema):
    """What every dataset takes."""

    section = "data"

    name: str
    batch_size: Annotated[int, Field(ge=1)]
    size: Annotated[int, Field(ge=1)] | None  # the side H = W of every batch; null: the dataset's own
    normalize: Literal["dataset", "inception", "none"]  # its own mean/std | [-1, 1] | [0, 1]

    NATIVE_SIZE: ClassVar[int] = 32  # the side of the dataset's images, used when `size` is null

    @field_validator("normalize", mode="before")
    @classmethod
    def _null_is_none(cls, value: Any) -> Any:
        return "none" if value is None else value  # Hydra's `null` reads as "no normalization"

    @property
    def input_size(self) -> int:
        return self.size if self.size is not None else self.NATIVE_SIZE

    def shape(self) -> DataShape:
        raise NotImplementedError


def _absolute_root(value: Any, required: str) -> str:
    """An absolute root (so every message and log names the same path), or a DataError saying what it must
    hold."""
    if value is None:
        raise DataError(f"data.root=None is invalid: expected {required}; set data.root=<dir>")
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise bad("data.root", value, "a directory path")
    return str(Path(value).expanduser().resolve())


class InMemorySettings(DataSettings):
    """Datasets held as tensors (on the training device) and augmented a batch at a time."""

    augment: bool
    on_device: bool  # keep the whole set on the training device (a GPU's memory), not in host memory


class DigitsSettings(InMemorySettings):
    """scikit-learn's bundled 8x8 digits, upsampled to `size`."""

    name: Literal["digits"]
    test_fraction: Fraction  # share of all digits held out for scoring
    val_fraction: Fraction  # share of all digits held out for choosing (epoch, pruning, the sweep's objective)
    split_seed: Seed  # fixes both carves, independent of the training seed

    NUM_CLASSES: ClassVar[int] = 10

    @model_validator(mode="after")
    def _leaves_training_digits(self) -> DigitsSettings:
        if self.test_fraction + self.val_fraction >= 1:
            raise bad("data.val_fraction", self.val_fraction, f"a share that, with data.test_fraction="
                      f"{self.test_fraction}, leaves digits to train on (the two add up to less than 1)")
        return self

    def shape(self) -> DataShape:
        return DataShape(self.NUM_CLASSES, 1, self.input_size)


CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}  # the layouts themselves: xsearch/data/cifar.py


class CifarSettings(InMemorySettings):
    """CIFAR-10 and CIFAR-100 in torchvision's on-disk layout."""

    name: Literal["cifar10", "cifar100"]
    root: str  # the directory holding torchvision's layout (cifar-10-batches-py/ or cifar-100-python/)
    download: bool  # let torchvision fetch the files into root first
    val_fraction: Fraction  # share of the training images carved out for choosing; the test batch scores
    split_seed: Seed  # fixes the carve, independent of the training seed

    @model_validator(mode="before")
    @classmethod
    def _root(cls, values: Any) -> Any:
        if isinstance(values, dict):
            values = {**values, "root": _absolute_root(values.get("root"), (
                "the directory holding torchvision's layout, cifar-10-batches-py/ or cifar-100-python/ (with "
                "data.download=true to fetch it there)"))}
        return values

    def shape(self) -> DataShape:
        return DataShape(CIFAR_CLASSES[self.name], 3, self.input_size)


class _FolderRoot(Schema):
    """A root laid out as `folders.LAYOUT`, made absolute."""

    @model_validator(mode="before")
    @classmethod
    def _root(cls, values: Any) -> Any:
        from xsearch.data.folders import LAYOUT  # (folders.py raises this module's DataError)

        if isinstance(values, dict):
            values = {**values, "root": _absolute_root(values.get("root"), f"a directory laid out as {LAYOUT}")}
        return values

    def folder_classes(self) -> int:
        """The class folders' count, once the layout is checked; data.num_classes, where set, must match it."""
        from xsearch.data import folders

        root = Path(self.root)  # type: ignore[attr-defined]
        _, classes = folders.checked_root(root)
        folders.check_class_count(self.num_classes, classes, root)  # type: ignore[attr-defined]
        return len(classes)


class ImageFolderSettings(DataSettings, _FolderRoot):
    """Any image folder, decoded from disk by DataLoader workers (ImageNet scale)."""

    name: Literal["imagefolder"]
    root: str  # the directory holding train/ and test/ and/or val/
    augment: bool  # RandomResizedCrop + horizontal flip; off: resize + centre crop
    num_workers: Annotated[int, Field(ge=0)]  # DataLoader worker processes decoding images
    num_classes: Annotated[int, Field(ge=1)] | None  # null: the number of class folders; if set, must equal it
    val_fraction: Fraction  # share of train/ carved out for choosing when there is test/ but no val/
    split_seed: Seed  # fixes the carve, independent of the training seed

    NATIVE_SIZE: ClassVar[int] = 299  # the paper's input

    def shape(self) -> DataShape:
        return DataShape(self.folder_classes(), 3, self.input_size)


class ImageFolderMemorySettings(InMemorySettings, _FolderRoot):
    """A small image folder, decoded once into a cached uint8 tensor and trained from memory."""

    name: Literal["imagefolder_memory"]
    root: str  # the directory holding train/ and test/ and/or val/
    num_classes: Annotated[int, Field(ge=1)] | None  # null: the number of class folders; if set, must equal it
    cache_dir: str | None  # where decoded folders are kept; null: $XDG_CACHE_HOME/xsearch or ~/.cache/xsearch
    val_fraction: Fraction  # share of train/ carved out for choosing when there is test/ but no val/
    split_seed: Seed  # fixes the carve, independent of the training seed

    @property
    def cache(self) -> Path:
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xsearch"

    def shape(self) -> DataShape:
        return DataShape(self.folder_classes(), 3, self.input_size)


class SyntheticSettings(DataSettings):
    """Random tensors with random labels: for timing and tests, learnable by nothing."""

    name: Literal["synthetic"]
    channels: Annotated[int, Field(ge=1)]
    num_classes: Annotated[int, Field(ge=1)]
    train_samples: Annotated[int, Field(ge=1)]
    val_samples: Annotated[int, Field(ge=1)]
    test_samples: Annotated[int, Field(ge=1)]
    split_seed: Seed  # seeds the random tensors
    on_device: bool  # keep the whole set on the training device

    # Nothing to augment: random pixels have no content a shift or a flip would keep.
    augment: ClassVar[bool] = False

    def shape(self) -> DataShape:
        return DataShape(self.num_classes, self.channels, self.input_size)


# Every dataset xsearch knows, by `data.name`; its datamodule is xsearch/data/registry.py's.
SETTINGS: dict[str, type[DataSettings]] = {
    "digits": DigitsSettings, "cifar10": CifarSettings, "cifar100": CifarSettings,
    "imagefolder": ImageFolderSettings, "imagefolder_memory": ImageFolderMemorySettings,
    "synthetic": SyntheticSettings,
}


def data_settings(values: Any) -> DataSettings:
    """The settings of the dataset `values["name"]` names, every key checked against that dataset's."""
    if not isinstance(values, dict):
        raise bad("data", values, "a mapping: choose a file of conf/data/, e.g. data=digits")
    name = values.get("name")
    if name not in SETTINGS:
        raise ConfigError(f"{bad('data.name', name, 'one of ' + ', '.join(SETTINGS))}{nearest(str(name), SETTINGS)}")
    return SETTINGS[name].checked(values, "data")
