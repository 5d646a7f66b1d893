"""The layout every image-folder dataset shares: <root>/train/<class>/ and held-out folders beside it.

Which folder plays which role (xsearch/data/splits.py):
- train/, val/ and test/: val/ chooses, test/ scores;
- train/ and test/ (CIFAR-10 as files, and others): val is carved out of train/, test/ scores;
- train/ and val/ (ImageNet's layout): val/ both chooses and scores, and the run's record says so.

Checked when a datamodule is built, before any model, so a wrong root fails at once, naming what was expected.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from xsearch.data.settings import DataError

# The file endings torchvision's ImageFolder reads (torchvision.datasets.folder.IMG_EXTENSIONS; a test holds the two
# equal): here, so the layout is checked without importing torch.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LAYOUT = ("<root>/train/<class>/*.png|jpg and <root>/test/<class>/* and/or <root>/val/<class>/*, with the same "
          "class folders in each")
SHOWN_CLASSES = 20  # longer class lists are cut in messages


@dataclasses.dataclass(frozen=True)
class Roles:
    """The folders a root has for choosing and scoring."""

    choose: str | None  # "val", or None: carved out of train/
    score: str  # "test", or "val" when there is no test/ (then shared with choosing)

    @property
    def folders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for f in ("train", self.choose, self.score) if f is not None))


def roles(root: Path) -> Roles:
    has_val, has_test = (root / "val").is_dir(), (root / "test").is_dir()
    if not (has_val or has_test):
        raise DataError(f"data.root={root}: neither {root / 'val'} nor {root / 'test'} is a directory; "
                        f"expected {LAYOUT}")
    return Roles(choose="val" if has_val else None, score="test" if has_test else "val")


def checked_root(root: Path) -> tuple[Roles, list[str]]:
    """The folders' roles and the class names, once the layout is checked."""
    if not (root / "train").is_dir():
        raise DataError(f"data.root={root}: {root / 'train'} is not a directory; expected {LAYOUT}")
    found = roles(root)
    classes = None
    for folder in found.folders[1:]:
        classes = matching_classes(root, folder)
    return found, classes


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
