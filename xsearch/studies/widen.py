"""Widening a study's categorical choices in place: a grid that gains values continues its study.

Optuna checks every new trial's distribution against the one first stored for that parameter, and a
categorical distribution must match to the choice, so a study cannot take a value it did not start with. The
study is rewritten instead: each trial is kept as it is (number, state, values, reports, attributes, times)
with the wider distribution, through public API only. A copy is made first and removed last, so a crash in
between loses nothing: the next open restores from the copy.
"""

from __future__ import annotations

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from xsearch.schema import ConfigError

BACKUP_SUFFIX = "~before-widening"


def backup_name(study_name: str) -> str:
    return study_name + BACKUP_SUFFIX


def _names(storage: BaseStorage) -> set[str]:
    return {summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)}


def recover(storage: BaseStorage, study_name: str) -> None:
    """Finishes what a widening that crashed left: the study from its copy if it is gone, then the copy away."""
    names = _names(storage)
    if backup_name(study_name) not in names:
        return
    if study_name not in names:
        optuna.copy_study(from_study_name=backup_name(study_name), from_storage=storage, to_storage=storage,
                          to_study_name=study_name)
    optuna.delete_study(study_name=backup_name(study_name), storage=storage)


def widen(storage: BaseStorage, study_name: str, wider: dict[str, BaseDistribution]) -> optuna.Study:
    """Rewrites the study so its trials carry `wider` distributions (categoricals whose choices are a superset
    of the stored ones); refused while a trial runs, since its process would tell a study that was replaced."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials(deepcopy=True)
    attrs, directions = study.user_attrs, [d.name.lower() for d in study.directions]
    running = [t.number for t in trials if t.state == TrialState.RUNNING]
    if running:
        raise ConfigError(f"sweep.space gained values, but trial(s) {', '.join(map(str, running))} of study "
                          f"{study_name!r} are still running: stop the sweep's other jobs (or wait), then re-run")
    for trial in trials:
        for key, old in trial.distributions.items():
            new = wider.get(key)
            if isinstance(old, CategoricalDistribution) and new is not None and old != new:
                if not set(old.choices) <= set(new.choices):
                    raise ValueError(f"{key}: {new.choices} does not contain {old.choices}")
    optuna.copy_study(from_study_name=study_name, from_storage=storage, to_storage=storage,
                      to_study_name=backup_name(study_name))
    optuna.delete_study(study_name=study_name, storage=storage)
    fresh = optuna.create_study(study_name=study_name, storage=storage, directions=directions)
    for key, value in attrs.items():
        fresh.set_user_attr(key, value)
    for trial in trials:  # copies already (deepcopy=True)
        trial.distributions = {k: wider.get(k, d) if isinstance(d, CategoricalDistribution) else d
                               for k, d in trial.distributions.items()}
    fresh.add_trials(trials)
    optuna.delete_study(study_name=backup_name(study_name), storage=storage)
    return fresh
