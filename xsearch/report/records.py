"""What the report knows about each trial: the study's view (state, params, values) joined with the trial's files.

Surplus trials (asked for past `n_trials` by a racing driver, never run) are
left out entirely. A retried original stays in, failed, with the reason and the
number of the copy that re-ran it; only trials that finished their training
(`complete`) carry an accuracy into the plots.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from xsearch import contract
from xsearch.report.stats import Score
from xsearch.settings.logger import LoggerSettings
from xsearch.studies.trials import counted, retried_numbers, retry_copies, retry_of
from xsearch.validate import ConfigError

STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
          TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    number: int
    state: str  # one of STATES' values
    reason: str | None  # why it failed, or why it was retried
    retried_by: int | None  # the copy that re-ran this trial
    retry_of: int | None  # the trial this one re-runs
    params: dict[str, Any]  # the swept values, by config key
    values: list[float] | None  # the study's objective values
    summary: dict[str, Any] | None  # summary.json, once the trial's process wrote it
    dir: Path | None
    duration_s: float | None
    cost: dict[str, int | None]  # params, flops: from the summary, else from the budget check's user attrs

    @property
    def knobs(self) -> dict[str, Any]:
        """The model knobs as built (widths solved, defaults filled in), where the trial got that far."""
        return (self.summary or {}).get("model") or {}

    @property
    def accuracy(self) -> float | None:
        """Best validation accuracy of a complete trial: the y of every accuracy plot."""
        if self.state != "complete":
            return None
        value = ((self.summary or {}).get("best") or {}).get(contract.ACCURACY)
        return float(value) if value is not None and math.isfinite(value) else None

    @property
    def score(self) -> Score | None:
        """The best accuracy and the validation images it was measured on (None where not recorded)."""
        images = ((self.summary or {}).get("best") or {}).get("val_images")
        return Score(self.accuracy, int(images)) if self.accuracy is not None and images else None

    def curve(self, metric: str = contract.ACCURACY) -> tuple[list[int], list[float]]:
        """(epochs, values) of `metric` from the summary's history, whatever the loggers; epochs count from 1 as
        the console prints them."""
        history = [e for e in (self.summary or {}).get("history") or [] if e.get(metric) is not None]
        return [int(e["epoch"]) + 1 for e in history], [float(e[metric]) for e in history]


@dataclasses.dataclass(frozen=True)
class SweepData:
    name: str
    url: str
    directions: list[str]
    objectives: list[str]
    records: list[TrialRecord]
    categorical: list[str]  # swept keys with a list of choices, in the study's order
    project: str | None  # W&B project and entity the trials logged to, from their config
    entity: str | None

    @property
    def complete(self) -> list[TrialRecord]:
        return [r for r in self.records if r.accuracy is not None]

    def varied(self, records: list[TrialRecord] | None = None, keys: list[str] | None = None) -> list[str]:
        """Keys (default: the categorical ones) that took at least two values among `records` (default: the
        complete trials)."""
        records = self.complete if records is None else records
        keys = self.categorical if keys is None else keys
        return [k for k in keys if len({repr(r.params.get(k)) for r in records if k in r.params}) > 1]


def _trial_dir(trial: FrozenTrial, sweep_dir: Path) -> Path | None:
    # The recorded dir is absolute; a sweep directory that was moved or copied still has trials/<number>.
    recorded = trial.user_attrs.get(contract.DIR)
    for candidate in ([Path(recorded)] if recorded else []) + [contract.trial_dir(sweep_dir, trial.number)]:
        if candidate.is_dir():
            return candidate
    return None


def _read_summary(trial_dir: Path | None) -> dict[str, Any] | None:
    path = trial_dir / contract.SUMMARY if trial_dir is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:  # written while the report read it: a running trial, no summary yet
        return None


def _record(trial: FrozenTrial, sweep_dir: Path, retried: dict[int, str], copies: dict[int, int]) -> TrialRecord:
    trial_dir = _trial_dir(trial, sweep_dir)
    summary = _read_summary(trial_dir)
    reason = trial.user_attrs.get(contract.FAILURE_REASON) or retried.get(trial.number)
    if trial.state == TrialState.FAIL and not reason and summary:
        reason = summary.get("error")
    cost = {"params": (summary or {}).get("params", trial.user_attrs.get(contract.PARAMS_COUNT)),
            "flops": (summary or {}).get("flops", trial.user_attrs.get(contract.FLOPS))}
    return TrialRecord(
        number=trial.number, state=STATES.get(trial.state, trial.state.name.lower()), reason=reason,
        retried_by=copies.get(trial.number), retry_of=retry_of(trial),
        params=dict(trial.params),
        values=list(trial.values) if trial.values else None, summary=summary, dir=trial_dir,
        duration_s=trial.duration.total_seconds() if trial.duration else None, cost=cost)


def _objectives(sweep_dir: Path, directions: int, records: list[TrialRecord], stored: Any = None) -> list[str]:
    """Objective names: the study records them (Optuna's metric names, set by the sweep driver), as does
    results.json; else the first is what the trials monitored."""
    if isinstance(stored, list) and len(stored) == directions:
        return [str(n) for n in stored]
    results = sweep_dir / contract.RESULTS_JSON
    if results.is_file():
        try:
            names = json.loads(results.read_text()).get("objectives")
        except json.JSONDecodeError:
            names = None
        if isinstance(names, list) and len(names) == directions:
            return [str(n) for n in names]
    monitor = next((r.summary["monitor"] for r in records if r.summary and r.summary.get("monitor")), None)
    names = [monitor or "objective"] + [f"objective {i}" for i in range(1, directions)]
    return names if directions > 1 else names[:1]


def _tracker(records: list[TrialRecord]) -> tuple[str | None, str | None]:
    """The W&B project and entity of the trials' config (trial.yaml), so the report run sits beside them."""
    for record in records:
        path = record.dir / contract.TRIAL_CONFIG if record.dir is not None else None
        if path is not None and path.is_file():
            try:
                logger = LoggerSettings.from_node(OmegaConf.to_container(OmegaConf.load(path)).get("logger"))
            except ConfigError:  # a trial.yaml from before the logger group held _target_ entries
                return None, None
            for entry in logger.wandb.values():
                return entry.get("project"), entry.get("entity")
    return None, None


def sweep_data(study: optuna.Study, url: str, sweep_dir: Path) -> SweepData:
    trials = counted(study)
    retried = retried_numbers(trials)
    copies = retry_copies(trials)
    records = [_record(t, sweep_dir, retried, copies) for t in trials]
    categorical: list[str] = []
    for trial in trials:
        for key, distribution in trial.distributions.items():
            if isinstance(distribution, CategoricalDistribution) and key not in categorical:
                categorical.append(key)
    project, entity = _tracker(records)
    return SweepData(name=study.study_name, url=url, directions=[d.name.lower() for d in study.directions],
                     objectives=_objectives(sweep_dir, len(study.directions), records,
                                                 study.metric_names), records=records,
                     categorical=categorical, project=project, entity=entity)
