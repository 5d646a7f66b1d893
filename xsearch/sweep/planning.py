"""Each point of a sweep planned once, by its driver: the trial's config, its settings checked and its plan (the
width solved, the network's spec resolved, the cost), before any trial runs.

The plan orders a grid (costliest first), refuses a variant over the sweep's limits or one whose config is
invalid, records a trial's cost in the study, and is written into the trial's `trial.yaml` (its `plan` node),
which the trial takes as given: no second solve, no second resolve. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from xsearch import contract
from xsearch.schema import ConfigError
from xsearch.settings.logger import LoggerSettings
from xsearch.settings.plan import Plan, plan
from xsearch.settings.run import PLAN, load_settings
from xsearch.sweep.grid import point_key


@dataclasses.dataclass(frozen=True)
class Checked:
    plan: Plan | None  # None: the config itself is invalid
    rejected: str | None  # why the trial must not train: an invalid config, or a cost over the limits


def trial_config(base: Mapping[str, Any], params: Mapping[str, Any], *, study: str, monitor: str,
                 sweep_dir: Path) -> dict[str, Any]:
    """The base config with this trial's values, tracked as one W&B run in the study's group. Every trial's W&B
    run lives in the sweep's folder (<sweep dir>/wandb), beside the report's: one `wandb sync` uploads them all."""
    cfg = OmegaConf.create(dict(base))
    for key, value in params.items():
        OmegaConf.update(cfg, key, value, merge=False)
    cfg.monitor = monitor
    for name, entry in LoggerSettings.from_node(OmegaConf.to_container(cfg.logger)).wandb.items():
        cfg.logger[name] = {**entry, "group": study, "job_type": "trial", "tags": contract.knobs_text(params).split(),
                            "save_dir": str(sweep_dir)}
    return OmegaConf.to_container(cfg)


def check(config: Mapping[str, Any], limits: Mapping[str, Any]) -> Checked:
    try:
        planned = plan(load_settings(config))
    except ConfigError as error:
        return Checked(None, f"invalid config: {error}")
    for metric in contract.COST_METRICS:
        limit = limits.get(metric)
        value = getattr(planned, metric)
        if limit is not None and value > limit:
            return Checked(planned, f"over budget: {metric} {value:,} > limit {int(limit):,}")
    return Checked(planned, None)


class TrialPlans:
    """Every point's config and plan, made once and kept."""

    def __init__(self, base: Mapping[str, Any], *, study: str, monitor: str, limits: Mapping[str, Any],
                 sweep_dir: Path) -> None:
        self.base, self.study, self.monitor, self.limits, self.sweep_dir = base, study, monitor, limits, sweep_dir
        self._checked: dict[tuple, tuple[dict[str, Any], Checked]] = {}

    def _point(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], Checked]:
        key = point_key(params)
        if key not in self._checked:
            config = trial_config(self.base, params, study=self.study, monitor=self.monitor,
                                  sweep_dir=self.sweep_dir)
            self._checked[key] = (config, check(config, self.limits))
        return self._checked[key]

    def config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The trial's config, with its plan where it has one (what `trial.yaml` holds)."""
        config, checked = self._point(params)
        return {**config, PLAN: checked.plan.as_node(config)} if checked.plan is not None else dict(config)

    def check(self, params: Mapping[str, Any]) -> Checked:
        return self._point(params)[1]

    def relative_cost(self, params: Mapping[str, Any]) -> float:
        """A trial's training compute up to a constant factor, for ordering a grid: MACs per image x epochs
        (x batches per epoch where they are limited). 0 for a trial that will not train."""
        config, checked = self._point(params)
        if checked.rejected is not None:
            return 0.0
        trainer = config["trainer"]
        epochs = max(trainer.get("max_epochs") or 1, 1)  # None or -1: no epoch limit, counted as one
        return checked.plan.flops * epochs * (trainer.get("limit_train_batches") or 1)
