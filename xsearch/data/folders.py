"""The layout every image-folder dataset shares: <root>/train/<class>/ and a validation split beside it.

The validation split is <root>/val/ when there is one, else <root>/test/ (CIFAR-10 and others ship as
train/ and test/); which one a run uses is printed and is in its summary. Checked when a datamodule is built,
before any model, so a wrong root fails at once, naming what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path

from torchvision.datasets.folder import IMG_EXTENSIONS

from xsearch.data.settings import DataError

VALIDATION_SPLITS = ("val", "test")
LAYOUT = ("<root>/train/<class>/*.png|jpg and <root>/val/<class>/* (or <root>/test/<class>/*), with the same "
          "class folders in both")
SHOWN_CLASSES = 20  # longer class lists are cut in messages


def validation_split(root: Path) -> str:
    """`val` if the root has that folder, else `test`."""
    for split in VALIDATION_SPLITS:
        if (root / split).is_dir():
            return split
    raise DataError(f"data.root={root}: neither {root / 'val'} nor {root / 'test'} is a directory; expected {LAYOUT}")


def checked_root(root: Path) -> tuple[str, list[str]]:
    """The validation split's name and the class names, once the layout is checked."""
    if not (root / "train").is_dir():
        raise DataError(f"data.root={root}: {root / 'train'} is not a directory; expected {LAYOUT}")
    split = validation_split(root)
    return split, matching_classes(root, split)


def class_folders(split: Path) -> list[str]:
    # The same rule ImageFolder applies: every subdirectory, sorted, is a class.
    return sorted(entry.name for entry in os.scandir(split) if entry.is_dir())


def matching_classes(root: Path, val: str) -> list[str]:
    train, held_out = class_folders(root / "train"), class_folders(root / val)
    if not train:
        raise DataError(f"data.root={root}: {root / 'train'} has no class folders; expected {LAYOUT}")
    if train != held_out:
        only_train, only_val = sorted(set(train) - set(held_out)), sorted(set(held_out) - set(train))
        raise DataError(f"data.root={root}: train/ and {val}/ class folders differ (only in train: "
                        f"{shown(only_train)}; only in {val}: {shown(only_val)}); train/ has {shown(train)}, "
                        f"{val}/ has {shown(held_out)}; expected {LAYOUT}")
    empty = [name for name in train for split in ("train", val) if not has_image(root / split / name)]
    if empty:
        raise DataError(f"data.root={root}: class folder(s) {shown(sorted(set(empty)))} hold no image "
                        f"({', '.join(IMG_EXTENSIONS)}) in train/ or {val}/; expected {LAYOUT}")
    return train


def check_class_count(expected: int | None, classes: list[str], root: Path) -> None:
    if expected is not None and expected != len(classes):
        raise DataError(f"data.num_classes={expected} does not match the {len(classes)} class folders in "
                        f"{root / 'train'}; set data.num_classes=null to count them")


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
