"""xsearch's grid sampler: every point of a discrete space once, in an order xsearch chooses, on public API.

A point counts as taken once any trial of the study holds its values, whatever search space that trial was
sampled from: a grid that grows (values added to a list) continues its study and runs only the new points.
(Optuna's own GridSampler matches trials by grid id and search space, so after such a change it would run
every old point again.) Retries are Optuna's enqueued trials: their fixed values win over the grid's.

The order: Optuna's (a seeded shuffle), or, for an unpruned whole grid, costliest first, so a sweep ends on
its shortest trials and its workers wait little for the last one (longest-processing-time-first).
Two processes sampling at the same moment would take the same point, as with Optuna's own: the driver asks and
samples under the study's own lock, which lives with its storage (xsearch/studies/lock.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial


def point_key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((key, repr(value)) for key, value in params.items()))


class GridSampler(optuna.samplers.BaseSampler):
    def __init__(self, distributions: Mapping[str, BaseDistribution], points: Sequence[Mapping[str, Any]], *,
                 seed: int | None = None) -> None:
        self.distributions = dict(distributions)
        self.points = [dict(p) for p in points]
        random.Random(seed).shuffle(self.points)

    def longest_first(self, cost: Callable[[dict[str, Any]], float]) -> None:
        """Reorder the points by decreasing `cost(point)`; ties keep the shuffled order."""
        self.points.sort(key=cost, reverse=True)  # a stable sort, in reverse too

    def free_points(self, study: optuna.Study) -> list[dict[str, Any]]:
        taken = {point_key(t.params) for t in study.get_trials(deepcopy=False) if t.params}
        return [p for p in self.points if point_key({k: p[k] for k in self.distributions}) not in taken]

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.distributions)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        free = self.free_points(study)
        # Every point taken: only a racing process asks for more than the grid (its trial is then surplus).
        return dict(free[0] if free else self.points[0])

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        raise ValueError(f"{param_name} is not in the grid's space ({', '.join(self.distributions)})")


def grid_sampler(settings) -> GridSampler:
    """The grid sampler of a sweep's settings (a SweepSettings with the grid sampler): its space's points."""
    from xsearch.settings import components

    space = settings.search_space
    return GridSampler(space.distributions, space.grid_points(),
                       seed=components.arguments(settings.sampler).get("seed"))
