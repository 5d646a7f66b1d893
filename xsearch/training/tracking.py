"""Experiment tracking: the `logger` group's Lightning loggers; W&B (online when credentials exist, offline
otherwise) gets xsearch's care: one W&B run per run even across a resume, the best value as its summary.

Secrets never reach a tracker: configs are passed through `redact` first, and
the W&B API key is only ever read by wandb itself from its usual places.
Whether W&B runs online is `xsearch.settings.logger.wandb_mode`'s to say.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from pytorch_lightning.loggers import Logger, WandbLogger

from xsearch import contract
from xsearch.redact import redact
from xsearch.settings.logger import LoggerSettings, clean_wandb_mode_env, is_wandb, wandb_mode

CHECKPOINT_KEY = "wandb_run_id"  # in a Lightning checkpoint: the W&B run it was saved in

# The run directory already holds config.yaml; the CSV logger only ever writes its own two files there.
warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")


def build_loggers(settings: LoggerSettings, run_dir: Path, *, name: str,
                  resumed_id: str | None = None, several: bool = False) -> list[Logger]:
    """The `logger` group's entries, instantiated (no W&B run starts yet). Left null, `save_dir` is the run's
    folder; a W&B entry also gets the variant's name, its mode `auto` resolved, and the id of the run a
    checkpoint was saved in (the same W&B run continues). `several`: this process keeps several W&B runs open at
    once (a fused group's, one a trial), each its own."""
    loggers: list[Logger] = []
    for entry in settings.entries.values():
        arguments = dict(entry)
        if arguments.get("save_dir") is None:
            arguments["save_dir"] = str(run_dir)
        if is_wandb(entry):
            clean_wandb_mode_env()
            arguments["mode"] = wandb_mode(arguments.get("mode", "auto"))
            arguments["name"] = arguments.get("name") or name
            if resumed_id is not None and arguments.get("id") is None:
                arguments.update(id=resumed_id, resume="allow")
            if several:
                arguments["reinit"] = "create_new"
        loggers.append(instantiate(arguments, _convert_="all"))
    return loggers


def summarize_best(logger: WandbLogger, monitor: str, mode: str) -> None:
    """The W&B summary of `monitor` becomes its best epoch (max or min), the value a sweep's Optuna study
    records, instead of the last epoch's. Starts the W&B run: call it once training is about to begin."""
    logger.experiment.define_metric(monitor, summary=mode)


def wandb_logger(loggers: list[Logger]) -> WandbLogger | None:
    return next((lg for lg in loggers if isinstance(lg, WandbLogger)), None)


class RememberRun(pl.Callback):
    """Keeps the W&B run's id in every checkpoint, so a run resumed from one continues that W&B run."""

    def __init__(self, logger: WandbLogger) -> None:
        self.logger = logger

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = self.logger.version


def resumed_run_id(settings: LoggerSettings, checkpoint: str | None) -> str | None:
    """The W&B run to continue: the one an interrupted run's checkpoint (`interrupted.ckpt`) was saved in. Any
    other checkpoint (a finished run's best.ckpt, a fine-tune's start) opens a new run, as does one that cannot
    be read here (Lightning then says why when it loads it)."""
    if checkpoint is None or not settings.wandb or Path(checkpoint).name != contract.CHECKPOINT:
        return None
    import torch

    try:  # memory-mapped: the weights are not read, only the small dictionary around them
        return torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True).get(CHECKPOINT_KEY)
    except Exception:
        return None


def wandb_run_info(run=None) -> dict[str, Any] | None:
    """Where a W&B run (the current one by default) is: id, mode, local folder and URL (None without a run)."""
    import wandb

    run = run if run is not None else wandb.run
    if run is None:
        return None
    return {"id": run.id, "mode": "offline" if run.offline else "online", "dir": str(Path(run.dir).parent),
            "url": None if run.offline else run.url}


def finish_wandb(*, status: str, reason: str | None = None, run=None) -> None:
    """Record how a W&B run (the current one by default) ended (complete, pruned, failed + reason), finish it."""
    import wandb

    run = run if run is not None else wandb.run
    if run is None:
        return
    # `status`, not `state`: W&B's own run state is a column of its runs table, which a summary key would shadow.
    run.summary["status"] = str(status)
    if reason is not None:
        run.summary["failure_reason"] = redact(reason)
    if status == contract.State.INTERRUPTED:  # stopped from outside, resumable: W&B shows it as preempted, not failed
        run.mark_preempting()
    run.finish(exit_code=1 if status in contract.UNFINISHED else 0)
