"""Config groups of `_target_` entries, as in lightning-hydra-template: `logger` and `callbacks`.

Each group's node maps an entry's name to its class (`_target_`, a dotted path) and the class's arguments;
`logger=[wandb,tensorboard]` selects several files of the group, whose entries merge. An entry set to null
(`logger.csv=null`) is switched off. Each class is imported here, before anything is built, so a typo or a
package that is not installed stops the run at once, naming the `pip install` that mends it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from xsearch.schema import ConfigError

# Classes that need a package xsearch does not install by default: {class name: (module, the pip install)}.
OPTIONAL = {
    "WandbLogger": ("wandb", "pip install wandb"),
    "TensorBoardLogger": ("tensorboard", "pip install tensorboard"),
    "MLFlowLogger": ("mlflow", "pip install mlflow"),
    "CometLogger": ("comet_ml", "pip install comet-ml"),
    "NeptuneLogger": ("neptune", "pip install neptune"),
    "RichProgressBar": ("rich", "pip install rich"),
    "RichModelSummary": ("rich", "pip install rich"),
    "CmaEsSampler": ("cmaes", "pip install cmaes"),
}


def check_installed(key: str, entry: Mapping[str, Any]) -> None:
    """A ConfigError naming the install when the entry's class needs a package that is not installed."""
    needed = OPTIONAL.get(class_name(entry))
    if needed is not None and importlib.util.find_spec(needed[0]) is None:
        raise ConfigError(f"{key} ({entry['_target_']}) needs {needed[0]}, which is not installed: {needed[1]}")


def class_name(entry: Mapping[str, Any]) -> str:
    return str(entry["_target_"]).rsplit(".", 1)[-1]


def entries(group: str, node: Any) -> dict[str, dict[str, Any]]:
    """{entry name: entry}, every entry a mapping with a `_target_` (null entries left out)."""
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise ConfigError(f"{group}={node!r} is invalid: expected a mapping of entries, each with a _target_ "
                          f"(choose a file of conf/{group}/, e.g. {group}=none)")
    found = {}
    for name, entry in node.items():
        if entry is None:
            continue
        target = entry.get("_target_") if isinstance(entry, Mapping) else None
        if not isinstance(target, str) or "." not in target:
            raise ConfigError(f"{group}.{name}={entry!r} is invalid: expected a mapping with _target_ naming a class "
                              "by its dotted path, and the class's arguments")
        found[str(name)] = dict(entry)
    return found


def resolve(group: str, name: str, entry: Mapping[str, Any], base: type) -> type:
    """The entry's class, imported and checked to be a `base`."""
    check_installed(f"{group}.{name}", entry)
    from hydra.utils import get_class

    try:
        cls = get_class(entry["_target_"])
    except Exception as error:  # ImportError, AttributeError: Hydra words both
        raise ConfigError(f"{group}.{name}._target_={entry['_target_']} cannot be imported: {error}") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{group}.{name}._target_={entry['_target_']} is not a {base.__module__}.{base.__name__}")
    return cls
