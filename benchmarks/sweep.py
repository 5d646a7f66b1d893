"""Worker utilization of xsearch's sweep: longest-first asynchronous workers, against Optuna's grid order and
against a batch-barrier schedule.

Runs a real grid sweep (`python -m xsearch +sweep=...`) whose trials differ in
length (epochs and depth vary) twice in one run: once as shipped (a whole grid
hands out its costliest points first, `sweep.longest_first=true`) and once in
Optuna's own shuffled grid order (`sweep.longest_first=false`), the reference.
Each trial's start and end come from the study. Utilization = busy time /
(wall time x workers). The batch-barrier figure replays the reference's
measured durations the way a blocking launcher runs them: `workers` trials at a
time, the next batch starting when the slowest of the previous one ends (Hydra's
Optuna sweeper does this).

    python benchmarks/sweep.py            # a 12-point grid of tiny trials, 2 workers, twice: ~2 min on 2 CPU cores
    python benchmarks/sweep.py --smoke    # a 2-point grid, to check the script runs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


# A whole grid (longest-first applies to whole grids): depth x epochs x seed.
GRID = {"model.middle_depth": "[0,4]", "trainer.max_epochs": "[1,4,12]", "seed": "[0,1]"}
SMOKE_GRID = {"model.middle_depth": "[0,4]", "trainer.max_epochs": "[1]", "seed": "[0]"}


def run_sweep(root: Path, *, grid: dict[str, str], workers: int, longest_first: bool) -> None:
    args = [sys.executable, "-m", "xsearch", "+sweep=depth_width", "sweep.name=bench", f"sweep.dir={root}",
            f"sweep.workers={workers}", "sweep.pruner.name=none",
            "~sweep.pruner.n_startup_trials", "~sweep.pruner.n_warmup_steps",
            "sweep.sampler={name:grid,seed:0}", "sweep.space.model.width=[0.125]",
            *(f"{'' if key.startswith('model.') else '+'}sweep.space.{key}={values}" for key, values in grid.items()),
            f"sweep.longest_first={str(longest_first).lower()}",
            "+trainer.limit_train_batches=12", "+trainer.limit_val_batches=1", "logger=csv", "data.batch_size=32"]
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True, env={**os.environ, "WANDB_MODE": "offline"})


def barrier_wall(durations: list[float], workers: int) -> float:
    return sum(max(durations[i:i + workers]) for i in range(0, len(durations), workers))


def measure(grid: dict[str, str], workers: int, longest_first: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_sweep(root, grid=grid, workers=workers, longest_first=longest_first)
        study = optuna.load_study(study_name="bench", storage=f"sqlite:///{root / 'study.db'}")
        done = sorted((t for t in study.trials if t.datetime_complete), key=lambda t: t.number)
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    first = min(t.datetime_start for t in done)
    last = max(t.datetime_complete for t in done)
    last_start = max(t.datetime_start for t in done)
    wall = (last - first).total_seconds()
    # While trials are left to hand out, idle time is the scheduler's; after the last one starts, a worker waits
    # only for the end of the sweep, which the order of the trials decides.
    span = (last_start - first).total_seconds()
    steady = sum(max(0.0, (min(t.datetime_complete, last_start) - t.datetime_start).total_seconds())
                 for t in done) / (span * workers) if span > 0 else 1.0
    return {"durations": durations, "wall": wall, "utilization": sum(durations) / (wall * workers),
            "steady": steady, "tail": (last - last_start).total_seconds()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a 2-point grid of 1 epoch, to check the script runs")
    args = parser.parse_args(argv)
    grid = SMOKE_GRID if args.smoke else GRID
    ours = measure(grid, args.workers, longest_first=True)
    optuna_order = measure(grid, args.workers, longest_first=False)
    durations = optuna_order["durations"]
    barrier = barrier_wall(durations, args.workers)
    barrier_use = sum(durations) / (barrier * args.workers)
    print(f"{len(durations)} trials of {min(durations):.1f}-{max(durations):.1f} s, {args.workers} workers, "
          f"{os.cpu_count()} CPU cores")
    print(f"{'schedule':<44}{'wall s':>8}{'utilization':>13}{'until last start':>18}{'tail s':>8}")
    for name, run in (("xsearch, longest first (default)", ours), ("xsearch, Optuna's grid order", optuna_order)):
        print(f"{name:<44}{run['wall']:>8.1f}{run['utilization']:>13.1%}{run['steady']:>18.1%}{run['tail']:>8.1f}")
    print(f"{'batch barrier, Optuna order (replayed)':<44}{barrier:>8.1f}{barrier_use:>13.1%}")
    print(f"ratio longest-first / Optuna-order utilization: {ours['utilization'] / optuna_order['utilization']:.3f}")
    print(f"ratio longest-first / batch-barrier utilization: {ours['utilization'] / barrier_use:.3f}")


if __name__ == "__main__":
    main()
