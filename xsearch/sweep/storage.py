"""Where a study lives: a SQLite file by default, any Optuna RDB URL, or a journal file on a shared filesystem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from xsearch.training.tracking import redact

JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")


def storage_url(storage: str | None, root: Path) -> str:
    return storage if storage else f"sqlite:///{root / 'study.db'}"


def is_journal(url: str) -> bool:
    return "://" not in url and url.endswith(JOURNAL_SUFFIXES)


def open_storage(url: str, *, heartbeat: int | None = None,
                 on_stale: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None
                 ) -> optuna.storages.BaseStorage:
    """The storage for `url`; with `heartbeat`, RDB storages detect trials whose worker stopped beating."""
    if is_journal(url):
        # Journal files have no heartbeat in Optuna: a dead worker's trial stays RUNNING there.
        return JournalStorage(JournalFileBackend(str(Path(url).expanduser().resolve())))
    engine_kwargs = {}
    if url.startswith("sqlite"):
        # Workers, trial processes and heartbeats write to one file: wait for the lock instead of failing.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    beat = {} if heartbeat is None else {"heartbeat_interval": heartbeat, "grace_period": 3 * heartbeat,
                                         "heartbeat_stale_trial_callback": on_stale}
    return RDBStorage(url, engine_kwargs=engine_kwargs, **beat)


def heartbeat_enabled(storage: optuna.storages.BaseStorage) -> bool:
    # Duck-typed: a study wraps its RDBStorage in Optuna's caching storage, which is no RDBStorage.
    interval = getattr(storage, "get_heartbeat_interval", None)
    return interval is not None and interval() is not None


def shown(url: str) -> str:
    """The URL as it may be printed or logged: never with its password."""
    return redact(url)
