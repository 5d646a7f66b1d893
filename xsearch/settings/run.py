"""The composed Hydra config, turned into typed, validated settings once, before anything is built.

Data flows one way: config -> Settings -> plan (network and cost) -> datamodule / network / trainer. An
unknown key, a wrong type or an impossible value stops the run here, naming it. Every default lives in the
config tree (conf/); these classes hold the types, the vocabularies and the checks.
"""

from __future__ import annotations

import dataclasses
import inspect
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger

from xsearch import contract, validate
from xsearch.data import DataSettings, data_settings
from xsearch.model import Budget, XceptionConfig
from xsearch.settings import targets
from xsearch.settings.logger import LoggerSettings
from xsearch.settings.optim import OptimSettings
from xsearch.validate import ConfigError

GROUPS = ("model", "data", "trainer", "optim", "logger")
ENTRY_GROUPS = ("callbacks",)  # groups of `_target_` entries that may be empty or absent
TOP_LEVEL = ("seed", "monitor", "channels_last", "compile", "checkpoint", "resume")
SWEEP = "sweep"  # the sweep engine's node; a single run ignores it
# Set from the data, not the model group.
FROM_DATA = ("num_classes", "in_channels")
# Trainer arguments xsearch fills itself.
TRAINER_RESERVED = ("logger", "callbacks", "default_root_dir", "enable_checkpointing")
TRAINER_ARGS = tuple(p for p in inspect.signature(pl.Trainer.__init__).parameters if p != "self")
# Channels last is measured faster on these CPUs (docs/BENCHMARKS.md); elsewhere it is not measured.
CHANNELS_LAST_CPUS = ("x86_64", "amd64")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    model: XceptionConfig  # num_classes and in_channels are the data's: `plan` sets them
    budget: Budget | None
    data: DataSettings
    optim: OptimSettings
    trainer: Mapping[str, Any]
    logger: LoggerSettings
    callbacks: Mapping[str, Mapping[str, Any]]  # {name: {_target_: a Lightning callback, its arguments}}
    seed: int
    monitor: str
    channels_last: bool | str
    compile: bool
    checkpoint: bool
    resume: str | None  # a Lightning checkpoint to continue from, e.g. a stopped run's interrupted.ckpt

    def __post_init__(self) -> None:
        validate.integer("seed", self.seed, low=0)
        validate.choice("monitor", self.monitor, contract.EPOCH_METRICS)
        if self.channels_last != "auto":
            validate.boolean("channels_last", self.channels_last)
        validate.boolean("compile", self.compile)
        validate.boolean("checkpoint", self.checkpoint)
        if self.resume is not None and not Path(str(self.resume)).expanduser().is_file():
            raise validate.bad("resume", self.resume, "null or the path of a checkpoint file (.ckpt)")

    @property
    def mode(self) -> str:
        """Lightning's word for the monitored metric's direction: max or min."""
        return contract.lightning_mode(self.monitor)

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
        """`auto`: where it is measured faster, on a GPU and on an x86 CPU."""
        if self.channels_last != "auto":
            return self.channels_last
        return self.on_gpu() or cpu_prefers_channels_last()


def cpu_prefers_channels_last() -> bool:
    return platform.machine().lower() in CHANNELS_LAST_CPUS


def _model(node: Mapping[str, Any]) -> tuple[XceptionConfig, Budget | None]:
    knobs = dict(node)
    budget_node = knobs.pop("budget", None)
    for key in FROM_DATA:
        if key in knobs:
            raise ConfigError(f"model.{key} is set by the data (data.name and its files), not by the model group")
    budget = validate.from_mapping(Budget, budget_node, "model.budget") if budget_node is not None else None
    return XceptionConfig.from_mapping(knobs), budget


def _trainer(node: Mapping[str, Any]) -> dict[str, Any]:
    for key in node:
        if key in TRAINER_RESERVED:
            raise ConfigError(f"trainer.{key} is set by xsearch; use the logger or callbacks group (logger=csv, "
                              "callbacks=early_stopping) or the top-level `checkpoint` key instead")
        if key not in TRAINER_ARGS:
            raise ConfigError(f"unknown trainer key {key}; valid keys are pytorch_lightning.Trainer's arguments: "
                              f"{', '.join(a for a in TRAINER_ARGS if a not in TRAINER_RESERVED)}")
    return dict(node)


def load_settings(cfg: DictConfig | Mapping[str, Any]) -> Settings:
    values = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    values.pop(SWEEP, None)
    valid = GROUPS + ENTRY_GROUPS + TOP_LEVEL
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    missing = [g for g in GROUPS if g != "logger" and not isinstance(values.get(g), Mapping)]
    if missing:
        raise ConfigError(f"config group(s) {', '.join(missing)} missing or not a mapping")
    model, budget = _model(values["model"])
    loggers = LoggerSettings.from_node(values.get("logger"))
    for name, entry in loggers.entries.items():
        targets.resolve("logger", name, entry, Logger)
    callbacks = targets.entries("callbacks", values.get("callbacks"))
    for name, entry in callbacks.items():
        targets.resolve("callbacks", name, entry, pl.Callback)
        if "mode" in entry and entry["mode"] is None:  # null: the direction of the metric it monitors
            if entry.get("monitor") not in contract.EPOCH_METRICS:
                raise ConfigError(f"callbacks.{name}.mode=null needs a monitor of {', '.join(contract.EPOCH_METRICS)}"
                                  f" (got {entry.get('monitor')!r}): set callbacks.{name}.mode=max or min")
            entry["mode"] = contract.lightning_mode(entry["monitor"])
    return validate.from_mapping(Settings, {
        "model": model, "budget": budget, "data": data_settings(values["data"]),
        "optim": OptimSettings.from_mapping(values["optim"]), "trainer": _trainer(values["trainer"]),
        "logger": loggers, "callbacks": callbacks, **{k: values[k] for k in TOP_LEVEL if k in values},
    }, "top-level")
