"""The submitting process of a --multirun on SLURM always ends: a job that left the queue without a result is
over (it will never write one), and a sweep whose study is complete ends without its dead workers."""

import pytest

from xsearch.sweep import jobs


class FakeJob:
    def __init__(self, job_id: str, *, done_after: int | None = None):
        self.job_id = job_id
        self.polls = 0
        self.done_after = done_after

    def done(self) -> bool:
        self.polls += 1
        return self.done_after is not None and self.polls > self.done_after


def queue(*listings):
    """squeue's answers, one per poll; the last one repeats."""
    answers = list(listings)

    def in_queue(pending):
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return in_queue


def test_jobs_with_results_end_the_wait_at_once():
    assert jobs.wait([FakeJob("1_0", done_after=0), FakeJob("1_1", done_after=2)], in_queue=queue({"1_1"}),
                     poll_s=0, grace_s=0) == []


def test_a_job_gone_from_the_queue_without_a_result_is_named_once_the_study_is_complete(capsys):
    dead, alive = FakeJob("7_1"), FakeJob("7_0", done_after=3)
    assert jobs.wait([alive, dead], in_queue=queue({"7_0", "7_1"}, {"7_0"}), study_complete=lambda: True,
                     poll_s=0, grace_s=0) == [dead]
    assert "SLURM job(s) 7_1 left the queue without a result" in capsys.readouterr().err
    assert alive.polls > 3  # the live job was waited for first


def test_a_job_still_queued_is_waited_for_and_an_unanswered_squeue_declares_nothing_dead():
    job = FakeJob("3_0")
    answers = [{"3_0"}, None, None, {"3_0"}, set()]
    calls = []

    def in_queue(pending):
        calls.append(1)
        return answers[min(len(calls), len(answers)) - 1]

    assert jobs.wait([job], in_queue=in_queue, poll_s=0, grace_s=0) == [job]
    assert len(calls) == 5  # not before the queue said, in so many words, that the job is gone


def test_a_job_must_stay_gone_for_the_grace_period(monkeypatch):
    clock = iter(range(0, 1000, 4))  # each poll is 4 s later
    monkeypatch.setattr(jobs.time, "monotonic", lambda: next(clock))
    job = FakeJob("5_0")
    assert jobs.wait([job], in_queue=queue(set()), poll_s=0, grace_s=10) == [job]
    assert job.polls == 4  # gone at t=0, still gone at t=12 >= 10


@pytest.mark.parametrize("complete", [True, False])
def test_the_study_decides_how_a_dead_worker_is_reported(capsys, complete):
    jobs.wait([FakeJob("9_0")], in_queue=queue(set()), study_complete=lambda: complete, poll_s=0, grace_s=0)
    err = capsys.readouterr().err
    assert ("the study is complete" in err) is complete
