"""The study's lock (xsearch/studies/lock.py) lets one holder in at a time, for every storage it lives in."""

import threading
import time

import pytest

from xsearch.studies import lock
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


@pytest.mark.filterwarnings("ignore:The value of `grace_period` might be too small")
def test_a_journals_lock_held_past_its_grace_is_kept_while_its_holder_lives(tmp_path, monkeypatch):
    # A waiter breaks a journal lock that was not renewed for GRACE_S (its holder died); a live holder in a long
    # section (widening a big study) renews it, so no second driver enters beside it.
    monkeypatch.setattr(lock, "GRACE_S", 1.0)  # renewed every 0.25 s: a margin of four renewals
    storage = open_storage(str(tmp_path / "study.journal"))
    record: list[tuple[str, int]] = []

    def hold(i, seconds):
        with study_lock(storage, "s"):
            record.append(("in", i))
            time.sleep(seconds)
            record.append(("out", i))

    first = threading.Thread(target=hold, args=(0, 3.0))  # three graces
    first.start()
    time.sleep(0.2)
    second = threading.Thread(target=hold, args=(1, 0.0))
    second.start()
    for thread in (first, second):
        thread.join(timeout=30)
    assert record == [("in", 0), ("out", 0), ("in", 1), ("out", 1)]


@pytest.mark.slow
def test_a_postgresql_lock_not_had_in_time_is_an_error_naming_the_study(postgres, monkeypatch):
    monkeypatch.setattr(lock, "WAIT_S", 0.5)
    storage = open_storage(postgres)
    with study_lock(storage, "lock-test-held"):
        waited = []

        def wait():
            started = time.monotonic()
            try:
                with study_lock(storage, "lock-test-held"):
                    waited.append("entered")
            except TimeoutError as error:
                waited.append((str(error), time.monotonic() - started))

        waiter = threading.Thread(target=wait)
        waiter.start()
        waiter.join(timeout=30)
    message, seconds = waited[0]
    assert "'lock-test-held' was not released in 0.5 s" in message and seconds < 10
    with study_lock(storage, "lock-test-held"):  # released after all: the next holder gets it at once
        pass
