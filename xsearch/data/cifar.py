"""CIFAR-10 and CIFAR-100, read straight from torchvision's on-disk pickle layout.

Read here rather than through torchvision's CIFAR classes because those verify
md5 checksums of every file, which rules out small test fixtures and turns a
wrong `data.root` into a vague "corrupted" message. torchvision is still what
downloads the files when `data.download=true`.
"""

from __future__ import annotations

import dataclasses
import functools
import pickle
from pathlib import Path

import numpy as np
import torch

from xsearch.data.module import InMemoryDataModule, InMemorySource, TensorSplits, carved_splits
from xsearch.data.normalization import CIFAR10_STATS, CIFAR100_STATS, Stats
from xsearch.data.settings import CIFAR_CLASSES, CifarSettings, DataError

SIDE = 32
PIXELS = 3 * SIDE * SIDE  # one row of `data`, channel-major
# Padding 4 at 32 pixels, the standard CIFAR recipe, scaled with the side when resized.
SHIFT_FRACTION = 4 / 32


@dataclasses.dataclass(frozen=True, kw_only=True)
class CifarLayout:
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    num_classes: int
    stats: Stats
    files_shown: str  # the file set as messages show it

    def describe(self) -> str:
        return f"<root>/{self.folder}/{{{self.files_shown}}}"


LAYOUTS = {
    "cifar10": CifarLayout(title="CIFAR-10", folder="cifar-10-batches-py",
                           train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_files=("test_batch",),
                           label_key="labels", num_classes=CIFAR_CLASSES["cifar10"], stats=CIFAR10_STATS,
                           files_shown="data_batch_1..5,test_batch"),
    "cifar100": CifarLayout(title="CIFAR-100", folder="cifar-100-python", train_files=("train",),
                            test_files=("test",), label_key="fine_labels", num_classes=CIFAR_CLASSES["cifar100"],
                            stats=CIFAR100_STATS,
                            files_shown="train,test"),
}


def cifar_datamodule(settings: CifarSettings, *, seed: int) -> InMemoryDataModule:
    layout = LAYOUTS[settings.name]
    root = Path(settings.root)
    if not settings.download:
        check_present(root, layout)  # at construction, so a wrong root fails before any model is built
    source = InMemorySource(num_classes=layout.num_classes, channels=3, shift_fraction=SHIFT_FRACTION, flip=True,
                            load=functools.partial(load_cifar, root, layout, val_fraction=settings.val_fraction,
                                                   split_seed=settings.split_seed),
                            fetch=functools.partial(fetch_cifar, root, layout) if settings.download else None)
    return InMemoryDataModule(settings=settings, source=source, seed=seed)


def missing_files(root: Path, layout: CifarLayout) -> list[str]:
    return [name for name in layout.train_files + layout.test_files if not (root / layout.folder / name).is_file()]


def check_present(root: Path, layout: CifarLayout) -> None:
    missing = missing_files(root, layout)
    if missing:
        raise DataError(f"data.root={root}: {layout.title} not found, {root / layout.folder} lacks "
                        f"{', '.join(missing)}; expected torchvision's layout {layout.describe()}; "
                        f"set data.download=true to fetch it, or point data.root at the directory above "
                        f"{layout.folder}/")


def fetch_cifar(root: Path, layout: CifarLayout) -> None:
    """Download through torchvision, only when something is missing, then leave reading to `load_cifar`."""
    if not missing_files(root, layout):
        return
    import torchvision.datasets

    dataset_class = torchvision.datasets.CIFAR10 if layout.num_classes == 10 else torchvision.datasets.CIFAR100
    dataset_class(str(root), train=True, download=True)


def load_cifar(root: Path, layout: CifarLayout, *, val_fraction: float, split_seed: int) -> TensorSplits:
    check_present(root, layout)
    train_images, train_labels = read_files(root, layout, layout.train_files)
    test_images, test_labels = read_files(root, layout, layout.test_files)
    return carved_splits(images=train_images, labels=train_labels, test_images=test_images, test_labels=test_labels,
                         stats=lambda _: layout.stats, fraction=val_fraction, seed=split_seed,
                         source=f"the training batches ({layout.files_shown.rsplit(',', 1)[0]})",
                         test_from=layout.test_files[0])


def read_files(root: Path, layout: CifarLayout, names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_batch(root / layout.folder / name, layout) for name in names]
    images = torch.cat([torch.from_numpy(images) for images, _ in parts])
    labels = torch.cat([torch.from_numpy(labels) for _, labels in parts])
    return images.view(-1, 3, SIDE, SIDE), labels


def read_batch(path: Path, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch: uint8 images `[N, 3072]` and int64 labels `[N]`, checked against the layout."""
    expected = (f"a pickled dict with 'data' (N x {PIXELS} uint8) and '{layout.label_key}' (N labels in "
                f"0..{layout.num_classes - 1}), as in torchvision's layout {layout.describe()}")
    try:
        with path.open("rb") as file:
            # latin1 is how the original Python 2 pickles decode: str keys, bytes kept as-is.
            batch = pickle.load(file, encoding="latin1")
        images = np.ascontiguousarray(batch["data"])
        labels = np.asarray(batch[layout.label_key], dtype=np.int64)
    except Exception as error:  # any unreadable file gets the same message naming it and the layout
        raise DataError(f"{path} is not a {layout.title} batch ({type(error).__name__}: {error}); "
                        f"expected {expected}") from error
    if (images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != PIXELS
            or labels.shape != (images.shape[0],)):
        raise DataError(f"{path} holds {images.dtype} data of shape {images.shape} and {labels.size} labels; "
                        f"expected {expected}")
    if labels.size and not (0 <= labels.min() and labels.max() < layout.num_classes):
        raise DataError(f"{path} holds labels {labels.min()}..{labels.max()}; expected {expected}")
    return images, labels
