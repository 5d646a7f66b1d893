"""The search space of a sweep, from config to Optuna distributions, checked before any trial runs.

In config the space mirrors the config tree; each leaf is a list (categorical)
or a mapping with a `type`, so `sweep.space.model.segments=[1,4]` overrides work:

    model:
      segments: [1, 2, 4, 8, depthwise]
      middle_depth: {type: int, low: 0, high: 8, step: 2}
    optim:
      lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    seed: [0, 1, 2]

A grid can also be a list of points, each a few knobs' values (the rest keep the base config's), crossed with
the space: `sweep.points` names the settings a question compares without the whole product of their knobs,
and points that several questions share are run once.

    points:
      - {model.segments: 1}
      - {model.segments: depthwise}
      - {model.segments: depthwise, model.residual: false}
    space:
      seed: [0, 1, 2]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from xsearch.schema import ConfigError

TYPES = ("categorical", "int", "float")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _distribution(key: str, spec: Any) -> BaseDistribution:
    where = f"sweep.space.{key}"
    if isinstance(spec, (list, tuple)):
        spec = {"type": "categorical", "choices": list(spec)}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}={spec!r} is invalid: expected a list of choices or a mapping with type "
                          f"({', '.join(TYPES)})")
    kind = spec.get("type")
    allowed = {"categorical": {"type", "choices"}, "int": {"type", "low", "high", "step", "log"},
               "float": {"type", "low", "high", "step", "log"}}
    if kind not in allowed:
        raise ConfigError(f"{where}.type={kind!r} is invalid: expected one of {', '.join(TYPES)}")
    unknown = sorted(set(spec) - allowed[kind])
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; valid: {', '.join(sorted(allowed[kind]))}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ConfigError(f"{where} has no choices: expected a non-empty list")
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{where} lists a choice twice: {list(choices)}")
        return CategoricalDistribution(list(choices))
    low, high, log, step = spec.get("low"), spec.get("high"), bool(spec.get("log", False)), spec.get("step")
    check = is_int if kind == "int" else is_number
    if not (check(low) and check(high)):
        raise ConfigError(f"{where} needs numeric low and high ({kind}s), got low={low!r} high={high!r}")
    if low > high:
        raise ConfigError(f"{where} has an inverted range: low={low} > high={high}")
    if log and low <= 0:
        raise ConfigError(f"{where} is log-scaled, so low must be > 0, got {low}")
    if log and step is not None:
        raise ConfigError(f"{where}: log and step cannot be combined")
    if kind == "int":
        return IntDistribution(low, high, log=log, step=1 if step is None else step)
    return FloatDistribution(low, high, log=log, step=step)


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested space -> {dotted config key: leaf}; a mapping is a leaf when it has a `type`."""
    leaves = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and "type" not in value:
            if not value:
                raise ConfigError(f"sweep.space.{path} is empty")
            leaves.update(flatten(value, f"{path}."))
        else:
            leaves[path] = value
    return leaves


def _checked_points(points: Sequence[Mapping[str, Any]], space_keys: set[str]) -> list[dict[str, Any]]:
    checked = []
    for index, point in enumerate(points):
        if not isinstance(point, Mapping) or not point:
            raise ConfigError(f"sweep.points[{index}]={point!r} is invalid: expected a mapping of config keys to "
                              "values, e.g. {model.segments: 4}")
        flat = flatten(point)
        for key, value in flat.items():
            if key in space_keys:
                raise ConfigError(f"sweep.points[{index}].{key} is also in sweep.space: a key is either a point's "
                                  "or the space's")
            if isinstance(value, (Mapping, list, tuple)):
                raise ConfigError(f"sweep.points[{index}].{key}={value!r} is invalid: expected one value")
        if flat in checked:
            raise ConfigError(f"sweep.points[{index}]={flat} is listed twice")
        checked.append(flat)
    return checked


class SearchSpace:
    """The space's distributions and, for a grid, its points. `points` (complete: every point holds every key
    any of them sets) are crossed with the space's grid; `extra` values join a key's choices without joining the
    grid (the seeds a decided sweep may add)."""

    def __init__(self, entries: Mapping[str, Any], points: Sequence[Mapping[str, Any]] = (),
                 extra: Mapping[str, Sequence[Any]] | None = None) -> None:
        if not entries and not points:
            raise ConfigError("sweep.space is empty: name at least one config key to vary")
        self.planned: dict[str, BaseDistribution] = {k: _distribution(k, v) for k, v in flatten(entries).items()}
        self.points = _checked_points(points, set(self.planned))
        self.distributions: dict[str, BaseDistribution] = {}
        for key in dict.fromkeys(k for point in self.points for k in point):
            values = list(dict.fromkeys(point[key] for point in self.points if key in point))
            self.distributions[key] = CategoricalDistribution(values)
        for key, dist in self.planned.items():
            more = [v for v in (extra or {}).get(key, ()) if v not in dist.choices]
            self.distributions[key] = CategoricalDistribution([*dist.choices, *more]) if more else dist

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        params = {}
        for key, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                params[key] = trial.suggest_categorical(key, dist.choices)
            elif isinstance(dist, IntDistribution):
                params[key] = trial.suggest_int(key, dist.low, dist.high, step=dist.step, log=dist.log)
            else:
                params[key] = trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)
        return params

    def grid(self) -> dict[str, list[Any]] | None:
        """Every value per key of the space (not the points'), or None when a dimension is continuous."""
        values = {}
        for key, dist in self.planned.items():
            if isinstance(dist, CategoricalDistribution):
                values[key] = list(dist.choices)
            elif isinstance(dist, IntDistribution) and not dist.log:
                values[key] = list(range(dist.low, dist.high + 1, dist.step))
            elif isinstance(dist, FloatDistribution) and dist.step is not None and not dist.log:
                count = int(math.floor((dist.high - dist.low) / dist.step + 1e-9)) + 1
                values[key] = [dist.low + i * dist.step for i in range(count)]
            else:
                return None
        return values

    def grid_points(self) -> list[dict[str, Any]]:
        grid = self.grid() or {}
        keys = list(grid)
        crossed = [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]
        return [{**point, **values} for point in self.points or [{}] for values in crossed]

    def probe_points(self) -> list[dict[str, Any]]:
        """Points that exercise every value once (categorical) and both ends (ranges), to validate the space."""
        points = [dict(point) for point in self.points]
        for key, dist in self.planned.items():
            if isinstance(dist, CategoricalDistribution):
                points += [{key: choice} for choice in dist.choices]
            else:
                points += [{key: dist.low}, {key: dist.high}]
        return points
