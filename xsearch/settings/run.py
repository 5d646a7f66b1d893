"""The composed Hydra config, turned into one typed, checked plan of settings before anything is built.

Data flows one way: config -> RunSettings -> plan (network and cost, xsearch/settings/plan.py) -> datamodule /
network / trainer. An unknown key, a wrong type or an impossible value stops the run here, in one line naming
it, without torch or Lightning loaded. Each group's schema lives with what it configures (the model's knobs in
xsearch/model/config.py, each dataset's settings in xsearch/data/settings.py, optim, trainer and logger here);
the defaults live in the config tree (conf/), or in the schema where the tree takes them from it.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from xsearch import contract
from xsearch.data.settings import DataSettings, data_settings
from xsearch.model.budget import Budget
from xsearch.model.config import FROM_DATA, XceptionConfig
from xsearch.schema import ConfigError, Schema, bad, unknown_key
from xsearch.settings import targets
from xsearch.settings.logger import LoggerSettings
from xsearch.settings.optim import OptimSettings
from xsearch.settings.trainer import TrainerSettings

GROUPS = ("model", "data", "trainer", "optim", "logger")
ENTRY_GROUPS = ("callbacks",)  # groups of `_target_` entries that may be empty or absent
TOP_LEVEL = ("seed", "monitor", "channels_last", "compile", "checkpoint", "resume")
SWEEP = "sweep"  # the sweep engine's node; a single run ignores it
PLAN = "plan"  # a sweep trial's plan, made once by its driver (xsearch/settings/plan.py)
# Channels last is measured faster on these CPUs (docs/BENCHMARKS.md); elsewhere it is not measured.
CHANNELS_LAST_CPUS = ("x86_64", "amd64")

Monitor = Literal[tuple(contract.EPOCH_METRICS)]  # type: ignore[valid-type]


class RunSettings(Schema):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, arbitrary_types_allowed=True)

    model: XceptionConfig  # num_classes and in_channels are the data's: the plan sets them
    budget: Budget | None
    data: DataSettings
    optim: OptimSettings
    trainer: TrainerSettings
    logger: LoggerSettings
    callbacks: dict[str, dict[str, Any]]  # {name: {_target_: a Lightning callback, its arguments}}
    seed: Annotated[int, Field(ge=0)]
    monitor: Monitor
    channels_last: bool | Literal["auto"]
    compile: bool
    checkpoint: bool
    resume: str | None  # a Lightning checkpoint to continue from, e.g. a stopped run's interrupted.ckpt

    @field_validator("resume")
    @classmethod
    def _resume_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise bad("resume", value, "null or the path of a checkpoint file (.ckpt)")
        return value

    @model_validator(mode="after")
    def _callback_modes(self) -> RunSettings:
        for name, entry in self.callbacks.items():
            if "mode" in entry and entry["mode"] is None and entry.get("monitor") not in contract.EPOCH_METRICS:
                raise ConfigError(f"callbacks.{name}.mode=null needs a monitor of {', '.join(contract.EPOCH_METRICS)}"
                                  f" (got {entry.get('monitor')!r}): set callbacks.{name}.mode=max or min")
        return self

    @property
    def mode(self) -> str:
        """Lightning's word for the monitored metric's direction: max or min."""
        return contract.lightning_mode(self.monitor)

    def on_gpu(self) -> bool:
        accelerator = self.trainer.kwargs().get("accelerator", "auto")
        if accelerator in ("gpu", "cuda"):
            return True
        if accelerator != "auto":
            return False
        import torch

        return torch.cuda.is_available()

    def trainer_kwargs(self) -> dict[str, Any]:
        """Trainer arguments with xsearch's `null` defaults resolved for the machine it runs on."""
        kwargs = self.trainer.kwargs()
        if kwargs.get("precision") is None:
            import torch

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


def _model(node: Any) -> tuple[XceptionConfig, Budget | None]:
    if not isinstance(node, Mapping):
        raise bad("model", node, "a mapping of knobs: choose a file of conf/model/, e.g. model=small")
    knobs = dict(node)
    budget_node = knobs.pop("budget", None)
    for key in FROM_DATA:
        if key in knobs:
            raise ConfigError(f"model.{key} is set by the data (data.name and its files), not by the model group")
    budget = Budget.checked(budget_node, "model.budget") if budget_node is not None else None
    return XceptionConfig.from_mapping(knobs), budget


def _callbacks(node: Any) -> dict[str, dict[str, Any]]:
    """The callbacks group's entries, with `mode: null` given the monitored metric's direction."""
    found = targets.entries("callbacks", node)
    for entry in found.values():
        if "mode" in entry and entry["mode"] is None and entry.get("monitor") in contract.EPOCH_METRICS:
            entry["mode"] = contract.lightning_mode(entry["monitor"])
    return found


def load_settings(cfg: Mapping[str, Any]) -> RunSettings:
    """The run's settings from the composed config (a mapping, or a DictConfig), or a ConfigError in one line."""
    if not isinstance(cfg, dict):
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    values = dict(cfg)
    values.pop(SWEEP, None)
    values.pop(PLAN, None)
    valid = GROUPS + ENTRY_GROUPS + TOP_LEVEL
    for key in values:
        if key not in valid:
            raise unknown_key(key, valid)
    missing = [g for g in GROUPS if g != "logger" and g not in values]
    if missing:
        raise ConfigError(f"config group(s) {', '.join(missing)} missing: choose one, e.g. {missing[0]}=...")
    model, budget = _model(values["model"])
    trainer = values["trainer"]
    return RunSettings.checked({
        "model": model, "budget": budget, "data": data_settings(values["data"]),
        "optim": OptimSettings.from_mapping(values["optim"]),
        "trainer": TrainerSettings.checked(trainer if isinstance(trainer, Mapping) else {"trainer": trainer},
                                           "trainer"),
        "logger": LoggerSettings.from_node(values.get("logger")), "callbacks": _callbacks(values.get("callbacks")),
        **{k: values[k] for k in TOP_LEVEL if k in values},
    }, "")


def check_targets(settings: RunSettings) -> None:
    """Each logger's and callback's `_target_` imported and checked to be one: in the run's own process, which
    imports Lightning anyway, before training starts (the config's first check answers without it)."""
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import Logger

    for name, entry in settings.logger.entries.items():
        targets.resolve("logger", name, entry, Logger)
    for name, entry in settings.callbacks.items():
        targets.resolve("callbacks", name, entry, pl.Callback)
