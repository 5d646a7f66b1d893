"""A run's plan: everything known before any data is loaded, enough to cost it, limit it or order it, made once.

The data's shape (classes, channels, side: xsearch/data/settings.py), the network as it will be built (its
knobs with the data's classes and channels and the width solved for a budget, and its resolved spec) and its
cost. No torch: a sweep's driver plans every point of its space before any trial runs, and writes each trial's
plan into its `trial.yaml` (`Plan.as_node`); the trial takes it as given (`Plan.from_node`), with no second solve
and no second resolve, and the network is built from the spec itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

from xsearch.data.settings import DataShape
from xsearch.model import XceptionConfig, cost, resolve, solve_width
from xsearch.model.spec import NetSpec
from xsearch.schema import ConfigError
from xsearch.settings.run import PLAN, RunSettings

# fp32 weights, their gradients and two optimizer moments: the least any training run holds per parameter,
# before activations, EMA weights or a checkpoint's copy.
TRAINING_BYTES_PER_PARAM = 16


@dataclasses.dataclass(frozen=True)
class Plan:
    data: DataShape
    model: XceptionConfig  # the knobs as built: the data's classes and channels, the solved width
    spec: NetSpec
    params: int
    flops: int  # multiply-accumulates per image
    width_solution: dict[str, Any] | None

    @property
    def input_size(self) -> tuple[int, int]:
        return (self.data.size, self.data.size)

    @property
    def architecture(self) -> dict[str, Any]:
        """What a run logs of its network: knobs as built, params, MACs, input size, per-layer widths."""
        return {"knobs": self.model.as_dict(), "params": self.params, "flops": self.flops,
                "input_size": list(self.input_size), "not_applicable": list(self.spec.not_applicable),
                "width_solution": self.width_solution, "layers": self.spec.layers()}

    def as_node(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The plan as a config node (plain values), for a trial's `trial.yaml`, with what it was planned from."""
        return {"data": dataclasses.asdict(self.data), "model": self.model.as_dict(), "spec": self.spec.as_dict(),
                "params": self.params, "flops": self.flops, "width_solution": self.width_solution,
                "planned_from": _planned_from(config)}

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> Plan:
        return cls(data=DataShape(**node["data"]), model=XceptionConfig.model_validate(node["model"]),
                   spec=NetSpec.from_dict(node["spec"]), params=int(node["params"]), flops=int(node["flops"]),
                   width_solution=node.get("width_solution"))


def _planned_from(config: Mapping[str, Any]) -> str:
    """What a plan depends on, the config's model and data nodes, as one string."""
    return json.dumps({key: config.get(key) for key in ("model", "data")}, sort_keys=True, default=str)


def given(config: Mapping[str, Any]) -> Plan | None:
    """The plan a config carries (a sweep trial's, made by its driver), or None where it carries none or its
    model or data were changed since (a trial.yaml edited by hand is planned again)."""
    node = config.get(PLAN)
    if not isinstance(node, Mapping) or node.get("planned_from") != _planned_from(config):
        return None
    return Plan.from_node(node)


def plan(settings: RunSettings) -> Plan:
    """The run's plan: a wrong data root, a budget no width meets or a network that cannot fit is a ConfigError."""
    shape = settings.data.shape()
    input_size = (shape.size, shape.size)
    model = settings.model.replace(num_classes=shape.num_classes, in_channels=shape.channels)
    solution = None
    if settings.budget is not None:
        solution = solve_width(model, metric=settings.budget.metric, target=settings.budget.target,
                               input_size=input_size)
        model = model.replace(width=solution.width)
    spec = resolve(model)
    try:
        model_cost = cost(spec, input_size)
    except ValueError as error:  # the input shrinks to nothing on the way through the network
        raise ConfigError(f"data.size={shape.size}: {error}; expected a larger data.size or model.stem_stride=1 "
                          "model.stem_padding=1") from None
    check_fits(model_cost.params, model.width)
    return Plan(shape, model, spec, model_cost.params, model_cost.flops, solution.as_dict() if solution else None)


def check_fits(params: int, width: float) -> None:
    """Refuses, from the parameter count alone, a network whose training state cannot fit in this machine's RAM:
    before any allocation, so the answer is a line that says why rather than an allocator's traceback minutes in.
    (A GPU's memory is checked where the run starts, which has torch: `training.run.check_fits_gpu`.)"""
    need = params * TRAINING_BYTES_PER_PARAM
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > have:
        raise ConfigError(too_big(params, width, have, "this machine's RAM"))


def too_big(params: int, width: float, have: int, where: str) -> str:
    need = params * TRAINING_BYTES_PER_PARAM
    return (f"model.width={width:g} gives {params:,} parameters; training them needs at least "
            f"{need / 2**30:,.1f} GiB ({TRAINING_BYTES_PER_PARAM} bytes a parameter: weights, gradients, optimizer "
            f"state), more than the {have / 2**30:,.1f} GiB of {where}: lower model.width or model.middle_depth")
