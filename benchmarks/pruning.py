"""Compute a pruner saves on a real sweep, and whether it still finds the unpruned sweep's best configuration.

Runs the same real sweep twice (`python -m xsearch +sweep=depth_width ...`, one
worker, grid sampler: the same trials in the same order): once with
`sweep.pruner.name=none`, once with a pruner (default: Optuna's successive
halving, reduction factor 3, first rung after epoch 1). Compute is
counted, not timed, so it does not depend on what else the machine is doing:

    training compute = sum over trials of epochs trained x train images per epoch x 6 x forward MACs per image

(forward MACs per image: the trial's `flops` user attribute, which the sweep
driver sets and which counts multiply-accumulates; 2 FLOPs per MAC; forward +
backward = 3x the forward). Validation runs once per epoch on the same images
for every trial, so counting it too (2 x MACs per val image per epoch) gives
the same ratio. Wall time of each sweep is printed as well; on a shared 2-core
machine it is contended and noisy, and each trial also pays a fixed start
(forking, config, Trainer: about 1-1.5 s, docs/BENCHMARKS.md) that pruning cannot save.

The comparison is exact, not statistical: CPU runs repeat bit for bit, so a
trial of the pruned sweep follows the unpruned sweep's learning curve of the
same configuration until it is stopped (the script checks this step by step).
"Same best configuration" compares the swept values of the best COMPLETE trial
of each sweep (the seed is not swept); the script also prints the unpruned
sweep's margin between its best and runner-up and how many configurations tie.
Since the pruner's decisions depend on the order of the trials, the unpruned
learning curves are then replayed through the same pruner in many random
orders of the grid, which says how much the one real order was luck.

    python benchmarks/pruning.py            # 16 trials x 12 epochs, twice: about 5 minutes on 2 idle CPU cores
    python benchmarks/pruning.py --pruner name=median,n_startup_trials=3,n_warmup_steps=2
    python benchmarks/pruning.py --keep runs/ && python benchmarks/pruning.py --reuse runs/   # report again
    python benchmarks/pruning.py --smoke    # 3 trials x 2 epochs, to check the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

ROOT = Path(__file__).resolve().parents[1]
optuna.logging.set_verbosity(optuna.logging.WARNING)  # the replays create many in-memory studies
STUDY = "bench"
SPACE = {"model.middle_depth": [0, 2], "model.width": [0.125, 0.25], "optim.lr": [0.0003, 0.001, 0.003, 0.01]}
SMOKE_SPACE = {"model.middle_depth": [0], "model.width": [0.0625], "optim.lr": [0.0003, 0.003, 0.01]}
PRUNER = "name=successive_halving,min_resource=1,reduction_factor=3"
DEPTH_WIDTH_SPACE = ("model.middle_depth", "model.width")  # already in conf/sweep/depth_width.yaml


def parse_pruner(text: str) -> dict[str, Any]:
    pruner: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        try:
            pruner[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            pruner[key.strip()] = value.strip()
    if "name" not in pruner:
        raise SystemExit(f"--pruner {text!r} names no pruner (name=successive_halving|hyperband|median)")
    return pruner


def sweep_command(root: Path, space: dict[str, list], pruner: dict[str, Any], args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "xsearch", "+sweep=depth_width", f"sweep.name={STUDY}", f"sweep.dir={root}",
               "sweep.workers=1", "sweep.sampler={name:grid,seed:0}",
               "sweep.longest_first=false",  # both sweeps in Optuna's order (an unpruned grid would go longest first)
               "~sweep.pruner.n_startup_trials", "~sweep.pruner.n_warmup_steps", f"sweep.pruner.name={pruner['name']}"]
    command += [f"+sweep.pruner.{k}={v}" for k, v in pruner.items() if k != "name"]
    for key, values in space.items():
        prefix = "" if key in DEPTH_WIDTH_SPACE else "+"
        command.append(f"{prefix}sweep.space.{key}=[{','.join(map(str, values))}]")
    command += [f"trainer.max_epochs={args.epochs}", f"+trainer.limit_train_batches={args.batches}",
                f"data.batch_size={args.batch_size}", "logger=csv", *args.set]
    return command


def run_sweep(root: Path, space: dict[str, list], pruner: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    command = sweep_command(root, space, pruner, args)
    started = time.perf_counter()
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "WANDB_MODE": "offline"})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"sweep failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    (root / "wall_s.txt").write_text(f"{wall:.1f}\n")
    return read_sweep(root, pruner)


def read_sweep(root: Path, pruner: dict[str, Any]) -> dict[str, Any]:
    wall = float((root / "wall_s.txt").read_text()) if (root / "wall_s.txt").is_file() else float("nan")
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{root / 'study.db'}")
    trials = []
    for t in sorted(study.trials, key=lambda t: t.number):
        summary_path = Path(t.user_attrs.get("dir", root / "trials" / str(t.number))) / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        final = summary.get("final") or {}
        images = round(final.get("train/images_per_s", 0.0) * final.get("train/epoch_time", 0.0))
        macs = t.user_attrs.get("flops", summary.get("flops"))
        epochs = summary.get("epochs", len(t.intermediate_values))
        trials.append({
            "number": t.number, "state": t.state.name, "params": dict(t.params),
            "value": t.value if t.state == optuna.trial.TrialState.COMPLETE else None,
            "curve": [t.intermediate_values[s] for s in sorted(t.intermediate_values)],
            "epochs": epochs, "macs": macs, "images_per_epoch": images,
            "train_flops": 6 * macs * images * epochs if macs else 0,
        })
    return {"wall": wall, "trials": trials, "pruner": pruner}


def config_key(params: dict[str, Any]) -> tuple:
    return tuple(sorted(params.items()))


def shown(params: dict[str, Any]) -> str:
    return " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items())


def best(trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Optuna's best trial: the highest value, the lowest trial number among ties."""
    complete = [t for t in trials if t["value"] is not None]
    return max(complete, key=lambda t: (t["value"], -t["number"])) if complete else None


