"""Batches cut straight from tensors held in memory, with no DataLoader workers.

For datasets that fit on the device (digits, CIFAR, synthetic) indexing a
resident tensor is far cheaper than worker processes collating single samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor


class EpochOrder:
    """Which sample indices one rank visits in one epoch, in order.

    Shaped like a sampler with `set_epoch` because Lightning calls that on a
    loader's `.sampler` at the start of every epoch, including after a resume,
    which keeps the order a pure function of (seed, epoch, rank).
    """

    def __init__(self, num_samples: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1,
                 every_sample: bool = False):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        self.num_samples = num_samples
        self.shuffle = shuffle
        # Scoring visits every sample once, so ranks may take unequal shares: nothing there runs in lockstep.
        self.every_sample = every_sample
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> Tensor:
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self._epoch_seed()))
        else:
            order = torch.arange(self.num_samples)
        # In training and validation every rank must take the same number of steps or collective ops hang, so the
        # remainder (fewer than world_size samples) is left out rather than duplicated.
        kept = self.num_samples if self.every_sample else len(self) * self.world_size
        return order[:kept][self.rank::self.world_size]

    def __len__(self) -> int:
        if self.every_sample:
            return len(range(self.rank, self.num_samples, self.world_size))
        return self.num_samples // self.world_size

    def _epoch_seed(self) -> int:
        return _hashed(self.seed, self.epoch)

    def batch_generator(self, batch: int, device: torch.device) -> torch.Generator:
        """The random stream of one batch's augmentation: a pure function of (seed, epoch, batch, rank), so a run
        resumed mid-epoch draws what it would have drawn, however far Lightning prefetched."""
        return torch.Generator(device=device).manual_seed(_hashed(self.seed, self.epoch, batch, self.rank))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())


def _hashed(*values: int) -> int:
    # Hashed rather than packed into 64 bits: torch's CPU generator keeps only the low 32 bits
    # of a seed, so packing would give every training seed the same order for a given epoch.
    return int(np.random.SeedSequence([v % 2**64 for v in values]).generate_state(1)[0])


class InMemoryLoader:
    """Yields `(images float32 [B, C, H, W], labels int64 [B])` by indexing stored tensors.

    `prepare(images, generator=...)` turns stored images into a batch; `skip` makes the next epoch start
    that many batches in (a run resumed mid-epoch).
    """

    # Lightning inspects `.batch_sampler` whenever a loader has a `.sampler`; there is none here.
    batch_sampler = None

    def __init__(self, *, images: Tensor, labels: Tensor, batch_size: int, order: EpochOrder,
                 drop_last: bool, prepare: Callable[..., Tensor]):
        if len(images) != len(labels) or len(images) != order.num_samples:
            raise ValueError(f"{len(images)} images, {len(labels)} labels, order over {order.num_samples}")
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.sampler = order
        self.drop_last = drop_last
        self.prepare = prepare
        self.skip = 0  # batches of the next epoch already trained before a resume

    def __len__(self) -> int:
        per_rank = len(self.sampler)
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        indices = self.sampler.indices().to(self.images.device)
        first, self.skip = self.skip, 0
        for number in range(first, len(self)):
            batch = indices[number * self.batch_size:(number + 1) * self.batch_size]
            generator = self.sampler.batch_generator(number, self.images.device)
            yield self.prepare(self.images[batch], generator=generator), self.labels[batch]
