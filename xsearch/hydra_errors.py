"""Hydra's own composition errors, worded as xsearch words a config error: one line naming the key or option,
the nearest valid names and the whole list (Hydra's own say "Could not override ..." over several lines, and
name no valid key).

The valid keys come from the schemas (xsearch/schema.py's classes), not from a second composition, so the
answer costs nothing: a key under `data` is checked against every dataset's keys, a key under a `_target_`
group (logger, callbacks) is left to Hydra's own `+` advice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hydra.errors import ConfigCompositionException, OverrideParseException

from xsearch import contract
from xsearch.data.settings import SETTINGS
from xsearch.model.budget import Budget
from xsearch.model.config import FROM_DATA, XceptionConfig
from xsearch.schema import ConfigError, unknown_key, unknown_option
from xsearch.settings import run
from xsearch.settings.optim import OptimSettings
from xsearch.settings.sweep import SweepSettings
from xsearch.settings.trainer import RESERVED, TRAINER_ARGS

_MISSING_OPTION = re.compile(r"Could not (?:find|load) '(?P<group>[^']+)/(?P<option>[^'/]+)'")
_OVERRIDE = re.compile(r"Could not override '(?P<key>[^']+)'")


def valid_keys(parent: str) -> list[str] | None:
    """The keys a config node may hold, from its schema; None where the node is open (or unknown)."""
    if parent == "":
        return [*run.GROUPS, *run.ENTRY_GROUPS, *run.TOP_LEVEL, "sweep", "hydra"]
    if parent == "model":
        return [k for k in XceptionConfig.model_fields if k not in FROM_DATA] + ["budget"]
    if parent == "model.budget":
        return list(Budget.model_fields)
    if parent == "data":
        return sorted({k for settings in SETTINGS.values() for k in settings.model_fields})
    if parent == "optim":
        return list(OptimSettings.model_fields)
    if parent == "trainer":
        return [a for a in TRAINER_ARGS if a not in RESERVED]
    if parent == "sweep":
        return list(SweepSettings.model_fields)
    return None


def explain_hydra_error(error: BaseException, overrides: Sequence[str]) -> str | None:
    """The one line for one of Hydra's composition errors, or None for any other error (left as it is)."""
    if isinstance(error, ConfigError):
        return str(error)
    found = _MISSING_OPTION.search(str(error))
    if isinstance(error, ConfigCompositionException) and found is not None:
        options = getattr(error, "options", None) or _options(found["group"])
        if options:
            return str(unknown_option(found["group"], found["option"], options))
        return _first_line(error)
    if isinstance(error, OverrideParseException):
        return f"cannot read the override: {_first_line(error)} (Hydra's override grammar: key=value, group=option)"
    if isinstance(error, ConfigCompositionException):
        found = _OVERRIDE.search(str(error))
        if found is not None:
            key = found["key"].lstrip("+~")
            parts = key.split(".")
            for depth in range(len(parts)):  # the first part of the key that its parent does not hold
                parent, name = ".".join(parts[:depth]), parts[depth]
                valid = valid_keys(parent)
                if valid is None:
                    break
                if name not in valid:
                    return str(unknown_key(".".join(parts[:depth + 1]), valid))
            return (f"{key} is not in the config; to add it, write +{key}=... "
                    f"(`python -m xsearch --cfg job` prints the composed config)")
        return _first_line(error)
    return None


def _options(group: str) -> list[str]:
    """A config group's options: its YAML files in the config tree, and what the app registers in code."""
    from hydra.core.config_store import ConfigStore

    files = [p.stem for p in (contract.config_dir() / group).glob("*.yaml")]
    stored = ConfigStore.instance().repo
    for part in group.split("/"):
        stored = stored.get(part, {}) if isinstance(stored, dict) else {}
    return sorted({*files, *(name.removesuffix(".yaml") for name in stored)})


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0]
