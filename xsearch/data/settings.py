"""What data a run trains on, validated the moment it is set.

Every setting is a plain value so that Hydra overrides (`data.batch_size=128`)
map onto it directly. Checks that need the disk (does the root hold the
dataset?) happen when the datamodule is built, not here, so that a config file
can name a dataset without the dataset being present.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xsearch import validate
from xsearch.validate import ConfigError, bad

NAMES = ("digits", "cifar10", "cifar100", "imagefolder", "synthetic")
NORMALIZATIONS = ("dataset", "inception", "none")
ON_DISK = ("cifar10", "cifar100", "imagefolder")

DEFAULT_SIZE = {"digits": 32, "cifar10": 32, "cifar100": 32, "imagefolder": 299, "synthetic": 32}
# imagefolder decodes every image as RGB, whatever the files hold.
FIXED_CHANNELS = {"digits": 1, "cifar10": 3, "cifar100": 3, "imagefolder": 3}
FIXED_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100}
SYNTHETIC_CHANNELS = 3
SYNTHETIC_CLASSES = 10


class DataError(ConfigError):
    """A dataset that is missing or malformed; the message names the path and the layout expected.

    A ConfigError because the fix is nearly always a setting (`data.root`,
    `data.download`), and the app reports both kinds the same way.
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSettings:
    name: str = "digits"
    root: str | None = None
    download: bool = False
    batch_size: int = 64
    size: int | None = None
    channels: int | None = None
    num_classes: int | None = None
    val_fraction: float = 0.2
    split_seed: int = 0
    augment: bool = True
    normalize: str = "dataset"
    num_workers: int = 2
    on_device: bool = True
    train_samples: int = 512
    val_samples: int = 128

    def __post_init__(self) -> None:
        if self.normalize is None:  # Hydra's `null` reads as "no normalization"
            object.__setattr__(self, "normalize", "none")
        validate.choice("data.name", self.name, NAMES)
        validate.choice("data.normalize", self.normalize, NORMALIZATIONS)
        if self.root is not None:
            if not isinstance(self.root, (str, Path)) or not str(self.root).strip():
                raise bad("data.root", self.root, "null or a directory path")
            # Resolved once, here, so every message and log names the same absolute path.
            object.__setattr__(self, "root", str(Path(self.root).expanduser().resolve()))
        for flag in ("download", "augment", "on_device"):
            validate.boolean(f"data.{flag}", getattr(self, flag))
        for key, low in (("batch_size", 1), ("split_seed", 0), ("num_workers", 0),
                         ("train_samples", 1), ("val_samples", 1)):
            validate.integer(f"data.{key}", getattr(self, key), low=low)
        for key in ("size", "channels", "num_classes"):
            validate.integer(f"data.{key}", getattr(self, key), low=1, optional=True)
        validate.number("data.val_fraction", self.val_fraction, low=0, high=1, low_open=True, high_open=True)
        self._check_fixed("channels", FIXED_CHANNELS)
        self._check_fixed("num_classes", FIXED_CLASSES)

    def _check_fixed(self, key: str, fixed: Mapping[str, int]) -> None:
        """Datasets whose channel or class count is a fact reject any other value rather than ignore it."""
        value, real = getattr(self, key), fixed.get(self.name)
        if value is not None and real is not None and value != real:
            raise bad(f"data.{key}", value, f"null or {real} ({self.name} has {real})")

    @property
    def input_size(self) -> int:
        """The side H = W of every batch: `size`, else the dataset's own."""
        return self.size if self.size is not None else DEFAULT_SIZE[self.name]

    @property
    def input_channels(self) -> int:
        if self.name == "synthetic":
            return self.channels if self.channels is not None else SYNTHETIC_CHANNELS
        return FIXED_CHANNELS[self.name]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DataSettings:
        """Build from a config node, naming any key that is not a setting."""
        return validate.from_mapping(cls, values, "data")

    def replace(self, **changes: Any) -> DataSettings:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
