"""The Lightning callbacks the `callbacks` config group names (EarlyStopping, LearningRateMonitor, ...),
instantiated. They join xsearch's own, which every run has whatever the group says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate


def build_callbacks(entries: Mapping[str, Mapping[str, Any]]) -> list[pl.Callback]:
    return [instantiate(dict(entry), _convert_="all") for entry in entries.values()]
