"""Experiment tracking: W&B (online when credentials exist, offline otherwise), a metrics CSV, or nothing.

Secrets never reach a tracker: configs are passed through `redact` first, and
the W&B API key is only ever read by wandb itself from its usual places.
"""

from __future__ import annotations

import dataclasses
import netrc
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

from xsearch import validate

TRACKERS = ("wandb", "csv", "none")
WANDB_MODES = ("auto", "online", "offline", "disabled")
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api_?key|credential", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]+)@")
REDACTED = "***"
# The run directory already holds config.yaml; the CSV logger only ever writes its own two files there.
warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoggerSettings:
    name: str = "wandb"
    project: str = "xsearch"
    entity: str | None = None
    mode: str = "auto"
    group: str | None = None
    job_type: str = "train"
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate.choice("logger.name", self.name, TRACKERS)
        validate.choice("logger.mode", self.mode, WANDB_MODES)
        object.__setattr__(self, "tags", tuple(str(t) for t in self.tags))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LoggerSettings:
        return validate.from_mapping(cls, values, "logger")


def redact(value: Any) -> Any:
    """A copy with secret-looking keys masked and passwords cut out of URLs (postgresql://user:***@host)."""
    if isinstance(value, Mapping):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) and v is not None else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", value)
    return value


def has_wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_mode(setting: str) -> str:
    """`auto`: WANDB_MODE if the environment sets it, else online with credentials and offline without."""
    if setting != "auto":
        return setting
    env = os.environ.get("WANDB_MODE")
    if env in WANDB_MODES[1:]:
        return env
    return "online" if has_wandb_credentials() else "offline"


def build_loggers(settings: LoggerSettings, run_dir: Path, *, name: str) -> list[Logger]:
    if settings.name == "none":
        return []
    # The metrics CSV lands at <run_dir>/metrics.csv.
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="", version="")]
    if settings.name == "wandb":
        if os.environ.get("WANDB_MODE") == "":  # set but empty: wandb would reject it outright
            del os.environ["WANDB_MODE"]
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
    wandb.finish(exit_code=1 if status in ("failed", "interrupted", "stalled") else 0)
