"""A run's plan: everything known before any data is loaded, enough to cost it, limit it or order it.

The datamodule (its classes, channels and side, from the dataset's settings and a look at its files), the
network as it will be built (num_classes and in_channels from the data, the width solved for a budget), and
its cost. A sweep's driver plans each trial once and reuses it for ordering, limits and the trial's record.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytorch_lightning as pl

from xsearch.data import build_datamodule
from xsearch.model import WidthSolution, XceptionConfig, cost, resolve, solve_width
from xsearch.settings.run import Settings


@dataclasses.dataclass(frozen=True)
class Plan:
    datamodule: pl.LightningDataModule
    model: XceptionConfig
    input_size: tuple[int, int]
    width_solution: WidthSolution | None
    architecture: dict[str, Any]  # logged with the run: knobs as built, params, MACs, per-layer widths

    @property
    def params(self) -> int:
        return self.architecture["params"]

    @property
    def flops(self) -> int:
        return self.architecture["flops"]


def plan(settings: Settings) -> Plan:
    datamodule = build_datamodule(settings.data, seed=settings.seed)
    input_size = (datamodule.size, datamodule.size)
    model = settings.model.replace(num_classes=datamodule.num_classes, in_channels=datamodule.channels)
    solution = None
    if settings.budget is not None:
        solution = solve_width(model, metric=settings.budget.metric, target=settings.budget.target,
                               input_size=input_size)
        model = model.replace(width=solution.width)
    spec = resolve(model)
    model_cost = cost(spec, input_size)
    architecture = {
        "knobs": model.as_dict(), "params": model_cost.params, "flops": model_cost.flops,
        "input_size": list(input_size), "not_applicable": list(spec.not_applicable),
        "width_solution": solution.as_dict() if solution else None, "layers": spec.layers(),
    }
    return Plan(datamodule, model, input_size, solution, architecture)