def replay(curves: list[tuple[tuple, list[float], int]], pruner: dict[str, Any]) -> tuple[set, dict[tuple, int]]:
    """The pruner's decisions on these learning curves in this order: pruned configs and epochs each trained."""
    options = {k: v for k, v in pruner.items() if k != "name"}
    built = {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
             "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
             "hyperband": optuna.pruners.HyperbandPruner}[pruner["name"]](**options)
    study = optuna.create_study(study_name=STUDY, direction="maximize", pruner=built)
    pruned, epochs = set(), {}
    for key, curve, _ in curves:
        trial = study.ask()
        for step, value in enumerate(curve, start=1):  # as a trial reports: step = epochs trained
            trial.report(value, step)
            if step < len(curve) and trial.should_prune():  # a trial that trained fully is never pruned
                pruned.add(key)
                epochs[key] = step
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            epochs[key] = len(curve)
            study.tell(trial, max(curve))
    return pruned, epochs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=12, help="trainer.max_epochs of every trial")
    parser.add_argument("--batches", type=int, default=10, help="training batches per epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--pruner", default=PRUNER, help="name=...,<Optuna argument>=... (default: %(default)s)")
    parser.add_argument("--orders", type=int, default=200, help="random trial orders to replay the pruner on")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra override for every trial of both sweeps, e.g. model.bn_momentum=0.5")
    parser.add_argument("--keep", type=Path, help="keep both sweeps' folders here instead of a temporary folder")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="report on the sweeps an earlier --keep DIR run left there (same other arguments)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    space = SPACE
    if args.smoke:
        space, args.epochs, args.batches, args.orders = SMOKE_SPACE, 2, 2, 20
    pruner = parse_pruner(args.pruner)
    if args.reuse:
        runs = {"unpruned": read_sweep(args.reuse / "unpruned", {"name": "none"}),
                "pruned": read_sweep(args.reuse / "pruned", pruner)}
        return report(runs, pruner, args)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep.resolve() if args.keep else Path(tmp)
        if args.keep and any(args.keep.glob("*/study.db")):
            sys.exit(f"{args.keep} already holds a sweep: re-running it would resume it, not run it again")
        runs = {"unpruned": run_sweep(base / "unpruned", space, {"name": "none"}, args),
                "pruned": run_sweep(base / "pruned", space, pruner, args)}
    report(runs, pruner, args)


