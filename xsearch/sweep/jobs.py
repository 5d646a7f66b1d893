"""Waiting for a --multirun's SLURM jobs so that the submitting process always ends.

submitit learns that a job ended from its result file or from SLURM's accounting (`sacct`). A job that is
cancelled or loses its node writes no result, and where accounting is off (small clusters often run without
it) submitit then polls forever. Here a job is over once it has a result or has left the queue (`squeue`) for
GONE_GRACE_S without one. For a sweep's worker jobs that is enough: the study is what they produce, and the
other jobs re-run a dead job's trials, so once the study is complete a dead job is named and the command ends.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import optuna

from xsearch.settings.sweep import SweepSettings
from xsearch.studies.storage import open_storage, storage_url
from xsearch.sweep import bookkeeping, decide

GONE_GRACE_S = 10.0  # a result file written just before the job left the queue may take this long to show
POLL_S = 2.0


class Job(Protocol):
    job_id: str

    def done(self) -> bool: ...


def queued(jobs: Sequence[Job]) -> set[str] | None:
    """The ids (`123_4` for array tasks) of those `jobs` still in SLURM's queue; None when squeue fails."""
    arrays = sorted({job.job_id.split("_")[0] for job in jobs})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:  # squeue refuses ids it no longer knows when none of them is left
        return set() if "Invalid job id" in out.stderr else None
    return set(out.stdout.split())


def wait(jobs: Sequence[Job], *, study_complete: Callable[[], bool] | None = None,
         in_queue: Callable[[Sequence[Job]], set[str] | None] = queued, poll_s: float = POLL_S,
         grace_s: float = GONE_GRACE_S) -> list[Job]:
    """Waits until every job has its result or is gone from the queue without one, and returns the gone ones.
    With `study_complete`, those are reported as dead workers of a study that ended without them."""
    gone_since: dict[str, float] = {}
    while True:
        pending = [job for job in jobs if not job.done()]
        if not pending:
            return []
        listed = in_queue(pending)
        now = time.monotonic()
        for job in pending:
            if listed is not None and job.job_id not in listed:
                gone_since.setdefault(job.job_id, now)
            else:
                gone_since.pop(job.job_id, None)
        dead = [job for job in pending if job.job_id in gone_since and now - gone_since[job.job_id] >= grace_s]
        if len(dead) == len(pending):
            names = ", ".join(job.job_id for job in dead)
            if study_complete is not None and study_complete():
                print(f"xsearch: SLURM job(s) {names} left the queue without a result (cancelled, or the node "
                      "was lost); the study is complete, the other jobs ran their trials", file=sys.stderr, flush=True)
            else:
                print(f"xsearch: SLURM job(s) {names} left the queue without a result (cancelled, or the node "
                      "was lost)", file=sys.stderr, flush=True)
            return dead
        time.sleep(poll_s)


def study_complete(sweep: Any) -> Callable[[], bool] | None:
    """For a sweep's config node: whether its study has all its trials and none running; None without one."""
    if sweep is None:
        return None
    settings = SweepSettings.from_mapping(sweep)
    url = storage_url(settings.storage, settings.root)

    def complete() -> bool:
        try:
            study = optuna.load_study(study_name=settings.name, storage=open_storage(url))
        except KeyError:  # no study yet: every job died before creating it
            return False
        counts = bookkeeping.counts(study)
        planned = counts.done >= settings.total and not counts.pending
        return planned and (not settings.decide or decide.finished(study))

    return complete
