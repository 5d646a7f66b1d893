"""The study's lock (xsearch/studies/lock.py) lets one holder in at a time, for every storage it lives in."""

import threading
import time

import pytest

from xsearch.studies.lock import study_lock
from xsearch.studies.storage import open_storage


def holders_overlap(storage, name: str, holders: int = 3) -> list[tuple[str, int]]:
    """Each holder records its entry and exit, holding the lock a while; returns the record."""
    record: list[tuple[str, int]] = []

    def hold(i):
        with study_lock(storage, name):
            record.append(("in", i))
            time.sleep(0.2)
            record.append(("out", i))

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(holders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return record


def serialized(record) -> bool:
    pairs = [record[i:i + 2] for i in range(0, len(record), 2)]
    return all(a == ("in", b[1]) and b[0] == "out" for a, b in pairs)


@pytest.mark.parametrize("where", ["sqlite", "journal"])
def test_one_holder_at_a_time_on_a_file_storage(tmp_path, where):
    url = f"sqlite:///{tmp_path / 'study.db'}" if where == "sqlite" else str(tmp_path / "study.journal")
    record = holders_overlap(open_storage(url), "s")
    assert len(record) == 6 and serialized(record), record


@pytest.mark.slow
def test_one_holder_at_a_time_on_postgresql_and_other_studies_are_not_held(postgres):
    storage = open_storage(postgres)
    record = holders_overlap(storage, "lock-test-a")
    assert len(record) == 6 and serialized(record), record
    entered = threading.Event()

    def other_study():
        with study_lock(storage, "lock-test-b"):
            entered.set()

    with study_lock(storage, "lock-test-a"):  # another study's lock is another lock: not held by this one
        other = threading.Thread(target=other_study)
        other.start()
        other.join(timeout=10)
        assert entered.is_set()
