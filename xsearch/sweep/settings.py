"""The `sweep` config node: study, sampler, pruner, objectives, space and limits, validated up front.

Its defaults live in conf/sweep_base.yaml, which every sweep starts from; this class holds the types and
the checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from xsearch import contract, validate
from xsearch.sweep import components
from xsearch.sweep.grid import GridSampler
from xsearch.sweep.space import SearchSpace, flatten
from xsearch.validate import ConfigError

@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepSettings:
    name: str
    space: Mapping[str, Any]
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
        components.target("sampler", self.sampler, components.SAMPLERS)  # a bad name first, before what it implies
        pruner = self.build_pruner()  # checked and built once here
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

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SweepSettings:
        return validate.from_mapping(cls, values, "sweep")

    def search_space(self) -> SearchSpace:
        return SearchSpace(self.space)

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
        return (self.longest_first and components.is_grid(self.sampler) and not components.prunes(self.pruner)
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
