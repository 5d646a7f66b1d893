"""Worker utilization of xsearch's asynchronous sweep against a batch-barrier schedule of the same trials.

Runs a real sweep (`python -m xsearch +sweep=...`) whose trials differ in
length (epochs and depth vary), then reads each trial's start and end from the
study. Utilization = busy time / (wall time x workers). The batch-barrier
figure replays the same measured durations the way a blocking launcher runs
them: `workers` trials at a time, the next batch starting when the slowest of
the previous one ends (Hydra's Optuna sweeper does this).

    python benchmarks/sweep.py            # 12 tiny trials, 2 workers: a few minutes on 2 CPU cores
    python benchmarks/sweep.py --smoke    # 4 trials, to check the script runs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


def run_sweep(root: Path, *, trials: int, workers: int) -> float:
    args = [sys.executable, "-m", "xsearch", "+sweep=depth_width", "sweep.name=bench", f"sweep.dir={root}",
            f"sweep.n_trials={trials}", f"sweep.workers={workers}", "sweep.pruner.name=none",
            "~sweep.pruner.n_startup_trials", "~sweep.pruner.n_warmup_steps",
            "sweep.sampler={name:grid,seed:0}", "sweep.space.model.middle_depth=[0,4]",
            "sweep.space.model.width=[0.125]", "+sweep.space.trainer.max_epochs=[1,4,12]", "+sweep.space.seed=[0,1]",
            "+trainer.limit_train_batches=12", "+trainer.limit_val_batches=1", "logger=csv", "data.batch_size=32"]
    started = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True, env={**os.environ, "WANDB_MODE": "offline"})
    return time.perf_counter() - started


def barrier_wall(durations: list[float], workers: int) -> float:
    return sum(max(durations[i:i + workers]) for i in range(0, len(durations), workers))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.trials = 4
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_sweep(root, trials=args.trials, workers=args.workers)
        study = optuna.load_study(study_name="bench", storage=f"sqlite:///{root / 'study.db'}")
        trials = sorted((t for t in study.trials if t.datetime_complete), key=lambda t: t.number)
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials]
    first = min(t.datetime_start for t in trials)
    last = max(t.datetime_complete for t in trials)
    wall = (last - first).total_seconds()
    busy = sum(durations)
    ours = busy / (wall * args.workers)
    barrier = busy / (barrier_wall(durations, args.workers) * args.workers)
    print(f"{len(trials)} trials of {min(durations):.1f}-{max(durations):.1f} s, {args.workers} workers, "
          f"{os.cpu_count()} CPU cores")
    print(f"{'schedule':<28}{'wall s':>10}{'utilization':>14}")
    print(f"{'xsearch (asynchronous)':<28}{wall:>10.1f}{ours:>14.1%}")
    print(f"{'batch barrier (replayed)':<28}{barrier_wall(durations, args.workers):>10.1f}{barrier:>14.1%}")
    print(f"ratio xsearch / batch barrier utilization: {ours / barrier:.3f}")
    # While trials are left to hand out, idle time is the scheduler's; after the last one starts, a worker waits
    # for nothing but the end of the sweep, and only knowing durations in advance could shorten that tail.
    last_start = max(t.datetime_start for t in trials)
    span = (last_start - first).total_seconds()
    steady = sum(max(0.0, (min(t.datetime_complete, last_start) - t.datetime_start).total_seconds())
                 for t in trials) / (span * args.workers) if span > 0 else 1.0
    print(f"xsearch utilization until the last trial starts: {steady:.1%}; "
          f"tail after it: {(last - last_start).total_seconds():.1f} s")


if __name__ == "__main__":
    main()
