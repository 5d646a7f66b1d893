"""The lock that serializes what two drivers of one study must never do at once: ask for a trial and sample its
values (both would take the grid's next free point), and check, record or widen the study's config.

It lives where the study lives, so every driver that can reach the study shares it, whatever its sweep folder
and whichever node it runs on:

- PostgreSQL: an advisory lock keyed by the study's name, held on a connection of its own; a driver that dies
  drops its connection, and the lock with it; a driver waits for it `WAIT_S` at most, then fails, naming it;
- MySQL: `GET_LOCK` on the study's name, the same way;
- SQLite: a lock file beside the database (`flock`): the database is one local file that every driver opens, so
  every driver sees its lock file too (SQLite's own lock covers single writes only; holding its write lock while
  Optuna writes through another connection would deadlock);
- a journal file: the journal's own kind of lock beside it, a symbolic link made atomically, which network
  filesystems honour where `flock` may not; its holder renews it, and one left by a dead driver is broken
  `GRACE_S` after its last renewal;
- in memory: nothing beyond the process's own lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileSymlinkLock

from xsearch.schema import ConfigError
from xsearch.studies import optuna_private

GRACE_S = 60  # a journal's lock whose holder has not renewed it for this long was left by a dead driver
WAIT_S = 600  # a database lock not had in this long is an error, never an endless wait
POLL_S = 0.05  # how often a driver waiting for PostgreSQL's lock tries again


def _key(study_name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.sha256(f"xsearch study lock|{study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _not_had(study_name: str) -> TimeoutError:
    return TimeoutError(f"the lock of study {study_name!r} was not released in {WAIT_S} s: another driver of "
                        "the study holds it (a driver stuck inside it, or a database too slow to answer)")


@contextlib.contextmanager
def _advisory(storage: RDBStorage, study_name: str) -> Iterator[None]:
    # AUTOCOMMIT: the lock belongs to the session, so the connection never idles inside a transaction (a server's
    # idle_in_transaction_session_timeout would end the session and drop the lock unseen).
    with storage.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if storage.engine.dialect.name == "postgresql":
            params = {"key": _key(study_name)}
            take = sqlalchemy.text("SELECT pg_try_advisory_lock(:key)")
            unlock = sqlalchemy.text("SELECT pg_advisory_unlock(:key)")
            deadline = time.monotonic() + WAIT_S
            while not connection.execute(take, params).scalar():
                if time.monotonic() > deadline:
                    raise _not_had(study_name)
                time.sleep(POLL_S)
        else:  # mysql, mariadb
            params = {"name": "xsearch:" + hashlib.sha256(study_name.encode()).hexdigest()[:40], "wait": WAIT_S}
            unlock = sqlalchemy.text("SELECT RELEASE_LOCK(:name)")
            if connection.execute(sqlalchemy.text("SELECT GET_LOCK(:name, :wait)"), params).scalar() != 1:
                raise _not_had(study_name)
        try:
            yield
        finally:
            try:
                connection.execute(unlock, params)
            except Exception:
                connection.invalidate()  # the pool must not keep a session that may still hold the lock
                raise


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold `path`'s flock, waiting for it: between processes that see the same local file."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _journal(path: Path) -> Iterator[None]:
    # Optuna's own journal lock guards each append to the journal (so it cannot be held across one); this one,
    # of the same kind, guards the driver's section. Its link points at a file that exists, as Optuna's expects.
    # A waiter breaks a lock whose target has not been touched for GRACE_S, so the holder touches it while it
    # holds it (a section that widens a big study can take a while), and nobody else ever does; for WAIT_S at
    # most, so that a holder stuck inside never holds it forever.
    target = path.with_name(path.name + ".sampling")
    if not target.exists():
        target.touch()
    lock = JournalFileSymlinkLock(str(target), grace_period=GRACE_S)
    lock.acquire()
    released = threading.Event()

    def renew() -> None:
        deadline = time.monotonic() + WAIT_S
        while not released.wait(GRACE_S / 4) and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                os.utime(target)

    renewer = threading.Thread(target=renew, name="xsearch-journal-lock", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        released.set()
        renewer.join()
        lock.release()


def study_lock(storage: BaseStorage, study_name: str) -> contextlib.AbstractContextManager:
    """The lock of study `study_name` in `storage`, as a context manager."""
    backend = optuna_private.backend(storage)
    if isinstance(backend, RDBStorage):
        if backend.engine.dialect.name in ("postgresql", "mysql", "mariadb"):
            return _advisory(backend, study_name)
        if backend.engine.dialect.name == "sqlite" and backend.engine.url.database not in (None, "", ":memory:"):
            return file_lock(Path(backend.engine.url.database).with_suffix(".lock"))
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
