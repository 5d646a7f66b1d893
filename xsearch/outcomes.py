"""A run's per-image outcomes on its scoring images: which ones it classified correctly, what it predicted, and
the identity of that image set.

Written once per run (`outcomes.npz` beside `summary.json`, a few kilobytes for CIFAR-10's 10,000 test images)
and, for a sweep's trial, copied into the study as a trial attribute, so the report pairs trials image by image
from the study alone. Only numpy: the report and the sweep driver read it without torch.
"""

from __future__ import annotations

import base64
import dataclasses
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from xsearch import contract


@dataclasses.dataclass(frozen=True)
class Outcomes:
    image_set: str  # the scoring images' identity (xsearch/data/splits.py)
    correct: np.ndarray  # bool [N], in image order
    predicted: np.ndarray | None = None  # the predicted class [N], where kept

    @property
    def images(self) -> int:
        return len(self.correct)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if self.images else float("nan")

    def save(self, path: Path) -> None:
        classes = np.uint8 if self.predicted is None or self.predicted.max(initial=0) < 256 else np.uint16
        np.savez_compressed(path, image_set=np.array(self.image_set), images=np.array(self.images),
                            correct=np.packbits(self.correct.astype(bool)),
                            predicted=np.asarray(self.predicted if self.predicted is not None else [], dtype=classes))

    @classmethod
    def load(cls, path: Path) -> Outcomes:
        with np.load(path) as stored:
            images = int(stored["images"])
            predicted = stored["predicted"]
            return cls(str(stored["image_set"]), np.unpackbits(stored["correct"], count=images).astype(bool),
                       predicted.astype(np.int64) if len(predicted) else None)

    def to_attr(self) -> dict[str, Any]:
        """The study's copy: the image set, its size and the correct bits (packed, compressed, base64)."""
        packed = zlib.compress(np.packbits(self.correct.astype(bool)).tobytes(), 9)
        return {"image_set": self.image_set, "images": self.images, "correct": base64.b64encode(packed).decode()}

    @classmethod
    def from_attr(cls, attr: dict[str, Any]) -> Outcomes:
        packed = np.frombuffer(zlib.decompress(base64.b64decode(attr["correct"])), dtype=np.uint8)
        return cls(attr["image_set"], np.unpackbits(packed, count=int(attr["images"])).astype(bool))


def of_run(run_dir: Path) -> Outcomes | None:
    """The outcomes a run wrote, or None where it scored nothing (it failed, or was stopped before the end)."""
    path = Path(run_dir) / contract.OUTCOMES
    return Outcomes.load(path) if path.is_file() else None
