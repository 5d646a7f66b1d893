"""A run's plan: everything known before any data is loaded, enough to cost it, limit it or order it.

The datamodule (its classes, channels and side, from the dataset's settings and a look at its files), the
network as it will be built (num_classes and in_channels from the data, the width solved for a budget), and
its cost. A sweep's driver plans each trial once and reuses it for ordering, limits and the trial's record.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytorch_lightning as pl
import torch

from xsearch.data import build_datamodule
from xsearch.model import XceptionConfig, cost, resolve, solve_width
from xsearch.settings.run import Settings
from xsearch.validate import ConfigError

# fp32 weights, their gradients and two optimizer moments: the least any training run holds per parameter,
# before activations, EMA weights or a checkpoint's copy.
TRAINING_BYTES_PER_PARAM = 16


@dataclasses.dataclass(frozen=True)
class Plan:
    datamodule: pl.LightningDataModule
    model: XceptionConfig
    architecture: dict[str, Any]  # logged with the run: knobs as built, params, MACs, input size, per-layer widths


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
    check_fits(model_cost.params, model.width, settings.on_gpu())
    architecture = {
        "knobs": model.as_dict(), "params": model_cost.params, "flops": model_cost.flops,
        "input_size": list(input_size), "not_applicable": list(spec.not_applicable),
        "width_solution": solution.as_dict() if solution else None, "layers": spec.layers(),
    }
    return Plan(datamodule, model, architecture)


def memory_bytes(on_gpu: bool) -> tuple[int, str]:
    """The memory a run's weights live in: the first GPU's, or this machine's RAM."""
    if on_gpu and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory, f"{torch.cuda.get_device_name(0)} memory"
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's RAM"


def check_fits(params: int, width: float, on_gpu: bool) -> None:
    """Refuses, from the parameter count alone, a network whose training state cannot fit: before any
    allocation, so the answer is a line that says why rather than an allocator's traceback minutes in."""
    need = params * TRAINING_BYTES_PER_PARAM
    have, where = memory_bytes(on_gpu)
    if need > have:
        raise ConfigError(
            f"model.width={width:g} gives {params:,} parameters; training them needs at least "
            f"{need / 2**30:,.1f} GiB ({TRAINING_BYTES_PER_PARAM} bytes a parameter: weights, gradients, optimizer "
            f"state), more than the {have / 2**30:,.1f} GiB of {where}: lower model.width or model.middle_depth")
