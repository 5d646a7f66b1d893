"""Per-trial overhead of a sweep: from Optuna's `ask` to the trial's first training step.

Runs the same real sweep twice, one worker, trials of a couple of steps: once
with trials forked from xsearch's warm zygote (the default) and once with the
reference, a fresh `python -m xsearch` interpreter per trial
(`sweep.fork_trials=false`). Overhead = the trial's first training step (wall
clock, from its summary.json) minus its start in the study (the ask).

    python benchmarks/overhead.py            # 6 trials per mode: about a minute on 2 CPU cores
    python benchmarks/overhead.py --smoke    # 2 trials per mode, to check the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
TRIAL = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
         "model.width=0.125", "model.middle_depth=1", "data.batch_size=16", "model.budget=null", "logger=csv"]


def overheads(root: Path, *, trials: int, fork: bool) -> list[float]:
    args = [sys.executable, "-m", "xsearch", "+sweep=residual", "sweep.name=overhead", f"sweep.dir={root}",
            f"sweep.n_trials={trials}", "sweep.workers=1", "sweep.sampler={name:random,seed:0}",
            f"sweep.fork_trials={str(fork).lower()}", "sweep.space.seed=[0,1,2,3,4,5,6,7,8,9]", *TRIAL]
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True, env={**os.environ, "WANDB_MODE": "offline"})
    study = optuna.load_study(study_name="overhead", storage=f"sqlite:///{root / 'study.db'}")
    seconds = []
    for trial in study.trials:
        summary = json.loads((root / "trials" / str(trial.number) / "summary.json").read_text())
        seconds.append(summary["first_step_at"] - trial.datetime_start.timestamp())
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.trials = 2
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, fork in (("xsearch (forked from a warm zygote)", True), ("fresh interpreter per trial", False)):
            rows[label] = overheads(Path(tmp) / str(fork), trials=args.trials, fork=fork)
    print(f"{args.trials} trials per mode, 1 worker, {os.cpu_count()} CPU cores; seconds from ask to first step")
    print(f"{'trial start':<40}{'median':>8}{'first':>8}{'later':>8}")
    for label, seconds in rows.items():
        later = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
        print(f"{label:<40}{statistics.median(seconds):>8.2f}{seconds[0]:>8.2f}{later:>8.2f}")
    ours, reference = (statistics.median(s) for s in rows.values())
    print(f"ratio xsearch / fresh interpreter overhead: {ours / reference:.3f}")


if __name__ == "__main__":
    main()