def report(runs: dict[str, dict[str, Any]], pruner: dict[str, Any], args: argparse.Namespace) -> None:
    full, cut = runs["unpruned"]["trials"], runs["pruned"]["trials"]
    grid = len(full)
    print(f"{grid} trials (grid), {args.epochs} epochs of {args.batches} batches of {args.batch_size}, 1 worker, "
          f"{os.cpu_count()} CPU cores; pruner: {', '.join(f'{k}={v}' for k, v in pruner.items())}")
    print(f"{'sweep':<10}{'complete':>9}{'pruned':>7}{'epochs':>8}{'train GFLOP':>13}{'wall s':>8}"
          f"{'best val/acc':>14}  best configuration")
    for name, run in runs.items():
        trials = run["trials"]
        top = best(trials)
        flops = sum(t["train_flops"] for t in trials)
        print(f"{name:<10}{sum(t['state'] == 'COMPLETE' for t in trials):>9}"
              f"{sum(t['state'] == 'PRUNED' for t in trials):>7}{sum(t['epochs'] for t in trials):>8}"
              f"{flops / 1e9:>13.1f}{run['wall']:>8.1f}{(top['value'] if top else float('nan')):>14.4f}  "
              f"{shown(top['params']) if top else '-'}")
    full_flops = sum(t["train_flops"] for t in full)
    cut_flops = sum(t["train_flops"] for t in cut)
    print(f"ratio unpruned / pruned compute: {full_flops / cut_flops:.2f} "
          f"(epochs: {sum(t['epochs'] for t in full) / sum(t['epochs'] for t in cut):.2f}; "
          f"wall, contended: {runs['unpruned']['wall'] / runs['pruned']['wall']:.2f})")

    a, b = best(full), best(cut)
    same = a is not None and b is not None and config_key(a["params"]) == config_key(b["params"])
    print(f"same best configuration: {'yes' if same else 'no'} "
          f"(unpruned: {shown(a['params']) if a else '-'}; pruned: {shown(b['params']) if b else '-'})")

    # Is the unpruned best a clear winner? Margin to the runner-up, and ties.
    ranked = sorted((t for t in full if t["value"] is not None), key=lambda t: -t["value"])
    if a is not None:
        ties = [t for t in ranked if t["value"] == a["value"]]
        runner = next((t for t in ranked if t["value"] < a["value"]), None)
        margin = f"{a['value'] - runner['value']:.4f} over {shown(runner['params'])}" if runner else "none"
        print(f"unpruned best: val/acc {a['value']:.4f}, {len(ties)} configuration(s) at that value; "
              f"margin to the next value {margin}")
    if a is not None and b is not None and not same:
        by_key = {config_key(t["params"]): t for t in full}
        fate = next(t for t in cut if config_key(t["params"]) == config_key(a["params"]))
        rank = 1 + sum(t["value"] > by_key[config_key(b["params"])]["value"] for t in ranked)
        last = f"{fate['curve'][-1]:.4f}" if fate["curve"] else "-"
        print(f"  the unpruned best ended {fate['state']} after {fate['epochs']} epoch(s) at val/acc "
              f"{last}; the pruned sweep's best ranks {rank} in the unpruned sweep "
              f"({by_key[config_key(b['params'])]['value']:.4f})")

    # The pruned sweep's trials must follow the unpruned curves of the same configurations, step by step.
    curves = {config_key(t["params"]): t["curve"] for t in full}
    order_same = [config_key(t["params"]) for t in full] == [config_key(t["params"]) for t in cut]
    match = sum(t["curve"] == curves[config_key(t["params"])][:len(t["curve"])] for t in cut)
    print(f"pruned sweep's curves equal the unpruned ones step by step: {match}/{len(cut)} trials; "
          f"same trial order: {'yes' if order_same else 'no'}")

    # The pruner's decisions depend on the order of the trials: replay the unpruned curves in other orders.
    macs = {config_key(t["params"]): t["macs"] * t["images_per_epoch"] for t in full}
    entries = [(config_key(t["params"]), t["curve"], t["number"]) for t in full]
    pruned_here, _ = replay(entries, pruner)
    actual = {config_key(t["params"]) for t in cut if t["state"] == "PRUNED"}
    same = "yes" if pruned_here == actual else "no"
    print(f"replay of the sweep's own order reproduces its pruning decisions: {same}")
    if a is None:
        return
    rng = random.Random(0)
    ratios, kept, shortfall = [], 0, []
    best_key, top_value = config_key(a["params"]), a["value"]
    for _ in range(args.orders):
        rng.shuffle(entries)
        pruned_set, epochs = replay(entries, pruner)
        found = max((max(curves[k]) for k, _, _ in entries if k not in pruned_set), default=0.0)
        kept += best_key not in pruned_set
        shortfall.append(top_value - found)
        ratios.append(sum(len(curves[k]) * macs[k] for k in curves) / sum(epochs[k] * macs[k] for k in curves))
    print(f"replayed in {args.orders} random trial orders: the unpruned best survives in {kept}/{args.orders}, "
          f"the best found reaches its val/acc in {sum(s == 0 for s in shortfall)}/{args.orders} "
          f"(mean shortfall {statistics.fmean(shortfall):.4f}); compute ratio median {statistics.median(ratios):.2f} "
          f"(range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
