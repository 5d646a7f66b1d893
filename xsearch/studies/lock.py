"""The lock that serializes what two drivers of one study must never do at once: ask for a trial and sample its
values (both would take the grid's next free point), and check, record or widen the study's config.

It lives where the study lives, so every driver that can reach the study shares it, whatever its sweep folder
and whichever node it runs on:

- PostgreSQL: an advisory lock keyed by the study's name (`pg_advisory_lock`), held on a connection of its own;
  a driver that dies drops its connection, and the lock with it;
- MySQL: `GET_LOCK` on the study's name, the same way;
- SQLite: a lock file beside the database (`flock`): the database is one local file that every driver opens, so
  every driver sees its lock file too (SQLite's own lock covers single writes only; holding its write lock while
  Optuna writes through another connection would deadlock);
- a journal file: the journal's own kind of lock beside it, a symbolic link made atomically, which network
  filesystems honour where `flock` may not; one left by a dead driver is broken after `GRACE_S`;
- in memory: nothing beyond the process's own lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileSymlinkLock

from xsearch.studies import optuna_private
from xsearch.validate import ConfigError

GRACE_S = 60  # a journal's lock not released for this long was left by a dead driver: every holder is brief
WAIT_S = 600  # MySQL's GET_LOCK gives up after this long (holders keep it for well under a second)


def _key(study_name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.sha256(f"xsearch study lock|{study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _advisory(storage: RDBStorage, study_name: str) -> Iterator[None]:
    backend = storage.engine.dialect.name
    with storage.engine.connect() as connection:
        if backend == "postgresql":
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": _key(study_name)})
            unlock = sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": _key(study_name)}
        else:  # mysql, mariadb
            name = "xsearch:" + hashlib.sha256(study_name.encode()).hexdigest()[:40]
            got = connection.execute(sqlalchemy.text("SELECT GET_LOCK(:name, :wait)"),
                                     {"name": name, "wait": WAIT_S}).scalar()
            if got != 1:
                raise TimeoutError(f"the lock of study {study_name!r} was not released in {WAIT_S} s")
            unlock = sqlalchemy.text("SELECT RELEASE_LOCK(:name)"), {"name": name}
        try:
            yield
        finally:
            connection.execute(*unlock)
            connection.commit()


@contextlib.contextmanager
def _file(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _journal(path: Path) -> Iterator[None]:
    # Optuna's own journal lock guards each append to the journal (so it cannot be held across one); this one,
    # of the same kind, guards the driver's section. Its link points at a file that exists, as Optuna's expects.
    target = path.with_name(path.name + ".sampling")
    target.touch(exist_ok=True)
    lock = JournalFileSymlinkLock(str(target), grace_period=GRACE_S)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def study_lock(storage: BaseStorage, study_name: str) -> contextlib.AbstractContextManager:
    """The lock of study `study_name` in `storage`, as a context manager."""
    backend = optuna_private.backend(storage)
    if isinstance(backend, RDBStorage):
        if backend.engine.dialect.name in ("postgresql", "mysql", "mariadb"):
            return _advisory(backend, study_name)
        if backend.engine.dialect.name == "sqlite" and backend.engine.url.database not in (None, "", ":memory:"):
            return _file(Path(backend.engine.url.database).with_suffix(".lock"))
        if backend.engine.dialect.name == "sqlite":  # in memory: one process
            return contextlib.nullcontext()
        raise ConfigError(f"sweep.storage: xsearch has no study lock for {backend.engine.dialect.name} databases, so "
                          "two of its drivers could take the same trial; use PostgreSQL, MySQL, SQLite or a journal "
                          "file")
    if isinstance(backend, JournalStorage):
        return _journal(Path(optuna_private.journal_path(backend)))
    if isinstance(backend, InMemoryStorage):
        return contextlib.nullcontext()
    raise ConfigError(f"sweep.storage: xsearch has no study lock for a {type(backend).__name__}")
