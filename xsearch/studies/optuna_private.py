"""Every use xsearch makes of Optuna's private API, in one place, each pinned by tests/test_optuna_private.py.

Optuna's public API has no way to reach a trial from another process, to read a live trial's latest state by
number, or to send a heartbeat outside `Study.optimize`; xsearch's workers and trial processes need all three.
An Optuna release that changes any of these fails those tests first, and this module is the one to mend.
"""

from __future__ import annotations

import time

import optuna
from optuna.storages import BaseStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import FrozenTrial

from xsearch import contract

QUEUED_VALUES = "fixed_params"  # where Study.enqueue_trial keeps a queued trial's values


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


def is_journal(study: optuna.Study) -> bool:
    return isinstance(backend(study._storage), optuna.storages.JournalStorage)


def beats(study: optuna.Study) -> bool:
    """Whether a worker tells this study its trials are alive: Optuna's heartbeat (RDB), or xsearch's own beat
    attribute (a journal file, where Optuna has none)."""
    return heartbeat_enabled(study) or is_journal(study)


def beat(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> None:
    """Tell the storage this trial's worker is alive (Optuna does it only inside `Study.optimize`)."""
    if heartbeat_enabled(study):
        study._storage.record_heartbeat(trial._trial_id)
    elif is_journal(study):
        study._storage.set_trial_user_attr(trial._trial_id, contract.BEAT, time.time())


def was_queued(trial: FrozenTrial) -> bool:
    """Whether the trial was put in the queue with its values (Study.enqueue_trial), not sampled."""
    return QUEUED_VALUES in trial.system_attrs


def queued_params(trial: FrozenTrial) -> dict:
    """The values a queued trial will run with: Optuna keeps them aside until a worker takes it."""
    return dict(trial.system_attrs.get(QUEUED_VALUES) or {})


def backend(storage: BaseStorage) -> BaseStorage:
    """The storage itself, out of the cache Optuna wraps an RDB storage in when a study opens it."""
    return storage._backend if isinstance(storage, _CachedStorage) else storage


def journal_path(storage: optuna.storages.JournalStorage) -> str:
    """The file a journal storage writes (its backend keeps the path to itself)."""
    return storage._backend._file_path
