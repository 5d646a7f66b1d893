"""The `sweep` config node: study, sampler, pruner, objectives, space and limits, validated up front.

Its defaults live in conf/sweep_base.yaml, which every sweep starts from; this class holds the types and
the checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

from xsearch import contract, validate
from xsearch.sweep import components
from xsearch.sweep.grid import GridSampler
from xsearch.sweep.space import SearchSpace, flatten
from xsearch.validate import ConfigError

_MISSING = object()

@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepSettings:
    name: str
    space: Mapping[str, Any]
    points: tuple[Mapping[str, Any], ...]  # a grid's points, each crossed with the space (space.py)
    n_trials: int | None  # the study's total; null: the whole grid
    workers: int | None  # null: one per visible GPU, else 1
    storage: str | None  # null: SQLite file in `dir`; an RDB URL; or a path ending .log (journal file)
    dir: str  # the study file, trials/<number>/, results.*
    sampler: Mapping[str, Any]
    pruner: Mapping[str, Any]
    objectives: tuple[str, ...]
    limits: Mapping[str, Any]  # params, flops: variants above them fail before training
    retries: int  # reruns of a trial whose process or worker died (not of one that failed by itself)
    heartbeat: int  # seconds between a worker's heartbeats; a trial silent for 3 of them is stale
    stall_timeout: float | None  # kill a trial when no batch ends for this many seconds (null: never)
    trial_timeout: float | None  # kill a trial that runs longer than this many seconds (null: no limit)
    enqueue: tuple[Mapping[str, Any], ...]  # trials to run first, in order, e.g. [{optim: {lr: 0.01}}]
    fork_trials: bool  # single-device trials fork from a warm zygote instead of a fresh interpreter
    longest_first: bool  # an unpruned whole grid runs its costliest points first (false: a seeded shuffle)
    job: int | None  # which of several worker jobs this is (--multirun 'sweep.job=range(W)'); a label only
    decide: bool  # after the planned seeds, add seeds to the points of undecided comparisons (xsearch/sweep/decide.py)
    max_seeds: int  # the most seeds a point gets when deciding
    resolution: float  # the difference in accuracy a comparison calls equivalence within (0.01: 1 point)

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
        validate.boolean("sweep.decide", self.decide)
        validate.integer("sweep.max_seeds", self.max_seeds, low=2)
        validate.number("sweep.resolution", self.resolution, low=0, high=1, low_open=True, high_open=True)
        if not isinstance(self.points, (list, tuple)):
            raise validate.bad("sweep.points", self.points, "a list of points, e.g. [{model.segments: 1}]")
        object.__setattr__(self, "points", tuple(flatten(p) if isinstance(p, Mapping) else p for p in self.points))
        components.target("sampler", self.sampler, components.SAMPLERS)  # a bad name first, before what it implies
        pruner = self.build_pruner()  # checked here; the driver builds its own for the study
        object.__setattr__(self, "_prunes", not isinstance(pruner, optuna.pruners.NopPruner))
        object.__setattr__(self, "objectives", tuple(self.objectives))
        # Queued trials are written like the space (nested, or with dotted keys) and stored flat.
        object.__setattr__(self, "enqueue", tuple(flatten(point) for point in self.enqueue))
        if not self.objectives:
            raise ConfigError("sweep.objectives is empty: expected e.g. [val/acc]")
        for objective in self.objectives:
            validate.choice("sweep.objectives", objective, contract.OBJECTIVES)
        if self.objectives[0] not in contract.EPOCH_METRICS:
            raise ConfigError(f"sweep.objectives[0]={self.objectives[0]!r} is invalid: the first objective is "
                              "what training reports every epoch, one of val/acc, val/acc5, val/loss")
        unknown = sorted(set(self.limits) - set(contract.COST_METRICS))
        if unknown:
            raise ConfigError(f"unknown sweep.limits key(s) {', '.join(unknown)}; "
                              f"valid: {', '.join(contract.COST_METRICS)}")
        for key, value in self.limits.items():
            validate.number(f"sweep.limits.{key}", value, low=0, low_open=True, optional=True)
        if len(self.objectives) > 1 and not isinstance(pruner, optuna.pruners.NopPruner):
            raise ConfigError("sweep.pruner must be none with several objectives: Optuna prunes single-objective "
                              "studies only")
        space = self.search_space()  # validates every entry
        if self.points and not components.is_grid(self.sampler):
            raise ConfigError("sweep.points needs sweep.sampler.name=grid: another sampler would combine the points' "
                              "knobs into settings nobody listed")
        if self.decide:
            self._check_decide()
        if components.is_grid(self.sampler):
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

    def _check_decide(self) -> None:
        if not components.is_grid(self.sampler):
            raise ConfigError("sweep.decide=true needs sweep.sampler.name=grid: it adds seeds to a grid's points")
        if self._prunes:
            raise ConfigError("sweep.decide=true needs sweep.pruner.name=none: a pruned trial scores no verdict, so "
                              "seeds added to decide would be lost to the pruner")
        if len(self.objectives) > 1:
            raise ConfigError("sweep.decide=true needs one objective: it decides comparisons of accuracy")
        seeds = self.planned_seeds
        if seeds is None:
            raise ConfigError("sweep.decide=true needs sweep.space.seed, a list of integer seeds, e.g. [0, 1, 2]: "
                              "the planned seeds, which deciding adds to")
        if len(seeds) < 2 or len(seeds) > self.max_seeds:
            raise ConfigError(f"sweep.max_seeds={self.max_seeds} is invalid with {len(seeds)} planned seed(s) "
                              f"{list(seeds)}: deciding needs at least 2 planned seeds and sweep.max_seeds at least "
                              "as many")
        if self.n_trials is not None:
            raise ConfigError("sweep.decide=true needs sweep.n_trials=null: the trials it runs are the whole grid "
                              "and the seeds its comparisons need")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SweepSettings:
        return validate.from_mapping(cls, values, "sweep")

    @property
    def planned_seeds(self) -> list[int] | None:
        """The space's seeds, where they are a list of integers."""
        seeds = self.space.get(contract.SEED)
        if isinstance(seeds, (list, tuple)) and seeds and all(validate.is_int(s) for s in seeds):
            return list(seeds)
        return None

    @property
    def extra_seeds(self) -> list[int]:
        """The seeds deciding may add, in the order it adds them: the integers after the planned ones."""
        planned = self.planned_seeds
        if not self.decide or planned is None:
            return []
        start = max(planned) + 1
        return list(range(start, start + self.max_seeds - len(planned)))

    def search_space(self) -> SearchSpace:
        return SearchSpace(self.space, self.points, extra={contract.SEED: self.extra_seeds})

    def with_defaults(self, base: Mapping[str, Any]) -> SweepSettings:
        """These settings with each point completed from the base config: every point sets every key any point
        sets, so trials of different points are told apart by their values, not by what they leave out."""
        if not self.points:
            return self
        keys = list(dict.fromkeys(key for point in self.points for key in point))
        defaults = {}
        for key in keys:
            value = OmegaConf.select(OmegaConf.create(dict(base)), key, default=_MISSING)
            if value is _MISSING:
                raise ConfigError(f"sweep.points: {key} names no config key (e.g. model.segments, optim.lr)")
            defaults[key] = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        return dataclasses.replace(self, points=tuple({**defaults, **point} for point in self.points))

    @property
    def directions(self) -> list[str]:
        return [contract.OBJECTIVES[o] for o in self.objectives]

    @property
    def total(self) -> int:
        return self.n_trials if self.n_trials is not None else len(self.search_space().grid_points())

    @property
    def orders_by_cost(self) -> bool:
        """Whether the grid goes longest first: only a whole grid without a pruner. Pruned trials end early, so
        the estimate is wrong, and asynchronous pruners pass a study's first trials leniently, so front-loading
        the costliest ones costs more than the tail saves."""
        return (self.longest_first and components.is_grid(self.sampler) and not self._prunes
                and self.total == len(self.search_space().grid_points()))

    @property
    def root(self) -> Path:
        return Path(self.dir).expanduser().resolve()

    def build_sampler(self) -> optuna.samplers.BaseSampler:
        if components.is_grid(self.sampler):
            options = components.arguments(self.sampler)
            unknown = sorted(set(options) - {"seed"})
            if unknown:
                raise ConfigError(f"unknown sweep.sampler key(s) {', '.join(unknown)} for grid; valid: name, seed")
            space = self.search_space()
            return GridSampler(space.distributions, space.grid_points(), seed=options.get("seed"))
        return components.build_sampler(self.sampler)

    def build_pruner(self) -> optuna.pruners.BasePruner:
        return components.build_pruner(self.pruner)
