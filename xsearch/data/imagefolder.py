"""Any image classification set laid out one folder per class, e.g. ImageNet: decoded from disk by workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from xsearch.data.normalization import IMAGENET_STATS, mean_std
from xsearch.data.settings import DataError, DataSettings

LAYOUT = "<root>/train/<class>/*.png|jpg and <root>/val/<class>/* with the same class folders in both"
# Evaluation resizes to side / 0.875 before the centre crop, the usual ImageNet ratio.
RESIZE_RATIO = 1.14
SHOWN_CLASSES = 20  # longer class lists are cut in messages


class ImageFolderDataModule(pl.LightningDataModule):
    def __init__(self, *, settings: DataSettings, seed: int = 0):
        super().__init__()
        self.settings = settings
        self.seed = seed
        self.root = require_root(settings)
        # Class folders are checked now, not in setup(), so a wrong root fails before any model is built.
        self.classes = matching_classes(self.root)
        if settings.num_classes is not None and settings.num_classes != len(self.classes):
            raise DataError(f"data.num_classes={settings.num_classes} does not match the {len(self.classes)} "
                            f"class folders in {self.root / 'train'}; set data.num_classes=null to count them")
        self.num_classes = len(self.classes)
        self.channels = settings.input_channels
        self.size = settings.input_size
        self.train_set: ImageFolder | None = None
        self.val_set: ImageFolder | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = open_split(self.root / "train", image_transform(self.settings, train=True))
            self.val_set = open_split(self.root / "val", image_transform(self.settings, train=False))

    def train_dataloader(self) -> DataLoader:
        if self.train_set is not None and len(self.train_set) < self.settings.batch_size:
            raise DataError(f"data.batch_size={self.settings.batch_size} is invalid: {self.root / 'train'} holds "
                            f"only {len(self.train_set)} images, so dropping the last partial batch leaves none; "
                            f"expected at most {len(self.train_set)}")
        # Seeded so single-process runs see a repeatable order; under DDP Lightning swaps in a
        # DistributedSampler, which shards and reshuffles per epoch on its own.
        return self._loader(self.train_set, shuffle=True, generator=torch.Generator().manual_seed(self.seed))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def _loader(self, dataset: ImageFolder | None, *, shuffle: bool,
                generator: torch.Generator | None = None) -> DataLoader:
        if dataset is None:
            raise RuntimeError("setup() must run before a dataloader is requested")
        workers = self.settings.num_workers
        # drop_last on training only: a last batch of one sample breaks batch norm.
        return DataLoader(dataset, batch_size=self.settings.batch_size, shuffle=shuffle, drop_last=shuffle,
                          num_workers=workers, pin_memory=torch.cuda.is_available(),
                          persistent_workers=workers > 0, generator=generator)


def require_root(settings: DataSettings) -> Path:
    if settings.root is None:
        raise DataError(f"data.root=None is invalid for imagefolder: expected a directory laid out as {LAYOUT}")
    root = Path(settings.root)
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise DataError(f"data.root={root}: {root / split} is not a directory; expected {LAYOUT}")
    return root


def class_folders(split: Path) -> list[str]:
    # The same rule ImageFolder applies: every subdirectory, sorted, is a class.
    return sorted(entry.name for entry in os.scandir(split) if entry.is_dir())


def matching_classes(root: Path) -> list[str]:
    train, val = class_folders(root / "train"), class_folders(root / "val")
    if not train:
        raise DataError(f"data.root={root}: {root / 'train'} has no class folders; expected {LAYOUT}")
    if train != val:
        only_train, only_val = sorted(set(train) - set(val)), sorted(set(val) - set(train))
        raise DataError(f"data.root={root}: train/ and val/ class folders differ (only in train: "
                        f"{shown(only_train)}; only in val: {shown(only_val)}); train/ has {shown(train)}, "
                        f"val/ has {shown(val)}; expected {LAYOUT}")
    empty = [name for name in train for split in ("train", "val") if not has_image(root / split / name)]
    if empty:
        raise DataError(f"data.root={root}: class folder(s) {shown(sorted(set(empty)))} hold no image "
                        f"({', '.join(IMG_EXTENSIONS)}) in train/ or val/; expected {LAYOUT}")
    return train


def shown(names: list[str]) -> str:
    cut = names[:SHOWN_CLASSES]
    more = f", ... ({len(names)} in all)" if len(names) > SHOWN_CLASSES else ""
    return "[" + ", ".join(cut) + more + "]"


def has_image(folder: Path) -> bool:
    """Stops at the first image, so checking ImageNet's thousand folders stays cheap."""
    for _, _, files in os.walk(folder, followlinks=True):
        if any(name.lower().endswith(IMG_EXTENSIONS) for name in files):
            return True
    return False


def open_split(folder: Path, transform: transforms.Compose) -> ImageFolder:
    try:
        return ImageFolder(str(folder), transform=transform)
    except (FileNotFoundError, OSError) as error:
        raise DataError(f"{folder} could not be read as an image folder ({error}); expected {LAYOUT}") from error


def image_transform(settings: DataSettings, *, train: bool) -> transforms.Compose:
    size = settings.input_size
    if train and settings.augment:
        steps = [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()]
    else:
        steps = [transforms.Resize(int(size * RESIZE_RATIO)), transforms.CenterCrop(size)]
    steps.append(transforms.ToTensor())
    stats = mean_std(settings.normalize, dataset_stats=IMAGENET_STATS, channels=settings.input_channels)
    if stats is not None:
        steps.append(transforms.Normalize(*stats))
    return transforms.Compose(steps)
