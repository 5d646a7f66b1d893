"""Each trial's config and plan, made once per point of the space and reused: to order a grid, to refuse a
variant over the sweep's limits, and to record a trial's cost in the study.

A plan solves a budget's width by bisection over the network's cost, a few tenths of a second; a grid of
twenty points ordered by cost, then each checked against the limits and recorded, would plan each point three
times without this cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from xsearch import contract
from xsearch.settings.logger import LoggerSettings
from xsearch.settings.plan import plan
from xsearch.settings.run import load_settings
from xsearch.sweep.grid import point_key
from xsearch.validate import ConfigError


@dataclasses.dataclass(frozen=True)
class Checked:
    architecture: dict[str, Any] | None  # None: the config itself is invalid
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
        architecture = plan(load_settings(config)).architecture
    except ConfigError as error:
        return Checked(None, f"invalid config: {error}")
    for metric in contract.COST_METRICS:
        limit = limits.get(metric)
        if limit is not None and architecture[metric] > limit:
            return Checked(architecture, f"over budget: {metric} {architecture[metric]:,} > limit {int(limit):,}")
    return Checked(architecture, None)


class TrialPlans:
    def __init__(self, base: Mapping[str, Any], *, study: str, monitor: str, limits: Mapping[str, Any],
                 sweep_dir: Path) -> None:
        self.base, self.study, self.monitor, self.limits, self.sweep_dir = base, study, monitor, limits, sweep_dir
        self._checked: dict[tuple, Checked] = {}

    def config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return trial_config(self.base, params, study=self.study, monitor=self.monitor, sweep_dir=self.sweep_dir)

    def check(self, params: Mapping[str, Any]) -> Checked:
        key = point_key(params)
        if key not in self._checked:
            self._checked[key] = check(self.config(params), self.limits)
        return self._checked[key]

    def relative_cost(self, params: Mapping[str, Any]) -> float:
        """A trial's training compute up to a constant factor, for ordering a grid: MACs per image x epochs
        (x batches per epoch where they are limited). 0 for a trial that will not train."""
        checked = self.check(params)
        if checked.rejected is not None:
            return 0.0
        trainer = self.config(params)["trainer"]
        epochs = max(trainer.get("max_epochs") or 1, 1)  # None or -1: no epoch limit, counted as one
        return checked.architecture["flops"] * epochs * (trainer.get("limit_train_batches") or 1)
