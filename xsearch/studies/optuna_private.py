"""Every use xsearch makes of Optuna's private API, in one place, each pinned by tests/test_optuna_private.py.

Optuna's public API has no way to reach a trial from another process, to read a live trial's latest state by
number, or to send a heartbeat outside `Study.optimize`; xsearch's workers and trial processes need all three.
An Optuna release that changes any of these fails those tests first, and this module is the one to mend.
"""

from __future__ import annotations

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial


def storage(study: optuna.Study) -> BaseStorage:
    return study._storage


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's own key of a trial (its number is only unique within its study)."""
    return trial._trial_id


def frozen(study: optuna.Study, trial: optuna.Trial) -> FrozenTrial:
    """The stored state of a trial this process asked for: its attributes as they are now."""
    return study._storage.get_trial(trial._trial_id)


def by_number(study: optuna.Study, number: int) -> FrozenTrial:
    stored = study._storage
    return stored.get_trial(stored.get_trial_id_from_study_id_trial_number(study._study_id, number))


def live_trial(study: optuna.Study, number: int) -> optuna.Trial:
    """A handle on a running trial that another process asked for, to report to and ask the pruner with."""
    return optuna.Trial(study, trial_id(by_number(study, number)))


def heartbeat_enabled(study: optuna.Study) -> bool:
    # Duck-typed: a study wraps its RDBStorage in Optuna's caching storage, which is no RDBStorage.
    interval = getattr(study._storage, "get_heartbeat_interval", None)
    return interval is not None and interval() is not None


def beat(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> None:
    """Tell the storage this trial's worker is alive (Optuna does it only inside `Study.optimize`)."""
    if heartbeat_enabled(study):
        study._storage.record_heartbeat(trial._trial_id)
