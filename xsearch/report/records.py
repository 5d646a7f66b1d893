"""What the report knows about each trial: the study's view (state, params, values, per-image outcomes) joined
with the trial's files.

Surplus trials (asked for past `n_trials` by a racing driver, never run) are left out entirely. A retried
original stays in, failed, with the reason and the number of the copy that re-ran it; only trials that finished
their training and were scored (`complete`) carry an accuracy into the verdicts and plots: the test accuracy,
from the images that chose nothing.
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
from xsearch.inference import sequential
from xsearch.inference.stats import Interval, wilson
from xsearch.outcomes import Outcomes, of_run
from xsearch.settings.logger import LoggerSettings
from xsearch.settings.sweep import SweepSettings
from xsearch.studies.trials import counted, trial_rows

# The equivalence margin of a study that recorded none: the sweep's default (its one home is the schema).
RESOLUTION = SweepSettings.model_fields["resolution"].default



@dataclasses.dataclass(frozen=True)
class TrialRecord:
    number: int
    state: contract.State
    reason: str | None  # why it failed, or why it was retried
    retried_by: int | None  # the copy that re-ran this trial
    retry_of: int | None  # the trial this one re-runs
    params: dict[str, Any]  # the swept values, by config key
    values: list[float] | None  # the study's objective values
    summary: dict[str, Any] | None  # summary.json, once the trial's process wrote it
    dir: Path | None
    duration_s: float | None
    span: tuple[float, float] | None  # when it started and finished (POSIX seconds), once finished
    cost: dict[str, int | None]  # params, flops: from the summary, else from the budget check's user attrs
    outcomes: Outcomes | None = None  # per-image outcomes on the scoring images, where it was scored

    @property
    def knobs(self) -> dict[str, Any]:
        """The model knobs as built (widths solved, defaults filled in), where the trial got that far."""
        return (self.summary or {}).get("model") or {}

    @property
    def accuracy(self) -> float | None:
        """A complete trial's test accuracy (at the epoch its validation images chose): the y of every accuracy
        plot and what the verdicts compare."""
        if self.state != contract.State.COMPLETE or self.outcomes is None:
            return None
        return self.outcomes.accuracy if math.isfinite(self.outcomes.accuracy) else None

    @property
    def accuracy_interval(self) -> Interval | None:
        """This seed's test accuracy on other images like these: the Wilson interval (not over seeds)."""
        if self.outcomes is None or not self.outcomes.images:
            return None
        return wilson(int(self.outcomes.correct.sum()), self.outcomes.images)

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
    resolution: float = RESOLUTION  # the equivalence margin the study was run with
    looks: int = 1  # a decided sweep's looks: each spends alpha / looks
    decided: sequential.Record | None = None  # a decided sweep's plan and looks
    choices: dict[str, list] = dataclasses.field(default_factory=dict)  # each categorical key's values in the space

    @property
    def durations(self) -> list[float]:
        """How long each complete trial took in the study, its process starting included."""
        return [r.duration_s for r in self.complete if r.duration_s]

    @property
    def shares_choosing_images(self) -> bool:
        """Whether any trial was scored on the images that chose (a dataset with only train and val)."""
        return any(((r.summary or {}).get("test") or {}).get("shares_choosing_images") for r in self.complete)

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


def _outcomes(trial: FrozenTrial, trial_dir: Path | None) -> Outcomes | None:
    """From the study (where the sweep copied them), else from the trial's own file."""
    stored = trial.user_attrs.get(contract.TEST_OUTCOMES)
    if stored is not None:
        return Outcomes.from_attr(stored)
    return of_run(trial_dir) if trial_dir is not None else None


def _record(row: dict[str, Any], sweep_dir: Path) -> TrialRecord:
    """The study's row of a trial (studies/trials.py, the one every table starts from) joined with its files."""
    trial: FrozenTrial = row["trial"]
    trial_dir = _trial_dir(trial, sweep_dir)
    # What a trial wrote counts once the study has it finished: a report of a running study reads the same
    # records a copy of its storage taken at the same moment would.
    summary = _read_summary(trial_dir) if trial.state.is_finished() else None
    reason = row["reason"]
    if trial.state == TrialState.FAIL and not reason and summary:
        reason = summary.get("error")
    cost = {"params": (summary or {}).get("params", trial.user_attrs.get(contract.PARAMS_COUNT)),
            "flops": (summary or {}).get("flops", trial.user_attrs.get(contract.FLOPS))}
    return TrialRecord(
        number=row["number"], state=contract.State.of_trial(trial.state), reason=reason,
        retried_by=row["retried_by"], retry_of=row["retry_of"], params=dict(row["params"]),
        values=list(row["values"]) if row["values"] else None, summary=summary, dir=trial_dir,
        duration_s=row["duration_s"], cost=cost,
        span=running_span(trial),
        outcomes=_outcomes(trial, trial_dir) if trial.state.is_finished() else None)


def running_span(trial: FrozenTrial) -> tuple[float, float] | None:
    """When a finished trial started and stopped running (POSIX seconds). A failed trial with heartbeats stopped at
    its last one: a worker that vanished (its machine lost) leaves its trial running until a later driver finds it
    silent, maybe hours on, and fails it then. (A trial that failed while its worker lived loses at most one
    heartbeat interval this way.)"""
    if not (trial.datetime_start and trial.datetime_complete):
        return None
    start, end = trial.datetime_start.timestamp(), trial.datetime_complete.timestamp()
    beat = trial.user_attrs.get(contract.BEAT)
    if trial.state == TrialState.FAIL and isinstance(beat, (int, float)):
        end = max(start, min(end, beat))
    return start, end


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
            logger = LoggerSettings.from_node(OmegaConf.to_container(OmegaConf.load(path)).get("logger"))
            for entry in logger.wandb.values():
                return entry.get("project"), entry.get("entity")
    return None, None


def sweep_data(study: optuna.Study, url: str, sweep_dir: Path) -> SweepData:
    trials = counted(study)
    records = [_record(row, sweep_dir) for row in trial_rows(study)]
    choices: dict[str, list] = {}
    for trial in trials:
        for key, distribution in trial.distributions.items():
            if isinstance(distribution, CategoricalDistribution):
                choices.setdefault(key, list(distribution.choices))
    project, entity = _tracker(records)
    config = study.user_attrs.get(contract.STUDY_CONFIG) or {}
    decided = sequential.Record.of(study.user_attrs.get(contract.DECIDE))
    return SweepData(name=study.study_name, url=url, directions=[d.name.lower() for d in study.directions],
                     objectives=_objectives(sweep_dir, len(study.directions), records, study.metric_names),
                     records=records, categorical=list(choices), project=project, entity=entity,
                     resolution=decided.resolution if decided else float(config.get("sweep.resolution", RESOLUTION)),
                     looks=len(decided.schedule) if decided else 1, decided=decided, choices=choices)
