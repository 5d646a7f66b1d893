"""Find the study a sweep directory holds and open it for reading, with errors that say what was expected.

Opening a SQLite URL for a file that does not exist would make Optuna create an
empty database there, so a missing file is checked for (and refused) first: a
report must never leave a fresh `study.db` behind in a mistyped path.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from xsearch import contract
from xsearch.redact import redact
from xsearch.studies.storage import is_journal, open_storage, storage_url


class NoStudyError(ValueError):
    """The storage opened, but it holds no study, several, or not the one named."""


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for an in-memory or non-SQLite URL)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):]
    return None if path in ("", ":memory:") else Path(path)


def resolve_url(sweep_dir: Path, storage: str | None) -> str:
    """The storage URL of the sweep, checked to point at something that exists."""
    if storage is None:
        if not sweep_dir.exists():
            raise FileNotFoundError(f"{sweep_dir} does not exist: expected a sweep directory (sweeps/<name>) "
                                    "written by python -m xsearch +sweep=<name>")
        if not sweep_dir.is_dir():
            raise NotADirectoryError(f"{sweep_dir} is not a directory: expected a sweep directory (sweeps/<name>)")
        database = sweep_dir / contract.STUDY_DB
        if not database.is_file():
            raise FileNotFoundError(f"no study in {sweep_dir}: expected {database} (the SQLite study of "
                                    "python -m xsearch +sweep=<name>); for another storage pass --storage URL")
        return storage_url(None, sweep_dir)
    if is_journal(storage) and not Path(storage).expanduser().is_file():
        raise FileNotFoundError(f"no journal file at {storage}: expected an Optuna journal written by a sweep")
    database = _sqlite_file(storage)
    if database is not None and not database.expanduser().is_file():
        raise FileNotFoundError(f"no SQLite file at {database} (from --storage {redact(storage)}): expected an "
                                "existing study database")
    return storage


def load_study(sweep_dir: Path, *, storage: str | None = None,
               study_name: str | None = None) -> tuple[optuna.Study, str]:
    """The study and its storage URL. Without a name, the storage must hold exactly one study."""
    url = resolve_url(sweep_dir, storage)
    try:
        opened = open_storage(url)
    except Exception as error:  # SQLAlchemy's many ways to refuse a URL all mean the same to a user
        raise NoStudyError(f"cannot open storage {redact(url)}: {error}") from None
    names = sorted(s.study_name for s in opened.get_all_studies())
    if study_name is None:
        if not names:
            raise NoStudyError(f"storage {redact(url)} holds no study: expected one written by "
                               "python -m xsearch +sweep=<name>")
        if len(names) > 1:
            raise NoStudyError(f"storage {redact(url)} holds {len(names)} studies ({', '.join(names)}): "
                               "choose one with --study NAME")
        study_name = names[0]
    elif study_name not in names:
        raise NoStudyError(f"no study {study_name!r} in {redact(url)}: it holds "
                           f"{', '.join(names) if names else 'no study'}")
    return optuna.load_study(study_name=study_name, storage=opened), url
