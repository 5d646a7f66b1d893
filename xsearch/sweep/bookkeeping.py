"""The study's bookkeeping: which trials count toward `n_trials`, and retrying those whose process died.

A trial counts once it is COMPLETE, PRUNED or FAIL for a reason of its own.
When a trial's process or worker died, a copy with the same parameters is
queued (WAITING) before the original is failed, a bounded number of times; the
copy names the original in Optuna's own retry bookkeeping (the system attributes
`RetryHeartbeatStaleTrialCallback.retry_history` reads), and the original then no
longer counts. So a resumed or surviving worker runs it again and nothing is
lost or run twice.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from xsearch import contract
from xsearch.studies import optuna_private
from xsearch.studies.trials import counted, retried_numbers, retry_history, retry_of

PENDING = (TrialState.RUNNING, TrialState.WAITING)


class Counts(NamedTuple):
    done: int  # finished trials that count toward n_trials
    pending: int  # running or queued
    queued: int  # WAITING: must be run whatever the total says


def counts(study: optuna.Study) -> Counts:
    trials = counted(study)
    retried = retried_numbers(trials)
    return Counts(done=sum(t.state.is_finished() and t.number not in retried for t in trials),
                  pending=sum(t.state in PENDING for t in trials),
                  queued=sum(t.state == TrialState.WAITING for t in trials))


def is_surplus(study: optuna.Study, trial: optuna.Trial, total: int) -> bool:
    """Whether `trial` is past the study's total. Workers in several processes can each see room for one
    more trial and ask at once; trial numbers are handed out atomically by the storage, so the lowest
    numbers win the slots, whichever process looks."""
    trials = study.get_trials(deepcopy=False)
    this = next(t for t in trials if t.number == trial.number)
    if retry_of(this) is not None or optuna_private.was_queued(this):
        return False  # a queued trial (a retry, a decided sweep's seed) was asked for on purpose: it takes no slot
    earlier = [t for t in trials if t.number < trial.number]
    slots = [t for t in earlier if retry_of(t) is None and not t.user_attrs.get(contract.SURPLUS)]
    return len(slots) >= total


def queue_retry(study: optuna.Study, trial: FrozenTrial, reason: str, *, max_retries: int,
                resume: str | None = None, stalled: bool = False) -> bool:
    """Queue a copy of `trial` unless its parameters have used up their retries; True when queued. A stall is
    retried once at most, whatever `max_retries` says: a hang that happens again is deterministic."""
    history = [*retry_history(trial), trial.number]
    stalls = trial.user_attrs.get(contract.STALLS, 0) + stalled
    if len(history) > max_retries or stalls > 1:
        return False
    attrs = {contract.STALLS: stalls, contract.RETRY_REASON: reason}
    if resume is not None:
        attrs[contract.RESUME_FROM] = resume
    # As Optuna's RetryHeartbeatStaleTrialCallback queues a retry: its parameters set, its series recorded.
    study.add_trial(optuna.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions, user_attrs=attrs,
        system_attrs={contract.OPTUNA_FAILED_TRIAL: history[0], contract.OPTUNA_RETRY_HISTORY: history}))
    return True


def fail(study: optuna.Study, trial: optuna.Trial, reason: str, *, retry: bool, max_retries: int,
         resume: str | None = None, stalled: bool = False) -> bool:
    """End `trial` as FAIL with its reason; a retry (resuming from `resume`) is queued first, so the count
    never dips."""
    trial.set_user_attr(contract.FAILURE_REASON, reason)
    frozen = optuna_private.frozen(study, trial)
    retried = retry and queue_retry(study, frozen, reason, max_retries=max_retries, resume=resume, stalled=stalled)
    study.tell(trial, state=TrialState.FAIL)
    return retried


def fail_if_running(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """End `trial` as FAIL with `reason` unless it has ended already."""
    if optuna_private.frozen(study, trial).state == TrialState.RUNNING:
        trial.set_user_attr(contract.FAILURE_REASON, reason)
        study.tell(trial, state=TrialState.FAIL)


def carry_reports(study: optuna.Study, trial: optuna.Trial) -> None:
    """A retry that resumes from its original's checkpoint starts with the original's reported epochs, so the
    pruner judges the whole run (it reports the later epochs itself)."""
    original = optuna_private.by_number(study, retry_of(optuna_private.frozen(study, trial)))
    for step, value in sorted(original.intermediate_values.items()):
        trial.report(value, step)


def fail_silent_trials(study: optuna.Study, grace_s: float, *, max_retries: int) -> list[int]:
    """In a journal study (no heartbeat of Optuna's): fail, and queue again, each running trial whose worker has not
    beaten for `grace_s`, as Optuna's heartbeat does for RDB storages. A driver that was killed (a node lost, a
    session ended) leaves its trials RUNNING; this is what lets the next one finish the study. Returns their
    numbers."""
    if not optuna_private.is_journal(study):
        return []
    now, failed = time.time(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = trial.user_attrs.get(contract.BEAT)
        if last is None and trial.datetime_start is not None:
            last = trial.datetime_start.timestamp()
        if last is not None and now - last > grace_s:
            queue_retry(study, trial, "worker stopped: no heartbeat", max_retries=max_retries)
            study.tell(trial.number, state=TrialState.FAIL)
            failed.append(trial.number)
    return failed


def stale_callback(max_retries: int):
    """For Optuna's heartbeat: a trial whose worker stopped beating has been failed by Optuna; retry it."""

    def on_stale(study: optuna.Study, trial: FrozenTrial) -> None:
        queue_retry(study, trial, "worker stopped: no heartbeat", max_retries=max_retries)

    return on_stale
