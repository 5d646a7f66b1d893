"""What data a run trains on: the settings every dataset takes, the ones in-memory datasets add, and the check
that turns a config node into the settings of the dataset it names.

Each dataset's module defines its own settings class, holding only what that dataset uses, and its YAML in
conf/data/ holds the values (the one home of every default). Checks that need the disk (does the root hold
the dataset?) happen when the datamodule is built, so a config can name a dataset that is not there yet.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from xsearch import validate
from xsearch.validate import ConfigError, bad

NORMALIZATIONS = ("dataset", "inception", "none")


class DataError(ConfigError):
    """A dataset that is missing or malformed; the message names the path and the layout expected.

    A ConfigError because the fix is nearly always a setting (`data.root`, `data.download`), and the app
    reports both kinds the same way.
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSettings:
    """What every dataset takes."""

    name: str
    batch_size: int
    size: int | None  # the side H = W of every batch; null: the dataset's own
    normalize: str  # dataset (its own mean/std) | inception ([-1, 1]) | none ([0, 1])

    NATIVE_SIZE: ClassVar[int] = 32  # the side of the dataset's images, used when `size` is null

    def __post_init__(self) -> None:
        if self.normalize is None:  # Hydra's `null` reads as "no normalization"
            object.__setattr__(self, "normalize", "none")
        validate.choice("data.normalize", self.normalize, NORMALIZATIONS)
        validate.integer("data.batch_size", self.batch_size, low=1)
        validate.integer("data.size", self.size, low=1, optional=True)

    @property
    def input_size(self) -> int:
        return self.size if self.size is not None else self.NATIVE_SIZE


    @staticmethod
    def _root(value: str | None, *, required: str) -> str:
        """An absolute root (so every message and log names the same path), or a DataError saying what it must
        hold."""
        if value is None:
            raise DataError(f"data.root=None is invalid: expected {required}; set data.root=<dir>")
        if not isinstance(value, (str, Path)) or not str(value).strip():
            raise bad("data.root", value, "a directory path")
        return str(Path(value).expanduser().resolve())


@dataclasses.dataclass(frozen=True, kw_only=True)
class InMemorySettings(DataSettings):
    """Datasets held as tensors (on the training device) and augmented a batch at a time."""

    augment: bool
    on_device: bool  # keep the whole set on the training device (a GPU's memory), not in host memory

    def __post_init__(self) -> None:
        super().__post_init__()
        validate.boolean("data.augment", self.augment)
        validate.boolean("data.on_device", self.on_device)
