"""An image folder small enough for memory (CIFAR-10 as JPEG files, say), decoded once and trained from memory.

The first run decodes every image into one uint8 tensor per folder, at the side the run trains at (`data.size`,
32 when null; images of another size are resized), and caches them (with the labels) in `data.cache_dir`; later
runs, and every trial of a sweep, load that file in a second or two. Which folder trains, chooses and scores is
xsearch/data/folders.py's rule; a carve out of train/ is made after loading, so it never changes the cache. From
there it trains like CIFAR: batches cut from memory (on the GPU when training there), shifted and flipped a batch
at a time.

The cache is keyed by the folder's path, the side, and every image's name, size and modification time, so a
changed folder is decoded again. It is written to a temporary file and renamed, so trials that decode at the
same moment never read half a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from xsearch.data.folders import IMG_EXTENSIONS, LAYOUT, Roles, check_class_count, checked_root
from xsearch.data.module import InMemoryDataModule, InMemorySource, TensorSplits, carved_splits
from xsearch.data.settings import DataError, ImageFolderMemorySettings
from xsearch.data.splits import SplitRecord, listing_identity

CACHE_VERSION = 2  # bump when the cached format changes
SHIFT_FRACTION = 4 / 32  # CIFAR's padding 4 at 32 pixels, scaled with the side


def imagefolder_memory_datamodule(settings: ImageFolderMemorySettings, *, seed: int) -> InMemoryDataModule:
    root = Path(settings.root)
    found, classes = checked_root(root)  # now, so a wrong root fails before any model is built
    check_class_count(settings.num_classes, classes, root)
    source = InMemorySource(num_classes=len(classes), channels=3, shift_fraction=SHIFT_FRACTION, flip=True,
                            load=lambda: load_splits(root, found, classes, settings))
    return InMemoryDataModule(settings=settings, source=source, seed=seed)


def listing(root: Path, split: str, classes: list[str]) -> list[tuple[Path, int]]:
    """(image, class index) of a split, in ImageFolder's order: classes sorted, files sorted within each."""
    items = []
    for index, name in enumerate(classes):
        for folder, _, files in sorted(os.walk(root / split / name, followlinks=True)):
            items += [(Path(folder) / f, index) for f in sorted(files) if f.lower().endswith(IMG_EXTENSIONS)]
    return items


def cache_key(root: Path, side: int, files: list[tuple[Path, int]]) -> str:
    digest = hashlib.sha256(f"{CACHE_VERSION}|{root}|{side}".encode())
    for path, label in files:
        stat = path.stat()
        digest.update(f"|{path.relative_to(root)}|{label}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def load_cached(root: Path, files: dict[str, list[tuple[Path, int]]],
                settings: ImageFolderMemorySettings) -> dict[str, dict[str, torch.Tensor]]:
    """{folder: {"images": uint8 [N, 3, side, side], "labels": int64 [N]}} for each folder's `files`, decoded once
    and cached."""
    folders = list(files)
    every = [item for folder in folders for item in files[folder]]
    path = settings.cache / f"imagefolder-{cache_key(root, settings.input_size, every)}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    counts = ", ".join(f"{len(files[f])} in {f}/" for f in folders)
    print(f"xsearch data: decoding the images of {root} once ({counts}), into {path}", flush=True)
    stored = {folder: {"images": decode(files[folder], settings.input_size),
                       "labels": torch.tensor([label for _, label in files[folder]], dtype=torch.int64)}
              for folder in folders}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(stored, partial)
    partial.replace(path)
    return stored


def load_splits(root: Path, found: Roles, classes: list[str], settings: ImageFolderMemorySettings) -> TensorSplits:
    files = {folder: listing(root, folder, classes) for folder in found.folders}
    stored = load_cached(root, files, settings)
    train, score = stored["train"], stored[found.score]
    identity = listing_identity((str(path.relative_to(root)), label) for path, label in files[found.score])
    if found.choose is None:
        splits = carved_splits(images=train["images"], labels=train["labels"], test_images=score["images"],
                               test_labels=score["labels"], stats=uint8_channel_stats,
                               fraction=settings.val_fraction, seed=settings.split_seed, source="train/",
                               test_from=f"{found.score}/", image_set=identity)
    else:
        choose = stored[found.choose]
        record = SplitRecord(train=len(train["labels"]), val=len(choose["labels"]), test=len(score["labels"]),
                             val_from=f"{found.choose}/", test_from=f"{found.score}/", image_set=identity,
                             shared=found.choose == found.score)
        splits = TensorSplits(train_images=train["images"], train_labels=train["labels"],
                              val_images=choose["images"], val_labels=choose["labels"], test_images=score["images"],
                              test_labels=score["labels"], stats=uint8_channel_stats(train["images"]), record=record)
    record = splits.record
    shared = ", which also score: there is no test/" if record.shared else ""
    print(f"xsearch data: {root}: {record.train} training images, {record.val} choosing ({record.val_from}"
          f"{shared}), {record.test} scoring ({record.test_from})", flush=True)
    return splits


def uint8_channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std per channel on [0, 1], exact, from a 256-bin histogram (no float copy of the images)."""
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].flatten(), minlength=256).double()
        n = counts.sum()
        mean = (counts * values).sum() / n
        means.append(float(mean))
        stds.append(float(((counts * (values - mean) ** 2).sum() / (n - 1)).sqrt()))
    return tuple(means), tuple(stds)


def decode(files: list[tuple[Path, int]], side: int) -> torch.Tensor:
    """uint8 [N, 3, side, side]: each image as RGB, resized (bilinear, antialiased) where its size differs."""
    images = np.empty((len(files), side, side, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(files):
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except OSError as error:
            raise DataError(f"{path} is not an image PIL can read ({error}); expected {LAYOUT}") from error
        if rgb.size != (side, side):
            rgb = rgb.resize((side, side), Image.BILINEAR)
        images[i] = np.asarray(rgb)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
