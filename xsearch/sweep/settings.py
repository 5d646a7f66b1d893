"""The `sweep` config node: study, sampler, pruner, objectives, space and limits, validated up front."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna

from xsearch import validate
from xsearch.sweep.space import SearchSpace, flatten
from xsearch.validate import ConfigError

DIRECTIONS = {"val/acc": "maximize", "val/acc5": "maximize", "val/loss": "minimize",
              "params": "minimize", "flops": "minimize"}
SAMPLERS = {"grid": None, "tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler,
            "nsga2": optuna.samplers.NSGAIISampler}
PRUNERS = {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
           "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
           "hyperband": optuna.pruners.HyperbandPruner}


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler with two changes for xsearch's workers.

    - No `study.stop()` once the grid is done: that call only works inside `Study.optimize`, and the workers
      stop by counting trials against `n_trials` instead.
    - `longest_first(cost)`: each new trial takes the costliest point that no trial has taken yet, so a sweep
      ends on its shortest trials and its workers wait little for the last one (longest-processing-time-first
      scheduling); retries and resumed studies keep that order. Two worker jobs asking within the same few
      milliseconds can take the same point, as with Optuna's own choice among free points; the workers of one
      driver ask one at a time.
    """

    _order: list[int] | None = None

    def after_trial(self, study, trial, state, values) -> None:
        pass

    def points(self) -> list[dict[str, Any]]:
        """Every point of the grid, in Optuna's (seeded, shuffled) order of grid ids."""
        return [dict(zip(self._param_names, values)) for values in self._all_grids]

    def longest_first(self, cost: Callable[[dict[str, Any]], float]) -> None:
        costs = [cost(point) for point in self.points()]
        self._order = sorted(range(len(costs)), key=lambda i: -costs[i])  # stable: ties keep Optuna's order

    def before_trial(self, study, trial) -> None:
        if self._order is None or "grid_id" in trial.system_attrs or "fixed_params" in trial.system_attrs:
            return super().before_trial(study, trial)  # a retry or a queued trial: its point is fixed
        free = set(self._get_unvisited_grid_ids(study))
        grid_id = next((i for i in self._order if i in free), None)
        if grid_id is None:
            return super().before_trial(study, trial)
        study._storage.set_trial_system_attr(trial._trial_id, "search_space", self._search_space)
        study._storage.set_trial_system_attr(trial._trial_id, "grid_id", grid_id)


def _build(kind: str, table: Mapping[str, Any], node: Mapping[str, Any], **extra: Any) -> Any:
    options = dict(node)
    name = options.pop("name", None)
    validate.choice(f"sweep.{kind}.name", name, table)
    try:
        return table[name](**options, **extra) if table[name] is not None else None
    except TypeError as error:  # an option the Optuna class does not take
        raise ConfigError(f"sweep.{kind} ({name}): {error}") from None


