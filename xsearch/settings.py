"""The composed Hydra config, turned into validated settings in one place, before anything is built.

Data flows one way: config -> Settings -> datamodule / network / trainer. An
unknown key, a wrong type or an impossible value stops the run here, naming it.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from xsearch import validate
from xsearch.data import DataSettings
from xsearch.model import WidthSolution, XceptionConfig, solve_width
from xsearch.model.budget import METRICS
from xsearch.training.layout import channels_last_pays_on_cpu
from xsearch.training.optim import OptimSettings
from xsearch.training.tracking import LoggerSettings
from xsearch.validate import ConfigError

MONITORS = {"val/acc": "max", "val/acc5": "max", "val/loss": "min"}
GROUPS = ("model", "data", "trainer", "optim", "logger")
TOP_LEVEL = ("seed", "monitor", "channels_last", "compile", "checkpoint", "resume")
SWEEP = "sweep"  # the sweep engine's node; a single run ignores it
# Set from the data, not the model group.
FROM_DATA = ("num_classes", "in_channels")
# Trainer arguments xsearch fills itself.
TRAINER_RESERVED = ("logger", "callbacks", "default_root_dir", "enable_checkpointing")
TRAINER_ARGS = tuple(p for p in inspect.signature(pl.Trainer.__init__).parameters if p != "self")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Budget:
    """Solve each variant's width so that its params or FLOPs match `target` ("xception" or a number)."""

    metric: str
    target: float | str = "xception"

    def __post_init__(self) -> None:
        validate.choice("model.budget.metric", self.metric, METRICS)
        if self.target != "xception" and not (validate.is_number(self.target) and self.target > 0):
            raise validate.bad("model.budget.target", self.target, "'xception' or a number > 0")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    knobs: Mapping[str, Any]
    budget: Budget | None
    data: DataSettings
    optim: OptimSettings
    trainer: Mapping[str, Any]
    logger: LoggerSettings
    seed: int = 0
    monitor: str = "val/acc"
    channels_last: bool | str = "auto"
    compile: bool = False
    checkpoint: bool = False
    resume: str | None = None  # a Lightning checkpoint to continue from, e.g. a stopped run's interrupted.ckpt

    def __post_init__(self) -> None:
        validate.integer("seed", self.seed, low=0)
        validate.choice("monitor", self.monitor, MONITORS)
        if self.channels_last != "auto":
            validate.boolean("channels_last", self.channels_last)
        validate.boolean("compile", self.compile)
        validate.boolean("checkpoint", self.checkpoint)
        if self.resume is not None and not Path(str(self.resume)).expanduser().is_file():
            raise validate.bad("resume", self.resume, "null or the path of a checkpoint file (.ckpt)")

    @property
    def mode(self) -> str:
        return MONITORS[self.monitor]

    def on_gpu(self) -> bool:
        accelerator = self.trainer.get("accelerator", "auto")
        if accelerator in ("gpu", "cuda"):
            return True
        return accelerator == "auto" and torch.cuda.is_available()

    def trainer_kwargs(self) -> dict[str, Any]:
        """Trainer arguments with xsearch's `null` defaults resolved for the machine it runs on."""
        kwargs = dict(self.trainer)
        if kwargs.get("precision") is None:
            bf16 = self.on_gpu() and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
            kwargs["precision"] = "bf16-mixed" if bf16 else "32-true"
        if kwargs.get("enable_progress_bar") is None:  # bars for a person, plain lines for a log file
            kwargs["enable_progress_bar"] = sys.stderr.isatty()
        return kwargs

    def use_channels_last(self) -> bool:
        """`auto`: where it is measured faster, on a GPU and on an x86 CPU (xsearch/training/layout.py)."""
        if self.channels_last != "auto":
            return self.channels_last
        return self.on_gpu() or channels_last_pays_on_cpu()

    def model_config(self, *, num_classes: int, in_channels: int,
                     input_size: tuple[int, int]) -> tuple[XceptionConfig, WidthSolution | None]:
        """The network for this data; with a budget, its width is solved at the data's input size."""
        cfg = XceptionConfig.from_mapping({**self.knobs, "num_classes": num_classes, "in_channels": in_channels})
        if self.budget is None:
            return cfg, None
        solution = solve_width(cfg, metric=self.budget.metric, target=self.budget.target, input_size=input_size)
        return cfg.replace(width=solution.width), solution


def _model(node: Mapping[str, Any]) -> tuple[dict[str, Any], Budget | None]:
    knobs = dict(node)
    budget_node = knobs.pop("budget", None)
    for key in FROM_DATA:
        if key in knobs:
            raise ConfigError(f"model.{key} is set by the data (data.name and its files), not by the model group")
    # Validate the knobs now, with placeholders for what the data will set.
    XceptionConfig.from_mapping({**knobs, "num_classes": 1, "in_channels": 1})
    budget = validate.from_mapping(Budget, budget_node, "model.budget") if budget_node is not None else None
    return knobs, budget


def _trainer(node: Mapping[str, Any]) -> dict[str, Any]:
    for key in node:
        if key in TRAINER_RESERVED:
            raise ConfigError(f"trainer.{key} is set by xsearch; use the logger group or the top-level "
                              "`checkpoint` key instead")
        if key not in TRAINER_ARGS:
            raise ConfigError(f"unknown trainer key {key}; valid keys are pytorch_lightning.Trainer's arguments: "
                              f"{', '.join(a for a in TRAINER_ARGS if a not in TRAINER_RESERVED)}")
    return dict(node)


def load_settings(cfg: DictConfig | Mapping[str, Any]) -> Settings:
    values = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    values.pop(SWEEP, None)
    unknown = sorted(set(values) - set(GROUPS) - set(TOP_LEVEL))
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {', '.join(unknown)}; valid: {', '.join(GROUPS + TOP_LEVEL)}")
    missing = [g for g in GROUPS if not isinstance(values.get(g), Mapping)]
    if missing:
        raise ConfigError(f"config group(s) {', '.join(missing)} missing or not a mapping")
    knobs, budget = _model(values["model"])
    return Settings(
        knobs=knobs,
        budget=budget,
        data=DataSettings.from_mapping(values["data"]),
        optim=OptimSettings.from_mapping(values["optim"]),
        trainer=_trainer(values["trainer"]),
        logger=LoggerSettings.from_mapping(values["logger"]),
        **{k: values[k] for k in TOP_LEVEL if k in values},
    )
