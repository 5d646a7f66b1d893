"""The `logger` config group: where a run's metrics go, as `_target_` entries. Its values live in conf/logger/.

Light on purpose (no torch, no wandb): the report and the sweep driver read it too."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from xsearch.schema import bad
from xsearch.settings.targets import class_name, entries

WANDB_MODES = ("auto", "online", "offline", "disabled")


def is_wandb(entry: Mapping[str, Any]) -> bool:
    """Whether a logger entry is W&B's (its `_target_` names a WandbLogger), which xsearch treats specially: its
    mode `auto`, a resumed run's id, the monitored metric's summary, a sweep's group and folder."""
    return class_name(entry) == "WandbLogger"


@dataclasses.dataclass(frozen=True)
class LoggerSettings:
    """The `logger` group: {entry name: {_target_: a Lightning logger class, its arguments}}; empty: none."""

    entries: Mapping[str, Mapping[str, Any]]

    @classmethod
    def from_node(cls, node: Any) -> LoggerSettings:
        found = entries("logger", node)
        for name, entry in found.items():
            if is_wandb(entry):
                if entry.get("mode", "auto") not in WANDB_MODES:
                    raise bad(f"logger.{name}.mode", entry.get("mode"), "one of " + ", ".join(WANDB_MODES))
                entry["tags"] = [str(t) for t in entry.get("tags") or ()]
        return cls(found)

    @property
    def wandb(self) -> dict[str, Mapping[str, Any]]:
        return {name: entry for name, entry in self.entries.items() if is_wandb(entry)}


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
    """Whether W&B's own lookup finds credentials for its server, asking no one and changing nothing.

    Not `wandb.login(prompt=False)`: on finding a key it also asks the server for the user's name, through a
    wandb-core process; with no route out (a cluster node, CI) that request hangs and holds the process at exit."""
    from wandb.sdk import wandb_setup
    from wandb.sdk.lib import wbauth

    settings = wandb_setup.singleton().settings
    host = wbauth.HostUrl(settings.base_url, app_url=settings.app_url)
    found = wbauth.authenticate_session(host=host, source="xsearch", prompt=False, verify=False,
                                        update_session=False)
    return found is not None


def clean_wandb_mode_env() -> None:
    """An empty WANDB_MODE (set but blank) makes wandb refuse to start: drop it, so `auto` decides."""
    if os.environ.get("WANDB_MODE") == "":
        del os.environ["WANDB_MODE"]
