"""Any image classification set laid out one folder per class, e.g. ImageNet: decoded from disk by workers.

For a set small enough for memory (CIFAR-10 as JPEG files, a few thousand images), `data=imagefolder_memory`
decodes it once and trains from memory instead (xsearch/data/imagefolder_memory.py).
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms
from torchvision.datasets import ImageFolder

from xsearch.data.folders import LAYOUT, check_class_count, checked_root
from xsearch.data.normalization import IMAGENET_STATS, mean_std
from xsearch.data.settings import DataError, ImageFolderSettings
from xsearch.data.splits import SplitRecord, carve_record, listing_identity, stratified_carve

# Evaluation resizes to side / 0.875 before the centre crop, the usual ImageNet ratio.
RESIZE_RATIO = 1.14
CHANNELS = 3  # every image is decoded as RGB


class ImageFolderDataModule(pl.LightningDataModule):
    def __init__(self, *, settings: ImageFolderSettings, seed: int = 0):
        super().__init__()
        self.settings = settings
        self.seed = seed
        self.root = Path(settings.root)
        # Checked now, not in setup(), so a wrong root fails before any model is built.
        self.roles, self.classes = checked_root(self.root)
        check_class_count(settings.num_classes, self.classes, self.root)
        self.num_classes = len(self.classes)
        self.channels = CHANNELS
        self.size = settings.input_size
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: ImageFolder | None = None
        self.record: SplitRecord | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        evaluate = image_transform(self.settings, train=False)
        train = open_split(self.root / "train", image_transform(self.settings, train=True))
        self.test_set = open_split(self.root / self.roles.score, evaluate)
        identity = listing_identity((str(Path(path).relative_to(self.root)), label)
                                    for path, label in self.test_set.samples)
        if self.roles.choose is None:  # val carved out of train/, seen through the evaluation transform
            kept, held = stratified_carve(torch.tensor(train.targets), self.settings.val_fraction,
                                          seed=self.settings.split_seed, what="data.val_fraction")
            self.train_set = Subset(train, kept.tolist())
            self.val_set = Subset(open_split(self.root / "train", evaluate), held.tolist())
            carves = {"val": carve_record("train/", self.settings.val_fraction, self.settings.split_seed, len(held))}
            val_from = "carved from train/"
        else:
            self.train_set, carves, val_from = train, {}, f"{self.roles.choose}/"
            self.val_set = self.test_set if self.roles.choose == self.roles.score else open_split(
                self.root / self.roles.choose, evaluate)
        self.record = SplitRecord(train=len(self.train_set), val=len(self.val_set), test=len(self.test_set),
                                  val_from=val_from, test_from=f"{self.roles.score}/", image_set=identity,
                                  carves=carves, shared=self.roles.choose == self.roles.score)

    @property
    def split_record(self) -> SplitRecord:
        if self.record is None:
            raise RuntimeError("setup() must run before the splits are known")
        return self.record

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

    def scoring_dataloader(self) -> DataLoader:
        """This rank's share of the scoring images, every one scored once: image r, r + W, ... on rank r of W."""
        if self.test_set is None:
            raise RuntimeError("setup() must run before a dataloader is requested")
        rank, world_size = (0, 1) if self.trainer is None else (self.trainer.global_rank, self.trainer.world_size)
        return self._loader(Subset(self.test_set, range(rank, len(self.test_set), world_size)), shuffle=False)

    def _loader(self, dataset: Dataset | None, *, shuffle: bool,
                generator: torch.Generator | None = None) -> DataLoader:
        if dataset is None:
            raise RuntimeError("setup() must run before a dataloader is requested")
        workers = self.settings.num_workers
        # drop_last on training only: a last batch of one sample breaks batch norm.
        return DataLoader(dataset, batch_size=self.settings.batch_size, shuffle=shuffle, drop_last=shuffle,
                          num_workers=workers, pin_memory=torch.cuda.is_available(),
                          persistent_workers=workers > 0, generator=generator)


def imagefolder_datamodule(settings: ImageFolderSettings, *, seed: int) -> ImageFolderDataModule:
    return ImageFolderDataModule(settings=settings, seed=seed)


def open_split(folder: Path, transform: transforms.Compose) -> ImageFolder:
    try:
        return ImageFolder(str(folder), transform=transform)
    except (FileNotFoundError, OSError) as error:
        raise DataError(f"{folder} could not be read as an image folder ({error}); expected {LAYOUT}") from error


def image_transform(settings: ImageFolderSettings, *, train: bool) -> transforms.Compose:
    size = settings.input_size
    if train and settings.augment:
        steps = [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()]
    else:
        steps = [transforms.Resize(int(size * RESIZE_RATIO)), transforms.CenterCrop(size)]
    steps.append(transforms.ToTensor())
    stats = mean_std(settings.normalize, dataset_stats=IMAGENET_STATS, channels=CHANNELS)
    if stats is not None:
        steps.append(transforms.Normalize(*stats))
    return transforms.Compose(steps)
