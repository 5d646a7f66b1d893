"""A decided sweep (`sweep.decide=true`): once its planned grid has run, it looks at its verdicts and adds seeds
to the points of comparisons still undecided, as new trials queued in the same study, a look at a time
(xsearch/inference/sequential.py), until every comparison is decided or the cap is reached.

A look needs every trial before it finished, so workers that run out of work meanwhile wait for the others.
The look is taken under the study's lock by whichever worker gets there first; it records what it saw and
queues the next trials, which any worker or SLURM job of the study then runs, each seed once.
"""

from __future__ import annotations

import dataclasses
import enum

import optuna
from optuna.trial import TrialState

from xsearch import contract
from xsearch.inference import sequential
from xsearch.inference.comparisons import METHOD, Analysis, Scored, analyse, label
from xsearch.outcomes import Outcomes
from xsearch.settings.sweep import SweepSettings
from xsearch.studies.trials import counted, retried_numbers


class Step(enum.Enum):
    RUN = "run"  # trials were queued: ask for them
    WAIT = "wait"  # trials of this look still run: ask again later
    DONE = "done"  # decided, or nothing more would decide it


def scored_trials(study: optuna.Study) -> list[Scored]:
    """The complete trials that recorded their per-image outcomes."""
    return [Scored.of(t.params, Outcomes.from_attr(t.user_attrs[contract.TEST_OUTCOMES])) for t in counted(study)
            if t.state == TrialState.COMPLETE and contract.TEST_OUTCOMES in t.user_attrs]


def analysis_of(study: optuna.Study, *, resolution: float, looks: int) -> Analysis:
    return analyse(scored_trials(study), resolution=resolution, looks=looks)


class Decider:
    def __init__(self, settings: SweepSettings) -> None:
        self.settings = settings
        self.counts = sequential.schedule(len(settings.planned_seeds), settings.max_seeds)

    def record_plan(self, study: optuna.Study) -> None:
        """The looks, fixed before any result: the report spends the same share of alpha at each."""
        record = sequential.Record.of(study.user_attrs.get(contract.DECIDE))
        if record is None:
            record = sequential.Record(self.counts, self.settings.resolution, method=METHOD)
            study.set_user_attr(contract.DECIDE, record.as_attr())
        elif record.schedule != self.counts:
            # A new cap: looking goes on from the looks made (a final look under the old cap is final no more).
            study.set_user_attr(contract.DECIDE, dataclasses.replace(record, schedule=self.counts,
                                                                     final=False).as_attr())

    def step(self, study: optuna.Study) -> Step:
        """Called under the study's lock when nothing is queued and the planned grid is taken."""
        trials = counted(study)
        record = sequential.Record.of(study.user_attrs.get(contract.DECIDE)) or sequential.Record(
            self.counts, self.settings.resolution, method=METHOD)
        if record.final:
            return Step.DONE
        if record.looks and record.method != METHOD:
            return self._retake(study, trials, record)
        if any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials):
            return Step.WAIT
        analysis = analysis_of(study, resolution=self.settings.resolution, looks=len(self.counts))
        wanted = sequential.next_seeds(analysis, self.counts, look=len(record.looks) + 1)
        added = self._queue(study, trials, wanted, analysis.keys) if wanted is not None else {}
        record = dataclasses.replace(record, looks=[*record.looks, sequential.Look.of(analysis, added)],
                                     final=not added, method=METHOD)
        study.set_user_attr(contract.DECIDE, record.as_attr())
        return Step.RUN if added else Step.DONE

    def _retake(self, study: optuna.Study, trials, record: sequential.Record) -> Step:
        """A study whose last look an earlier method took (xsearch upgraded mid-study): that look again, by this
        method, from the trials it saw (each point's seeds up to that look's count; seeds queued since are not
        looked at), queueing what this method asks for. The earlier look stays in the record, superseded."""
        number = len(record.looks)
        seen = set([*self.settings.planned_seeds, *self.settings.extra_seeds][:self.counts[number - 1]])
        analysis = analyse([t for t in scored_trials(study) if t.seed in seen], resolution=self.settings.resolution,
                           looks=len(self.counts))
        wanted = sequential.next_seeds(analysis, self.counts, look=number)
        if wanted is not None:
            self._queue(study, trials, wanted, analysis.keys)
        asked = {label(dict(zip(analysis.keys, values))): wanted.seeds - self.counts[number - 1]
                 for values in wanted.points} if wanted is not None else {}
        superseded = {"look": number, "method": record.method, "seen": record.looks[-1].as_attr()}
        record = dataclasses.replace(record, looks=[*record.looks[:-1], sequential.Look.of(analysis, asked)],
                                     final=not asked, method=METHOD, superseded=[*record.superseded, superseded])
        study.set_user_attr(contract.DECIDE, record.as_attr())
        return Step.RUN if asked else Step.DONE

    def _queue(self, study: optuna.Study, trials, wanted: sequential.Next, keys: list[str]) -> dict[str, int]:
        """Queue the seeds each wanted point lacks: its next unused seeds, failed ones counted as used (a trial
        that failed by itself would fail again), retried originals not. `keys` are the knobs the scored points
        differ in; a queued trial takes every other swept value from a scored trial of its point, and only
        trials with all those values count as the point's (a point none of whose trials scored drops out of
        `keys`, and must not lend its values or its seeds to another)."""
        retried = retried_numbers(trials)
        params: dict[tuple, dict] = {}
        for t in trials:
            if t.state == TrialState.COMPLETE and contract.TEST_OUTCOMES in t.user_attrs:
                params.setdefault(tuple(t.params.get(k) for k in keys), _without_seed(t.params))
        taken: dict[tuple, set] = {}
        for t in trials:
            point = tuple(t.params.get(k) for k in keys)
            if t.number not in retried and params.get(point) == _without_seed(t.params):
                taken.setdefault(point, set()).add(t.params.get(contract.SEED))
        seeds = [*self.settings.planned_seeds, *self.settings.extra_seeds]
        added = {}
        for values in wanted.points:
            used = taken.get(values, set())
            fresh = [s for s in seeds if s not in used][:max(wanted.seeds - len(used), 0)]
            for seed in fresh:
                study.enqueue_trial({**params[values], contract.SEED: seed}, skip_if_exists=True)
            if fresh:
                added[label(dict(zip(keys, values)))] = len(fresh)
        return added


def _without_seed(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != contract.SEED}


def finished(study: optuna.Study) -> bool:
    """Whether a decided study has made its last look."""
    record = sequential.Record.of(study.user_attrs.get(contract.DECIDE))
    return record is not None and record.final
