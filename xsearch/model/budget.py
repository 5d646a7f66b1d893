"""Solve for the width that gives a variant a set complexity.

Points of the spectrum are compared at equal parameters or FLOPs, as ResNeXt,
ShuffleNet and RegNet do: a 1-segment variant at width 1.0 is far bigger than
the depthwise Xception, so each variant gets its own width to meet one budget.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Literal

from pydantic import Field

from xsearch import contract
from xsearch.model.config import XceptionConfig
from xsearch.model.cost import PAPER_INPUT, cost
from xsearch.model.spec import resolve
from xsearch.schema import ConfigError, Schema

METRICS = tuple(contract.COST_METRICS)
XCEPTION = "xception"
_BISECTION_STEPS = 60
_MAX_SCALE = 2.0**20  # a budget a million times off the start is a typo, not a model
TOLERANCE = 0.05  # a solution further than this from its target is a budget no width can meet


class Budget(Schema):
    """Solve each variant's width so that its `metric` matches `target`: "xception" (the depthwise Xception with
    the variant's other knobs) or a number."""

    section = "model.budget"

    metric: Literal[METRICS]  # type: ignore[valid-type]
    target: Literal["xception"] | Annotated[float, Field(gt=0)] = XCEPTION


@dataclasses.dataclass(frozen=True)
class WidthSolution:
    width: float
    metric: str
    target: int
    achieved: int

    @property
    def rel_error(self) -> float:
        return (self.achieved - self.target) / self.target

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "rel_error": self.rel_error}


def xception_reference(cfg: XceptionConfig) -> XceptionConfig:
    """The Xception point of the spectrum with `cfg`'s other knobs (depth, width, residual, classes, stem)."""
    return cfg.replace(conv="separable", segments="depthwise", op_order="depthwise_first",
                       mid_activation="none", mid_norm=False)


def budget_target(cfg: XceptionConfig, budget: Budget, input_size: tuple[int, int] = PAPER_INPUT) -> int:
    if budget.target == XCEPTION:
        return getattr(cost(xception_reference(cfg), input_size), budget.metric)
    return int(budget.target)


def solve_width(cfg: XceptionConfig, *, metric: str = "params", target: float | str = XCEPTION,
                input_size: tuple[int, int] = PAPER_INPUT) -> WidthSolution:
    """The width whose `metric` at `input_size` is closest to `target`.

    Cost only grows with width and moves in steps (channels are whole multiples
    of the segment count), so bisection brackets the step that crosses the
    target and the closer side wins. `target="xception"` is the cost of the
    depthwise Xception with the same other knobs (see `xception_reference`).
    A target no width comes within TOLERANCE of is a ConfigError naming it.
    """
    goal = budget_target(cfg, Budget(metric=metric, target=target), input_size)

    def measure(width: float) -> int:
        return getattr(cost(cfg.replace(width=width), input_size), metric)

    lo = hi = cfg.width
    while measure(hi) < goal:
        hi *= 2
        if hi > cfg.width * _MAX_SCALE:
            raise ConfigError(f"budget {metric}={goal} cannot be reached by widening the network")
    while measure(lo) >= goal and lo > cfg.width / _MAX_SCALE:
        lo /= 2
    if measure(lo) >= goal:  # even the narrowest network is over budget: closest is narrowest
        hi = lo
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        if measure(mid) < goal:
            lo = mid
        else:
            hi = mid
    width = min((lo, hi), key=lambda w: abs(measure(w) - goal))
    width = _shortest_equivalent(cfg, width, round_up=width == hi)
    solution = WidthSolution(width=width, metric=metric, target=goal, achieved=measure(width))
    if abs(solution.rel_error) > TOLERANCE:
        raise ConfigError(f"model.budget target {metric}={goal:,} cannot be met: the closest any width comes is "
                          f"{solution.achieved:,} {metric} (width {width:g}, {solution.rel_error:+.0%}); expected a "
                          f"target within {TOLERANCE:.0%} of what some width gives"
                          + (f", e.g. target: {XCEPTION}" if target != XCEPTION else ""))
    return solution


def _shortest_equivalent(cfg: XceptionConfig, width: float, *, round_up: bool) -> float:
    """The width with fewest decimals that builds the same network (0.3586 rather than 0.35851648...)."""
    spec = resolve(cfg.replace(width=width))
    snap = math.ceil if round_up else math.floor
    for decimals in range(1, 10):
        candidate = snap(width * 10**decimals) / 10**decimals
        if candidate > 0 and resolve(cfg.replace(width=candidate)) == spec:
            return candidate
    return width
