"""A config group's shipped values (conf/<group>/<name>.yaml) as a plain dict, for code that builds settings
without composing a whole config: benchmarks, tests, a notebook.

    OptimSettings.from_mapping({**preset("optim", "adamw"), "lr": 0.01})
    data_settings({**preset("data", "digits"), "batch_size": 128})
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from xsearch import contract


def preset(group: str, name: str) -> dict[str, Any]:
    path = contract.config_dir() / group / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no {group}={name}: {path} does not exist")
    values = OmegaConf.to_container(OmegaConf.load(path))
    if "defaults" in values:
        raise ValueError(f"{path} builds on other configs (a defaults list): compose it with Hydra instead")
    return values
