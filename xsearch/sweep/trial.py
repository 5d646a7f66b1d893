"""What the end of a trial's process means for the study: complete, pruned, failed (and why), or to be run again
(its process was killed, or its worker died). (Running the process safely is xsearch/process/trial.py's; its
config and plan are xsearch/sweep/planning.py's.)

Each trial trains in a child process so that anything (an exception, NaN, an
out-of-memory error, a segfault, a kill) ends that trial only. The child is an
ordinary `python -m xsearch` run of the trial's saved config, which is also the
command a user re-runs it with.
"""

from __future__ import annotations

import dataclasses
import json
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from xsearch import contract
from xsearch.process.trial import Abort


@dataclasses.dataclass(frozen=True)
class Outcome:
    state: optuna.trial.TrialState
    values: list[float] | None = None
    reason: str | None = None
    retry: bool = False  # the process or its worker died: the trial itself is not at fault
    checkpoint: str | None = None  # where an interrupted trial can resume from
    stalled: bool = False  # it stopped making progress: retried once at most, a hang may be deterministic


def rerun_command(trial_dir: Path) -> str:
    return f"python -m xsearch --config-path={trial_dir} --config-name=trial hydra.run.dir={trial_dir}/rerun"


def objective_values(summary: Mapping[str, Any], objectives: list[str]) -> list[float] | None:
    best = summary.get("best") or {}
    values = [summary[o] if o in contract.COST_METRICS else best.get(o) for o in objectives]
    return None if any(v is None for v in values) else [float(v) for v in values]


def outcome(code: int, trial_dir: Path, objectives: list[str], *, interrupted: bool,
            aborted: Abort | None = None) -> Outcome:
    """What the end of a trial's process means for the study."""
    path = trial_dir / contract.SUMMARY
    summary = json.loads(path.read_text()) if path.is_file() else None
    status = summary["status"] if summary is not None else None
    # Killed after its result was written (in W&B's finish): the result is kept.
    if aborted is not None and status != contract.State.COMPLETE:
        return Outcome(optuna.trial.TrialState.FAIL, reason=aborted.reason, retry=aborted.stalled,
                       stalled=aborted.stalled)
    if status == contract.State.STALLED:  # stuck in a kernel after the sweep asked it to stop: it ended itself
        return Outcome(optuna.trial.TrialState.FAIL, reason=summary["error"], retry=True, stalled=True)
    if status == contract.State.PRUNED:
        return Outcome(optuna.trial.TrialState.PRUNED)
    checkpoint = summary.get("interrupted_checkpoint") if summary is not None else None
    # Interrupted, or stopped by the sweep before it finished (finished in time is finished).
    if status == contract.State.INTERRUPTED or (interrupted and status != contract.State.COMPLETE):
        why = "the sweep was stopped" if interrupted else summary["error"]
        return Outcome(optuna.trial.TrialState.FAIL, reason=f"interrupted: {why}", retry=True, checkpoint=checkpoint)
    if summary is None or code < 0:
        if code < 0:
            reason = f"trial process killed by {signal.Signals(-code).name}"
        else:
            reason = f"trial process exited with code {code} before writing {contract.SUMMARY}: {_tail(trial_dir)}"
        return Outcome(optuna.trial.TrialState.FAIL, reason=reason, retry=code < 0)
    if status == contract.State.FAILED:
        return Outcome(optuna.trial.TrialState.FAIL, reason=summary["error"])
    values = objective_values(summary, objectives)
    if values is None:
        return Outcome(optuna.trial.TrialState.FAIL, reason=f"no value for {objectives} in {contract.SUMMARY}")
    return Outcome(optuna.trial.TrialState.COMPLETE, values=values)


def _tail(trial_dir: Path, lines: int = 3) -> str:
    log = trial_dir / contract.TRIAL_LOG
    text = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
    return " | ".join(text[-lines:]) or "no output"