def build_pruner(node: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    return _build("pruner", PRUNERS, node)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepSettings:
    name: str
    space: Mapping[str, Any]
    n_trials: int | None = None  # the study's total; null: the whole grid
    workers: int | None = None  # null: one per visible GPU, else 1
    storage: str | None = None  # null: SQLite file in `dir`; an RDB URL; or a path ending .log (journal file)
    dir: str | None = None  # null: sweeps/<name>
    sampler: Mapping[str, Any] = dataclasses.field(default_factory=lambda: {"name": "tpe", "seed": 0})
    pruner: Mapping[str, Any] = dataclasses.field(default_factory=lambda: {"name": "none"})
    objectives: tuple[str, ...] = ("val/acc",)
    limits: Mapping[str, Any] = dataclasses.field(default_factory=lambda: {"params": None, "flops": None})
    retries: int = 2  # reruns of a trial whose process or worker died (not of one that failed by itself)
    heartbeat: int = 20  # seconds between a worker's heartbeats; a trial silent for 3 of them is stale
    stall_timeout: float | None = 600  # kill a trial when no batch ends for this many seconds (null: never)
    trial_timeout: float | None = None  # kill a trial that runs longer than this many seconds (null: no limit)
    enqueue: tuple[Mapping[str, Any], ...] = ()  # trials to run first, in order, e.g. [{optim: {lr: 0.01}}]
    fork_trials: bool = True  # single-device trials fork from a warm zygote instead of a fresh interpreter
    longest_first: bool = True  # an unpruned whole grid runs its costliest points first (false: Optuna's order)
    job: int | None = None  # which of several worker jobs this is (--multirun 'sweep.job=range(W)'); a label only

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise validate.bad("sweep.name", self.name, "a non-empty name without '/'")
        validate.integer("sweep.n_trials", self.n_trials, low=1, optional=True)
        validate.integer("sweep.workers", self.workers, low=1, optional=True)
        validate.integer("sweep.retries", self.retries, low=0)
        validate.integer("sweep.heartbeat", self.heartbeat, low=1)
        validate.number("sweep.stall_timeout", self.stall_timeout, low=0, low_open=True, optional=True)
        validate.number("sweep.trial_timeout", self.trial_timeout, low=0, low_open=True, optional=True)
        validate.integer("sweep.job", self.job, low=0, optional=True)
        validate.boolean("sweep.fork_trials", self.fork_trials)
        validate.boolean("sweep.longest_first", self.longest_first)
        validate.choice("sweep.sampler.name", self.sampler.get("name"), SAMPLERS)
        validate.choice("sweep.pruner.name", self.pruner.get("name"), PRUNERS)
        object.__setattr__(self, "objectives", tuple(self.objectives))
        # Queued trials are written like the space (nested, or with dotted keys) and stored flat.
        object.__setattr__(self, "enqueue", tuple(flatten(point) for point in self.enqueue))
        if not self.objectives:
            raise ConfigError("sweep.objectives is empty: expected e.g. [val/acc]")
        for objective in self.objectives:
            validate.choice("sweep.objectives", objective, DIRECTIONS)
        if not self.objectives[0].startswith("val/"):
            raise ConfigError(f"sweep.objectives[0]={self.objectives[0]!r} is invalid: the first objective is "
                              "what training reports every epoch, one of val/acc, val/acc5, val/loss")
        unknown = sorted(set(self.limits) - {"params", "flops"})
        if unknown:
            raise ConfigError(f"unknown sweep.limits key(s) {', '.join(unknown)}; valid: params, flops")
        for key, value in self.limits.items():
            validate.number(f"sweep.limits.{key}", value, low=0, low_open=True, optional=True)
        if len(self.objectives) > 1 and self.pruner.get("name", "none") != "none":
            raise ConfigError("sweep.pruner must be none with several objectives: Optuna prunes single-objective "
                              "studies only")
        space = self.search_space()  # validates every entry
        self.build_pruner()
        if self.sampler.get("name") == "grid":
            if space.grid() is None:
                raise ConfigError("sweep.sampler.name=grid needs a discrete space: choices, int ranges or float "
                                  "ranges with a step")
            size = len(space.grid_points())
            if self.n_trials is not None and self.n_trials > size:
                raise ConfigError(f"sweep.n_trials={self.n_trials} exceeds the grid's {size} points")
            if self.enqueue:
                raise ConfigError("sweep.enqueue needs a sampler other than grid: the grid already fixes every "
                                  "trial")
        elif self.n_trials is None:
            raise ConfigError("sweep.n_trials=None is invalid: expected an integer >= 1 (only a grid has a "
                              "natural size)")
        self.build_sampler()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SweepSettings:
        return validate.from_mapping(cls, values, "sweep")

    def search_space(self) -> SearchSpace:
        return SearchSpace(self.space)

    @property
    def directions(self) -> list[str]:
        return [DIRECTIONS[o] for o in self.objectives]

    @property
    def total(self) -> int:
        return self.n_trials if self.n_trials is not None else len(self.search_space().grid_points())

    @property
    def orders_by_cost(self) -> bool:
        """Whether the grid goes longest first: only a whole grid without a pruner. Pruned trials end early, so
        the estimate is wrong, and asynchronous pruners pass a study's first trials leniently, so front-loading
        the costliest ones costs more than the tail saves."""
        return (self.longest_first and self.sampler.get("name") == "grid" and self.pruner.get("name", "none") == "none"
                and self.total == len(self.search_space().grid_points()))

    @property
    def root(self) -> Path:
        return Path(self.dir if self.dir is not None else Path("sweeps") / self.name).expanduser().resolve()

    def build_sampler(self) -> optuna.samplers.BaseSampler | None:
        if self.sampler.get("name") == "grid":
            options = {k: v for k, v in self.sampler.items() if k != "name"}
            try:
                return GridSampler(self.search_space().grid(), **options)
            except TypeError as error:
                raise ConfigError(f"sweep.sampler (grid): {error}") from None
        return _build("sampler", SAMPLERS, self.sampler)

    def build_pruner(self) -> optuna.pruners.BasePruner:
        return build_pruner(self.pruner)
