"""The `logger` config group: where a run's metrics go. Its values live in conf/logger/."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from collections.abc import Mapping
from typing import Any

from xsearch import validate

TRACKERS = ("wandb", "csv", "none")
WANDB_MODES = ("auto", "online", "offline", "disabled")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoggerSettings:
    name: str
    project: str | None = None  # W&B only, as are the keys below
    entity: str | None = None
    mode: str = "auto"
    group: str | None = None
    job_type: str | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate.choice("logger.name", self.name, TRACKERS)
        validate.choice("logger.mode", self.mode, WANDB_MODES)
        object.__setattr__(self, "tags", tuple(str(t) for t in self.tags))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LoggerSettings:
        return validate.from_mapping(cls, values, "logger")


def wandb_mode(setting: str) -> str:
    """The W&B mode `setting` means here. `auto`: WANDB_MODE if the environment sets it, else online where W&B's
    own lookup finds credentials (WANDB_API_KEY, its settings files, $NETRC or ~/.netrc, an identity token
    file) and offline where it finds none."""
    if setting != "auto":
        return setting
    env = os.environ.get("WANDB_MODE")
    if env in WANDB_MODES[1:]:
        return env
    return "online" if wandb_credentials() else "offline"


def wandb_credentials() -> bool:
    import wandb

    with contextlib.redirect_stderr(io.StringIO()):  # it says "API key is configured" on stderr
        return bool(wandb.login(prompt=False, verify=False))


def clean_wandb_mode_env() -> None:
    """An empty WANDB_MODE (set but blank) makes wandb refuse to start: drop it, so `auto` decides."""
    if os.environ.get("WANDB_MODE") == "":
        del os.environ["WANDB_MODE"]
