"""Experiment tracking: W&B (online when credentials exist, offline otherwise), a metrics CSV, or nothing.

Secrets never reach a tracker: configs are passed through `redact` first, and
the W&B API key is only ever read by wandb itself from its usual places.
Whether W&B runs online is `xsearch.settings.logger.wandb_mode`'s to say.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

from xsearch import contract
from xsearch.redact import redact
from xsearch.settings.logger import LoggerSettings, clean_wandb_mode_env, wandb_mode

# The run directory already holds config.yaml; the CSV logger only ever writes its own two files there.
warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")


def build_loggers(settings: LoggerSettings, run_dir: Path, *, name: str) -> list[Logger]:
    if settings.name == "none":
        return []
    # The metrics CSV lands at <run_dir>/metrics.csv.
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="", version="")]
    if settings.name == "wandb":
        clean_wandb_mode_env()
        loggers.append(WandbLogger(
            project=settings.project, entity=settings.entity, group=settings.group, job_type=settings.job_type,
            tags=list(settings.tags), name=name, save_dir=str(run_dir), mode=wandb_mode(settings.mode),
        ))
    return loggers


def wandb_logger(loggers: list[Logger]) -> WandbLogger | None:
    return next((lg for lg in loggers if isinstance(lg, WandbLogger)), None)


def wandb_run_info() -> dict[str, Any] | None:
    """Where the current W&B run is: id, mode, local folder and URL (None without a run)."""
    import wandb

    run = wandb.run
    if run is None:
        return None
    return {"id": run.id, "mode": "offline" if run.offline else "online", "dir": str(Path(run.dir).parent),
            "url": None if run.offline else run.url}


def finish_wandb(*, status: str, reason: str | None = None) -> None:
    """Record how the run ended (completed, pruned, failed + reason) and finish it."""
    import wandb

    run = wandb.run
    if run is None:
        return
    run.summary["state"] = status
    if reason is not None:
        run.summary["failure_reason"] = redact(reason)
    wandb.finish(exit_code=1 if status in contract.UNFINISHED else 0)
