"""What every plot shares: the Agg backend, one readable style, the Plot result and a clean skip.

A plot function returns a `Plot` whatever happens: the PNG it wrote and the
numbers it drew (so tests and programs check data, not pixels), or the reason it
drew nothing (too few trials, a knob the sweep did not vary), which the page
shows in the plot's place.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted on a training machine

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 110, "savefig.bbox": "tight",
    "font.size": 11, "axes.titlesize": 12.5, "axes.labelsize": 11.5, "legend.fontsize": 10,
    "xtick.labelsize": 10.5, "ytick.labelsize": 10.5, "legend.framealpha": 0.9,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
}
COLORS = plt.get_cmap("tab10").colors


@dataclasses.dataclass
class Plot:
    name: str  # file stem: <name>.png in the report directory
    title: str
    path: Path | None = None
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    skipped: str | None = None  # why nothing was drawn

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "path": str(self.path) if self.path else None,
                "skipped": self.skipped, "data": self.data}


def skipped(name: str, title: str, reason: str) -> Plot:
    print(f"xsearch report: skipped {title.lower()}: {reason}")
    return Plot(name=name, title=title, skipped=reason)


def styled(function):
    """Draw inside the report's style: matplotlib reads rcParams when each artist is made, not at save time."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def new(width: float = 7.5, height: float = 4.8, ncols: int = 1):
    figure, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return figure, list(axes[0])


def save(figure, out_dir: Path, name: str) -> Path:
    path = out_dir / f"{name}.png"
    figure.savefig(path)
    plt.close(figure)
    return path


def slug(key: str) -> str:
    """A config key as a file name part: model.op_order -> model_op_order."""
    return re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_")
