"""The Lightning datamodule for every dataset small enough to hold in memory."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import Tensor

from xsearch.data.memory import EpochOrder, InMemoryLoader
from xsearch.data.normalization import Stats, mean_std
from xsearch.data.prepare import BatchRecipe
from xsearch.data.settings import DataError, DataSettings
from xsearch.data.splits import SplitRecord, carve_record, stratified_carve, tensor_identity

TENSORS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TensorSplits:
    """Stored images ([N, C, H, W], uint8 on [0, 255] or float on [0, 1]) and int64 labels, for each role
    (xsearch/data/splits.py): train fits, val chooses, test scores. Where a dataset has no test split, test is
    val itself and the record says they are shared."""

    train_images: Tensor
    train_labels: Tensor
    val_images: Tensor
    val_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    stats: Stats  # the dataset's own per-channel mean and std on [0, 1]
    record: SplitRecord

    def to(self, device: torch.device) -> TensorSplits:
        moved: dict[int, Tensor] = {}  # a tensor two roles share is moved once
        for name in TENSORS:
            tensor = getattr(self, name)
            moved.setdefault(id(tensor), tensor.to(device))
        return dataclasses.replace(self, **{name: moved[id(getattr(self, name))] for name in TENSORS})


def carved_splits(*, images: Tensor, labels: Tensor, test_images: Tensor, test_labels: Tensor,
                  stats: Callable[[Tensor], Stats], fraction: float, seed: int, source: str, test_from: str,
                  image_set: str | None = None) -> TensorSplits:
    """Splits for a dataset that ships training and test images: val carved out of the training ones. The test
    images' identity is `image_set` where the caller knows it apart from how the images were resized (a file
    list, the raw images), else a hash of the test tensors."""
    kept, held = stratified_carve(labels, fraction, seed=seed, what="data.val_fraction")
    record = SplitRecord(train=len(kept), val=len(held), test=len(test_labels), val_from=f"carved from {source}",
                         test_from=test_from, image_set=image_set or tensor_identity(test_images, test_labels),
                         carves={"val": carve_record(source, fraction, seed, len(held))})
    return TensorSplits(train_images=images[kept], train_labels=labels[kept], val_images=images[held],
                        val_labels=labels[held], test_images=test_images, test_labels=test_labels,
                        stats=stats(images[kept]), record=record)


@dataclasses.dataclass(frozen=True, kw_only=True)
class InMemorySource:
    """What a dataset contributes: its facts, its augmentation and how to get its tensors."""

    num_classes: int
    channels: int
    shift_fraction: float  # random-shift padding as a share of the side; 0 for none
    flip: bool  # mirroring preserves the label
    load: Callable[[], TensorSplits]
    fetch: Callable[[], None] | None = None  # downloads, once per node, before any load


class InMemoryDataModule(pl.LightningDataModule):
    def __init__(self, *, settings: DataSettings, source: InMemorySource, seed: int = 0):
        super().__init__()
        self.settings = settings
        self.source = source
        self.seed = seed
        # Known before setup() so the model can be sized before any tensor is loaded.
        self.num_classes = source.num_classes
        self.channels = source.channels
        self.size = settings.input_size
        self.splits: TensorSplits | None = None
        self.recipe: BatchRecipe | None = None

    def prepare_data(self) -> None:
        if self.source.fetch is not None:
            self.source.fetch()

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.splits = self.source.load()
            self.recipe = self._recipe(self.splits.stats)
        if self.settings.on_device and self.trainer is not None:
            self.splits = self.splits.to(self.trainer.strategy.root_device)

    def _recipe(self, dataset_stats: Stats) -> BatchRecipe:
        augment = self.settings.augment
        padding = round(self.size * self.source.shift_fraction) if augment else 0
        if augment and self.source.shift_fraction > 0:
            padding = max(padding, 1)
        return BatchRecipe(size=self.size, shift_padding=padding, flip=augment and self.source.flip,
                           stats=mean_std(self.settings.normalize, dataset_stats=dataset_stats,
                                          channels=self.channels))

    def train_dataloader(self) -> InMemoryLoader:
        return self._loader(train=True)

    def val_dataloader(self) -> InMemoryLoader:
        return self._loader(train=False)

    def scoring_dataloader(self) -> InMemoryLoader:
        """This rank's share of the scoring images, every one of them scored once: image r, r + W, r + 2W, ...
        on rank r of W (the scorer gathers them back into image order)."""
        return self._loader(train=False, scoring=True)

    @property
    def split_record(self) -> SplitRecord:
        if self.splits is None:
            raise RuntimeError("setup() must run before the splits are known")
        return self.splits.record

    def _loader(self, *, train: bool, scoring: bool = False) -> InMemoryLoader:
        if self.splits is None or self.recipe is None:
            raise RuntimeError("setup() must run before a dataloader is requested")
        role = "train" if train else "test" if scoring else "val"
        images, labels = getattr(self.splits, f"{role}_images"), getattr(self.splits, f"{role}_labels")
        rank, world_size = (0, 1) if self.trainer is None else (self.trainer.global_rank, self.trainer.world_size)
        order = EpochOrder(len(images), shuffle=train, seed=self.seed, rank=rank, world_size=world_size,
                           every_sample=scoring)
        if train and len(order) < self.settings.batch_size:
            raise DataError(f"data.batch_size={self.settings.batch_size} is invalid: each of {world_size} "
                            f"rank(s) gets only {len(order)} {self.settings.name} training samples, so dropping "
                            f"the last partial batch leaves none; expected at most {len(order)}")
        return InMemoryLoader(images=images, labels=labels, batch_size=self.settings.batch_size, order=order,
                              drop_last=train, prepare=functools.partial(self.recipe, train=train))
