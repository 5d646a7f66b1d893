"""Inside a trial's process: report the validation metric to Optuna every epoch and stop when the pruner says so.

Training knows nothing of Optuna: this is one more Lightning callback, which the app adds to a trial's run.
The worker that launched the trial passes the study's coordinates in the environment (never in a config or
a log: a storage URL may hold a password), so a trial's saved config re-runs alone as an ordinary run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import optuna
import pytorch_lightning as pl

from xsearch import contract
from xsearch.settings.components import build_pruner
from xsearch.studies import optuna_private
from xsearch.studies.storage import open_storage


@dataclasses.dataclass(frozen=True)
class TrialLink:
    storage: str
    study: str
    number: int
    pruner: dict[str, Any]
    monitor: str

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> TrialLink | None:
        raw = os.environ.get(contract.TRIAL_ENV)
        found = json.loads(raw) if raw else None
        return cls(**found) if isinstance(found, dict) else None  # (a list: a fused group's, `group_from_env`)

    @staticmethod
    def group_to_env(links: list[TrialLink]) -> str:
        """A fused group's links, in its members' order, in the one variable a trial process reads."""
        return json.dumps([dataclasses.asdict(link) for link in links])

    @classmethod
    def group_from_env(cls) -> list[TrialLink] | None:
        raw = os.environ.get(contract.TRIAL_ENV)
        found = json.loads(raw) if raw else None
        return [cls(**link) for link in found] if isinstance(found, list) else None


class CopyReporter:
    """A fused copy's pruning: reports its metric each epoch to its own trial and says whether to prune it."""

    def __init__(self, link: TrialLink) -> None:
        study = optuna.load_study(study_name=link.study, storage=open_storage(link.storage),
                                  pruner=build_pruner(link.pruner))
        self.trial = optuna_private.live_trial(study, link.number)
        self.reports = len(study.directions) == 1

    def __call__(self, value: float, epochs: int) -> bool:
        if not self.reports:
            return False
        self.trial.report(value, step=epochs)
        return self.trial.should_prune()


class OptunaReporter(pl.Callback):
    """Reports `monitor` after each validation; rank 0 asks the pruner and every rank stops together.

    A run it stops ends with status `pruned` (`stopped_as`, which training reads from its callbacks)."""

    def __init__(self, link: TrialLink) -> None:
        self.link = link
        study = optuna.load_study(study_name=link.study, storage=open_storage(link.storage),
                                  pruner=build_pruner(link.pruner))
        self.trial = optuna_private.live_trial(study, link.number)
        # Optuna keeps intermediate values and prunes in single-objective studies only.
        self.reports = len(study.directions) == 1
        self.pruned_at: int | None = None

    @property
    def stopped_as(self) -> str | None:
        return contract.State.PRUNED if self.pruned_at is not None else None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.reports or trainer.sanity_checking or self.link.monitor not in trainer.callback_metrics:
            return
        # Optuna's step is the number of epochs trained, so a pruner's resource counts epochs: successive
        # halving's rung at min_resource=1 falls after the first epoch, and n_warmup_steps=2 first prunes after two.
        epochs = trainer.current_epoch + 1
        finished = trainer.max_epochs is not None and epochs >= trainer.max_epochs
        prune = False
        if trainer.is_global_zero:
            self.trial.report(float(trainer.callback_metrics[self.link.monitor]), step=epochs)
            # A trial that has trained its whole budget completes: pruning it now would only throw its result away.
            prune = not finished and self.trial.should_prune()
        if trainer.strategy.broadcast(prune, src=0):
            self.pruned_at = epochs
            trainer.should_stop = True
