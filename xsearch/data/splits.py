"""Which images train, which choose and which score, and the record every run keeps of that.

Three roles, never mixed where a dataset allows it:
- **train**: the weights are fitted on them;
- **val** (choosing): the epoch a run keeps, a sweep's pruning, Optuna's objective and early stopping look at
  these and nothing else;
- **test** (scoring): the verdicts count these, once per run, at the epoch val chose.

Where a dataset ships a test split but no validation split (CIFAR, an image folder with train/ and test/), val
is carved out of the training images: stratified, by `data.val_fraction` and `data.split_seed`, so every run
of a study carves the same images whatever its training seed. Where it has only train and val (an image folder
like ImageNet's), val must both choose and score: the run then scores its final epoch, not its best, and its
record says the two share images, so the report can say so too.

The scoring images get an identity (a hash of their labels and pixels, or of their files): two runs are paired
image by image only when they were scored on the same images.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from xsearch.data.settings import DataError


def stratified_carve(labels: Tensor, fraction: float, *, seed: int, what: str) -> tuple[Tensor, Tensor]:
    """(kept, carved) indices into `labels`, both sorted: `fraction` of each class carved, chosen by `seed` alone.

    Per class, round(fraction x its count) images, at least one where the class has two or more, so every class
    is in both parts whenever it can be (where every class is a single image, plainly at random). `what` names the
    setting in the error when nothing would be kept."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    shuffled = labels[order]
    carved = []
    for label in torch.unique(labels).tolist():
        members = order[shuffled == label]
        count = round(fraction * len(members))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        carved.append(members[:count])
    held = torch.cat(carved) if carved else torch.empty(0, dtype=torch.long)
    if len(held) == 0 and len(labels) >= 2:  # every class a single image: carve plainly at random instead
        held = order[:max(1, round(fraction * len(labels)))]
    held = torch.sort(held).values
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[held] = False
    kept = torch.nonzero(mask).flatten()
    if len(kept) == 0 or len(held) == 0:
        raise DataError(f"{what}={fraction} is invalid: expected a share of the {len(labels)} images that leaves "
                        "some on both sides")
    return kept, held


def tensor_identity(images: Tensor, labels: Tensor) -> str:
    """The identity of a set of stored images: their labels and pixels, in order."""
    digest = hashlib.sha256(f"{tuple(images.shape)}|{images.dtype}".encode())
    digest.update(labels.to(torch.int64).cpu().contiguous().numpy().tobytes())
    digest.update(images.cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def listing_identity(files: Iterable[tuple[str, int]]) -> str:
    """The identity of a set of image files: their names (relative to the dataset's root) and labels, in order."""
    digest = hashlib.sha256()
    for name, label in files:
        digest.update(f"{name}|{label}\n".encode())
    return digest.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class SplitRecord:
    """What a run trained, chose and scored on; `summary.json` keeps it as `splits`."""

    train: int  # images
    val: int
    test: int
    val_from: str  # where the choosing images come from, e.g. "carved from train", "val/", "test_batch"
    test_from: str
    image_set: str  # the scoring images' identity
    # {role: {"from", "fraction", "seed", "images"}} for each role carved out of another split's images
    carves: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # The scoring images are the choosing ones: only a folder dataset with val/ and no test/ can say so, and then
    # each trial's final epoch is scored, not its best.
    shared: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def carve_record(source: str, fraction: float, seed: int, images: int) -> dict[str, Any]:
    return {"from": source, "fraction": fraction, "seed": seed, "images": images}
