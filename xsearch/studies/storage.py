"""Where a study lives: a SQLite file by default, any Optuna RDB URL, or a journal file on a shared filesystem.

A server's password never goes into the URL (Hydra saves overrides and configs next to every run): PostgreSQL
takes it from PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass), as libpq always does, and any other
server from an interpolation such as `${oc.env:XSEARCH_DB_PASSWORD}`, which the saved configs keep unresolved.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from xsearch import contract
from xsearch.redact import redact
from xsearch.schema import ConfigError

JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
CONNECT_TIMEOUT_S = 10  # an unreachable server is an error within seconds, not after the OS gives up on TCP
# Once a process has reached the server, a lost connection is waited out this long (a restart, a failover)
# before the operation fails: trials keep training meanwhile, and nothing is lost.
OUTAGE_S = 300


PASSWORD_IN_URL = ("sweep.storage has a password written into it, and Hydra saves overrides and configs next to "
                   "every run: give PostgreSQL its password in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass), "
                   "or interpolate it, e.g. 'postgresql://user:${oc.env:XSEARCH_DB_PASSWORD}@host/db'")


class StorageError(ConfigError):
    """The study's storage cannot be opened: the message names the server, never its password."""


# How to install the driver a storage URL needs, for the databases xsearch documents.
DRIVER_INSTALLS = {"postgresql": "pip install 'xsearch[postgres]'", "mysql": "pip install pymysql"}



STALE_BEATS = 3  # a running trial with no heartbeat for this many intervals is dead (Optuna's and xsearch's own)


def stale_after(heartbeat: float) -> float:
    """Seconds without a beat after which a running trial counts as dead."""
    return STALE_BEATS * heartbeat

def literal_password(url: str) -> bool:
    """Whether `url` (as written, before interpolation) carries a password of its own."""
    if "://" not in url or "${" in url:
        return False
    try:
        return sqlalchemy.engine.make_url(url).password is not None
    except sqlalchemy.exc.ArgumentError:
        return False


def storage_url(storage: str | None, root: Path) -> str:
    return storage if storage else f"sqlite:///{root / contract.STUDY_DB}"


def is_journal(url: str) -> bool:
    return "://" not in url and url.endswith(JOURNAL_SUFFIXES)


def check_url(url: str) -> sqlalchemy.engine.URL:
    """An RDB storage URL, parsed, whose database driver is installed; else a StorageError naming the fix."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise StorageError(f"sweep.storage={redact(url)!r} is invalid: expected an Optuna RDB URL "
                           "(sqlite:///path, postgresql://user@host/db, mysql+pymysql://...) or a journal file path "
                           f"ending in {', '.join(JOURNAL_SUFFIXES)}") from None
    try:
        parsed.get_dialect().import_dbapi()  # the database's driver, as SQLAlchemy will load it
    except ImportError as error:
        backend = parsed.get_backend_name()
        fix = DRIVER_INSTALLS.get(backend, f"install the {backend} driver SQLAlchemy names in its dialect docs")
        raise StorageError(f"sweep.storage={redact(url)!r} needs the database driver {error.name or error}, which "
                           f"is not installed: {fix}") from None
    return parsed


def open_storage(url: str, *, heartbeat: int | None = None,
                 on_stale: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None
                 ) -> optuna.storages.BaseStorage:
    """The storage for `url`; with `heartbeat`, RDB storages detect trials whose worker stopped beating."""
    if is_journal(url):
        # Journal files have no heartbeat in Optuna: a dead worker's trial stays RUNNING there.
        return JournalStorage(JournalFileBackend(str(Path(url).expanduser().resolve())))
    parsed = check_url(url)
    if parsed.get_backend_name() == "sqlite":
        # Workers, trial processes and heartbeats write to one file: wait for the lock instead of failing.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True, "creator": _patient_connect(parsed)}
    beat = {} if heartbeat is None else {"heartbeat_interval": heartbeat, "grace_period": stale_after(heartbeat),
                                         "heartbeat_stale_trial_callback": on_stale}
    try:
        return _create(url, engine_kwargs, beat)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as error:
        where = f"{parsed.host or 'localhost'}:{parsed.port}" if parsed.port else (parsed.host or parsed.database)
        cause = getattr(error, "orig", None) or error
        reason = redact(" ".join(str(cause).split()))
        if parsed.password:
            reason = reason.replace(parsed.password, "***")
        raise StorageError(f"cannot open the study storage {redact(url)} at {where}: {reason}") from None


def _patient_connect(url: sqlalchemy.engine.URL) -> Callable[[], object]:
    """A connection factory that fails fast until the server has answered once, then waits out an outage.

    Optuna's RDB storage connects on every operation after the pool found its connection dead (pool_pre_ping),
    so a server that is restarted only delays the sweep's next ask, report or heartbeat instead of failing a
    trial that trained on without it. A connection that breaks in the middle of a statement still fails that
    statement: only connecting is retried, which never repeats a write."""
    dialect = sqlalchemy.create_engine(url).dialect  # the URL's driver, as SQLAlchemy itself would load it
    cargs, cparams = dialect.create_connect_args(url)
    cparams.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    reached = False

    def connect() -> object:
        nonlocal reached
        deadline = time.monotonic() + (OUTAGE_S if reached else 0)
        delay = 0.5
        while True:
            try:
                connection = dialect.dbapi.connect(*cargs, **cparams)
                reached = True
                return connection
            except dialect.dbapi.OperationalError:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 5.0)

    return connect


def _create(url: str, engine_kwargs: dict, beat: dict, attempts: int = 5) -> RDBStorage:
    for attempt in range(1, attempts):
        try:
            return RDBStorage(url, engine_kwargs=engine_kwargs, **beat)
        except sqlalchemy.exc.SQLAlchemyError as error:
            # Workers starting together on a new database race to create Optuna's tables; the losers see them
            # half made ("already exists", PostgreSQL's "duplicate key" on its catalog, SQLite's "UNIQUE
            # constraint failed" on alembic's version row). The next try finds them.
            if not any(s in str(error) for s in ("already exists", "duplicate key", "UNIQUE constraint failed")):
                raise
            time.sleep(0.2 * attempt)
    return RDBStorage(url, engine_kwargs=engine_kwargs, **beat)
