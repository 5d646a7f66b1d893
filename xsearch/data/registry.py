"""How each dataset's datamodule is built, by `data.name`: imported only when a run builds it, so naming a
dataset (its settings, xsearch/data/settings.py) never loads torch.

Adding a dataset is a settings class in settings.py, a module that builds its datamodule, its YAML in
conf/data/, and one entry here.
"""

from __future__ import annotations

import importlib
from typing import Any

from xsearch.data.settings import SETTINGS, DataSettings

BUILDERS = {
    "digits": "xsearch.data.digits:digits_datamodule",
    "cifar10": "xsearch.data.cifar:cifar_datamodule",
    "cifar100": "xsearch.data.cifar:cifar_datamodule",
    "imagefolder": "xsearch.data.imagefolder:imagefolder_datamodule",
    "imagefolder_memory": "xsearch.data.imagefolder_memory:imagefolder_memory_datamodule",
    "synthetic": "xsearch.data.synthetic:synthetic_datamodule",
}
assert set(BUILDERS) == set(SETTINGS), "every dataset has settings and a builder"


def build_datamodule(settings: DataSettings, *, seed: int = 0) -> Any:
    """The datamodule for `settings` (a LightningDataModule), with `num_classes`, `channels` and `size` known.

    A missing or malformed dataset raises DataError here, before any model is built. `seed` orders the
    training batches; a dataset's split and synthetic tensors follow its own `split_seed`, so they stay put
    when only the training seed changes.
    """
    module, _, name = BUILDERS[settings.name].partition(":")
    return getattr(importlib.import_module(module), name)(settings, seed=seed)
