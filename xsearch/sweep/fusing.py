"""Which trials a worker trains together (`sweep.fuse`): more seeds of the point it has just asked for.

Asked under the study's lock, with the first: the next trial waiting in the study if it is another seed of the
point (a decided sweep's look queues a point's seeds together), else, in a grid, a free grid point that is.
A trial queued to resume from a checkpoint always runs alone.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

from xsearch import contract
from xsearch.settings.space import SearchSpace
from xsearch.studies import optuna_private
from xsearch.sweep import bookkeeping
from xsearch.sweep.grid import GridSampler


def _point(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != contract.SEED}


def another_seed(study: optuna.Study, sampler: optuna.samplers.BaseSampler, space: SearchSpace,
                 params: dict[str, Any], total: int) -> tuple[optuna.Trial, dict[str, Any]] | None:
    """Another trial of `params`' point, asked now; None where there is none to take."""
    if contract.SEED not in params:
        return None
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    if waiting:  # Optuna asks for the oldest waiting trial first: take it only if it is one of ours
        first = min(waiting, key=lambda t: t.number)
        queued = optuna_private.queued_params(first)
        if _point(queued) != _point(params) or contract.SEED not in queued or first.user_attrs.get(
                contract.RESUME_FROM) is not None:
            return None
    else:
        if not isinstance(sampler, GridSampler):
            return None
        free = [p for p in sampler.free_points(study) if _point(p) == _point(params)]
        if not free:
            return None
        study.enqueue_trial(free[0])
    trial = study.ask()
    if bookkeeping.is_surplus(study, trial, total):
        trial.set_user_attr(contract.SURPLUS, True)
        study.tell(trial, state=TrialState.FAIL)
        return None
    values = space.suggest(trial)
    optuna_private.beat(study, trial)
    return trial, values
