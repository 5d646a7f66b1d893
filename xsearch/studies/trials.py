"""Reading a study's trials the way xsearch writes them: which ones count, which were retried, how many end
in each state. Shared by the sweep (its console and results files) and the report."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from xsearch import contract
from xsearch.studies import optuna_private


def counted(study: optuna.Study) -> list[FrozenTrial]:
    """Every trial but the surplus ones (asked for past n_trials by a racing process, never run)."""
    return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(contract.SURPLUS)]


def retry_history(trial: FrozenTrial) -> list[int]:
    """The trials this one re-runs, oldest first (empty for a trial that is no retry)."""
    return list(trial.system_attrs.get(contract.OPTUNA_RETRY_HISTORY, []))


def retry_of(trial: FrozenTrial) -> int | None:
    """The number of the trial this one re-runs, or None."""
    history = retry_history(trial)
    return history[-1] if history else None


def retried_numbers(trials: list[FrozenTrial]) -> dict[int, str]:
    """Trial number -> why it was retried, for every trial that has a queued or finished copy."""
    return {original: t.user_attrs.get(contract.RETRY_REASON, "") for t in trials
            if (original := retry_of(t)) is not None}


def retry_copies(trials: list[FrozenTrial]) -> dict[int, int]:
    """Trial number -> the number of the copy that re-ran it."""
    return {original: t.number for t in trials if (original := retry_of(t)) is not None}


def state_counts(states: list[str]) -> dict[str, int]:
    """How many of each state, in the order the states first appear."""
    return dict(Counter(states))


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One plain record per counted trial: the one row every table of trials starts from (results.json and
    results.csv, the console's table at the end of a sweep, the report's trials.csv)."""
    trials = counted(study)
    retried = retried_numbers(trials)
    copies = retry_copies(trials)
    return [{
        "number": t.number,
        "state": contract.State.of_trial(t.state).value,
        "params": t.params or optuna_private.queued_params(t),  # a queued trial's values, before it runs
        "values": t.values,
        "duration_s": t.duration.total_seconds() if t.duration else None,
        "reason": t.user_attrs.get(contract.FAILURE_REASON) or retried.get(t.number),
        "retried": t.number in retried,
        "retried_by": copies.get(t.number),
        "retry_of": retry_of(t),
        "trial": t,
    } for t in trials]
