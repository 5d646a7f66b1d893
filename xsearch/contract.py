"""What the sweep, the trial process and the report hand each other: file names, the layout of a sweep's
folder, the names of study and trial attributes, the statuses a run ends in and the metrics' vocabulary.

Each name is written by one side and read by another, so each is spelled once, here. This module imports
only the standard library, so the report (which must not load torch) and the sweep driver read it for free.
"""

from __future__ import annotations

import enum
import signal
from pathlib import Path

# What stops a run or a sweep: a Ctrl-C, a kill or a preemption, and SLURM's warning before a time limit
# (submitit's --signal). A run checkpoints and stops at a batch boundary; the zygote ignores them.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)

# --- Metrics: what a run measures every epoch, and what a sweep may optimize, each with its direction ---
EPOCH_METRICS = {"val/acc": "maximize", "val/acc5": "maximize", "val/loss": "minimize"}
COST_METRICS = {"params": "minimize", "flops": "minimize"}  # known before training; flops: MACs per image
OBJECTIVES = {**EPOCH_METRICS, **COST_METRICS}
ACCURACY = "val/acc"  # what chooses: the y of the learning curves, the sweep's objective by default
TEST_ACCURACY = "test/acc"  # what scores: each run's accuracy on its scoring images, once, at the chosen epoch
LIGHTNING_MODES = {"maximize": "max", "minimize": "min"}  # a direction as Lightning's `mode` spells it


def lightning_mode(metric: str) -> str:
    """Lightning's `mode` for an epoch metric: max or min."""
    return LIGHTNING_MODES[EPOCH_METRICS[metric]]

# --- A trial's state and how a run ended (its summary.json's `status`): one vocabulary, one spelling each, in
# every file, table, console line and W&B summary ---
class State(str, enum.Enum):
    COMPLETE = "complete"
    PRUNED = "pruned"  # stopped early by a sweep's pruner
    FAILED = "failed"  # an error of its own (an exception, NaN loss, out of memory), or killed
    RUNNING = "running"
    WAITING = "waiting"  # queued in the study, not started
    INTERRUPTED = "interrupted"  # a run asked to stop from outside (a signal): resumable from its checkpoint
    STALLED = "stalled"  # a run that made no progress: stuck in native code, or stopped

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of_trial(cls, optuna_state: object) -> State:
        """An Optuna TrialState (by its name, so this module needs no Optuna) in this vocabulary."""
        return _OPTUNA_STATES[getattr(optuna_state, "name", optuna_state)]


_OPTUNA_STATES = {"COMPLETE": State.COMPLETE, "PRUNED": State.PRUNED, "FAIL": State.FAILED,
                  "RUNNING": State.RUNNING, "WAITING": State.WAITING}
UNFINISHED = (State.FAILED, State.INTERRUPTED, State.STALLED)  # a run that ended without its result: W&B exits 1

# --- A sweep's space ---
SEED = "seed"  # the space's key whose values are a point's repeats, not a knob: the report compares across it

# --- A run's folder (a single run's outputs/<date>/<time>/, or a sweep trial's folder) ---
SUMMARY = "summary.json"  # how it ended, its metrics per epoch, its cost: written by training
CHECKPOINT = "interrupted.ckpt"  # saved when a stop signal reaches a batch boundary
OUTCOMES = "outcomes.npz"  # per-image outcomes on the scoring images (xsearch/outcomes.py)
PROGRESS = "progress.json"  # where a sweep's trial is (phase, epoch, step), rewritten after every batch

# --- A sweep's folder, sweeps/<name>/ (sweep.dir) ---
STUDY_DB = "study.db"  # the default SQLite storage
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
REPORT_DIR = "report"
TRIALS_DIR = "trials"  # one folder per trial number
WANDB_DIR = "wandb"  # W&B's own folder, which it makes in its save_dir: every W&B run of the sweep, trials and report
OUTPUTS_LOCK = ".outputs.lock"  # one worker job at a time writes results and the report
TRIAL_CONFIG = "trial.yaml"  # the trial's config: `python -m xsearch --config-path=<dir> --config-name=trial`
TRIAL_LOG = "trial.out"  # the trial process's stdout and stderr
TRIAL_PID = "trial.pid"  # the running trial's process id
FUSED_FLAG = "--fused"  # `python -m xsearch --fused DIR...`: the trials in those folders trained as one (app.py)
TRIAL_ENV = "XSEARCH_TRIAL"  # environment variable: set in a trial's process, the study's coordinates (JSON)


def config_dir() -> Path:
    """The config tree: inside the installed package (xsearch/conf), or the checkout's top-level conf/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no config tree (conf/config.yaml) next to {here}")


def trial_dir(sweep_dir: Path, number: int) -> Path:
    return Path(sweep_dir) / TRIALS_DIR / str(number)


# --- How a swept value is shown (console, W&B tags, report): `model.segments` reads as `segments` ---

def short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def value_order(values) -> list:
    """Distinct values in a reading order: numbers ascending, then names (so 'depthwise' follows 8)."""
    distinct = list({repr(v): v for v in values}.values())
    numbers = sorted(v for v in distinct if isinstance(v, (int, float)) and not isinstance(v, bool))
    return numbers + sorted((v for v in distinct if v not in numbers), key=str)


def knobs_text(params: dict) -> str:
    """Swept values as a person reads them: segments=4 lr=0.00924 (short keys, 3 significant digits)."""
    return " ".join(f"{short(key)}={f'{value:.3g}' if isinstance(value, float) else value}"
                    for key, value in params.items())


# --- A trial's user attributes, set by the sweep driver, read by the report ---
DIR = "dir"  # the trial's folder, absolute
PARAMS_COUNT = "params_count"  # trainable parameters, known before training
FLOPS = "flops"  # MACs per image, known before training
WORKER = "worker"  # host and SLURM job (or pid) that ran it
FAILURE_REASON = "failure_reason"
STALLS = "stalls"  # on a queued copy: how many of its originals stalled (a second stall is final)
RETRY_REASON = "retry_reason"  # on a queued copy: why the original ended
RESUME_FROM = "resume_from"  # on a queued copy: the checkpoint its interrupted original saved
SURPLUS = "surplus"  # asked for past n_trials by a racing process: never run, never counted
# In a journal study (Optuna has no heartbeat there): when the trial's worker last beat, as time.time().
BEAT = "beat"
TEST_OUTCOMES = "test_outcomes"  # which scoring images the trial got right (xsearch/outcomes.py's to_attr)

# --- A queued retry's system attributes: Optuna's own retry bookkeeping (RetryHeartbeatStaleTrialCallback's
# retried_trial_number and retry_history read them), so Optuna's tools see xsearch's retries ---
OPTUNA_FAILED_TRIAL = "failed_trial"  # the first trial of the series
OPTUNA_RETRY_HISTORY = "retry_history"  # every trial of the series so far; the last is the one this re-runs

# --- A study's user attributes ---
STUDY_CONFIG = "config"  # what the study computes: its resolved config, flat, without how it is executed
STUDY_SPACE = "space"  # its search space: {dotted key: Optuna distribution as JSON}
DECIDE = "decide"  # a decided sweep's plan and looks (xsearch/inference/sequential.py, `Record`)
