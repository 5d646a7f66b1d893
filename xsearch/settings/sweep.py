"""The `sweep` config node: study, sampler, pruner, objectives, space and limits, checked up front.

This class is the one home of the sweep's keys: each field's type, range and default, and whether it says how
the sweep runs (an execution key, `execution=True`: it may change on a resume) or what the study computes.
conf/sweep_base.yaml takes the defaults from here (xsearch/app.py registers them as `sweep_defaults`), and so do
the report (a study that recorded no resolution) and the headline (what deciding would cost at the default cap).
Nothing here imports torch; Optuna loads only when a sweep's space or sampler is checked.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from xsearch import contract
from xsearch.schema import ConfigError, Schema, bad

Objective = Literal[tuple(contract.OBJECTIVES)]  # type: ignore[valid-type]
Seconds = Annotated[float, Field(gt=0)]


def _execution(default: Any) -> Any:
    """A key that says how the sweep runs, not what it computes: a study may be resumed with another value."""
    return Field(default, json_schema_extra={"execution": True})


class SweepSettings(Schema):
    section = "sweep"

    name: Annotated[str, Field(min_length=1, pattern=r"^[^/]+$", json_schema_extra={"expected": "a non-empty name "
                                                                                              "without '/'"})]
    space: dict[str, Any] = Field(json_schema_extra={"execution": True})  # compared on its own: a grid may grow
    points: list[dict[str, Any]] = []  # a grid's points, each crossed with the space (space.py)
    n_trials: Annotated[int, Field(ge=1)] | None = _execution(None)  # the study's total; null: the whole grid
    workers: Annotated[int, Field(ge=1)] | None = _execution(None)  # null: one per visible GPU, else 1
    storage: str | None = _execution(None)  # null: <dir>/study.db (SQLite); an RDB URL; or a .log/.journal file
    dir: str = _execution("sweeps/${sweep.name}")  # the study file, trials/<number>/, results.*
    sampler: dict[str, Any] = {"name": "grid", "_target_": None, "seed": 0}  # grid, tpe, random, ... or _target_
    pruner: dict[str, Any] = {"name": "none", "_target_": None}  # none, median, ... or _target_
    objectives: Annotated[list[Objective], Field(min_length=1)] = ["val/acc"]
    limits: dict[Literal[tuple(contract.COST_METRICS)], Annotated[float, Field(gt=0)] | None] = {  # type: ignore
        "params": None, "flops": None}  # variants above them fail before training (flops: MACs per image)
    retries: Annotated[int, Field(ge=0)] = _execution(2)  # reruns of a trial whose process or worker died
    heartbeat: Annotated[int, Field(ge=1)] = _execution(20)  # s between beats; silent for 3 of them: stale
    stall_timeout: Seconds | None = _execution(600)  # s without a finished batch before a trial is killed
    trial_timeout: Seconds | None = _execution(None)  # s a trial may run in all before it is killed
    enqueue: list[dict[str, Any]] = []  # trials to run first, in order, e.g. [{optim: {lr: 0.01}}]
    job: Annotated[int, Field(ge=0)] | None = _execution(None)  # this worker job's index under --multirun
    fork_trials: bool = _execution(True)  # fork trials from a warm process (torch & co imported once)
    longest_first: bool = _execution(True)  # an unpruned whole grid runs its costliest points first
    # A worker trains up to this many trials of one point that differ only in their seed as one fused network
    # (xsearch/training/fused/); 1: every trial alone. Docs/BENCHMARKS.md, "Fused seeds", says when it pays.
    fuse: Annotated[int, Field(ge=1)] = _execution(1)
    decide: bool = False  # after the planned seeds, add seeds to undecided comparisons' points (decide.py)
    max_seeds: Annotated[int, Field(ge=2)] = 10  # deciding gives a point at most this many seeds
    resolution: Annotated[float, Field(gt=0, lt=1)] = 0.01  # equivalence: an interval within +-resolution

    @field_validator("points", "enqueue", mode="after")
    @classmethod
    def _flat(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Points and queued trials are written like the space (nested, or with dotted keys) and held flat."""
        from xsearch.settings.space import flatten

        return [flatten(point) for point in value]

    @model_validator(mode="after")
    def _consistent(self) -> SweepSettings:
        from xsearch.settings import components

        components.target("sampler", self.sampler, components.SAMPLERS)  # a bad name first, before what it implies
        components.target("pruner", self.pruner, components.PRUNERS)
        if self.objectives[0] not in contract.EPOCH_METRICS:
            raise ConfigError(f"sweep.objectives[0]={self.objectives[0]!r} is invalid: the first objective is "
                              "what training reports every epoch, one of " + ", ".join(contract.EPOCH_METRICS))
        if len(self.objectives) > 1 and self.prunes:
            raise ConfigError("sweep.pruner must be none with several objectives: Optuna prunes single-objective "
                              "studies only")
        space = self.search_space  # checks every entry
        grid = components.is_grid(self.sampler)
        if self.points and not grid:
            raise ConfigError("sweep.points needs sweep.sampler.name=grid: another sampler would combine the points' "
                              "knobs into settings nobody listed")
        if self.decide:
            self._check_decide(grid)
        if grid:
            if space.grid() is None:
                raise ConfigError("sweep.sampler.name=grid needs a discrete space: choices, int ranges or float "
                                  "ranges with a step")
            size = len(space.grid_points())
            if self.n_trials is not None and self.n_trials > size:
                raise ConfigError(f"sweep.n_trials={self.n_trials} exceeds the grid's {size} points")
            if self.enqueue:
                raise ConfigError("sweep.enqueue needs a sampler other than grid: the grid already fixes every "
                                  "trial")
            unknown = sorted(set(components.arguments(self.sampler)) - {"seed"})
            if unknown:
                raise ConfigError(f"unknown sweep.sampler key(s) {', '.join(unknown)} for grid; valid: name, seed")
        elif self.n_trials is None:
            raise bad("sweep.n_trials", None, "an integer >= 1 (only a grid has a natural size)")
        else:
            self.build_sampler()  # its class and arguments, checked by building it once
        self.build_pruner()
        return self

    def _check_decide(self, grid: bool) -> None:
        if not grid:
            raise ConfigError("sweep.decide=true needs sweep.sampler.name=grid: it adds seeds to a grid's points")
        if self.prunes:
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
        return cls.checked(values, "sweep")

    @classmethod
    def execution_keys(cls) -> tuple[str, ...]:
        """The keys that say how a sweep runs: a study may be resumed with other values of these."""
        return tuple(name for name, info in cls.model_fields.items()
                     if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("execution"))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every key with a default, and its default: the `sweep_defaults` node conf/sweep_base.yaml starts from
        (name and space are each sweep's own, `???` there)."""
        return {name: info.get_default(call_default_factory=True) if not info.is_required() else "???"
                for name, info in cls.model_fields.items()}

    @property
    def planned_seeds(self) -> list[int] | None:
        """The space's seeds, where they are a list of integers."""
        seeds = self.space.get(contract.SEED)
        if (isinstance(seeds, (list, tuple)) and seeds
                and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
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

    @functools.cached_property
    def search_space(self):  # -> SearchSpace (Optuna's distributions: imported with it)
        """The space, its points and the seeds deciding may add, built once."""
        from xsearch.settings.space import SearchSpace

        return SearchSpace(self.space, self.points, extra={contract.SEED: self.extra_seeds})

    @property
    def prunes(self) -> bool:
        """Whether the sweep has a pruner (anything but `none`, or Optuna's NopPruner by `_target_`)."""
        from xsearch.settings import components

        return components.target("pruner", self.pruner, components.PRUNERS) != components.PRUNERS["none"]

    @property
    def directions(self) -> list[str]:
        return [contract.OBJECTIVES[o] for o in self.objectives]

    @property
    def total(self) -> int:
        return self.n_trials if self.n_trials is not None else len(self.search_space.grid_points())

    @property
    def orders_by_cost(self) -> bool:
        """Whether the grid goes longest first: only a whole grid without a pruner. Pruned trials end early, so
        the estimate is wrong, and asynchronous pruners pass a study's first trials leniently, so front-loading
        the costliest ones costs more than the tail saves."""
        from xsearch.settings import components

        return (self.longest_first and components.is_grid(self.sampler) and not self.prunes
                and self.total == len(self.search_space.grid_points()))

    @property
    def root(self) -> Path:
        return Path(self.dir).expanduser().resolve()

    def build_sampler(self):
        """Any sampler but the grid, which needs the space: the driver builds that one (xsearch/sweep/grid.py)."""
        from xsearch.settings import components

        return components.build_sampler(self.sampler)

    def build_pruner(self):
        from xsearch.settings import components

        return components.build_pruner(self.pruner)


def complete_points(values: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep node with each point completed from the base config: every point sets every key any point
    sets, so trials of different points are told apart by their values, not by what they leave out."""
    from omegaconf import OmegaConf

    from xsearch.settings.space import flatten

    points = values.get("points") or []
    if not isinstance(points, list) or not all(isinstance(p, Mapping) for p in points):
        return dict(values)  # the schema says what is wrong with them
    flat = [flatten(p) if p else p for p in points]
    keys = list(dict.fromkeys(key for point in flat for key in point))
    config = OmegaConf.create(dict(base))
    missing = object()
    defaults = {}
    for key in keys:
        value = OmegaConf.select(config, key, default=missing)
        if value is missing:
            raise ConfigError(f"sweep.points: {key} names no config key (e.g. model.segments, optim.lr)")
        defaults[key] = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    return {**values, "points": [{**defaults, **point} for point in flat]}
