"""Packing small trials onto one device: aggregate training images/s of the separability trials at N workers.

`sweep.workers` above the GPU count already shares GPUs (every worker on a one-GPU machine trains on GPU 0).
For each N this runs a real sweep of N trials of the separability sweep's default point (depthwise, at its
parameter budget: 0.72M parameters, 32x32), seeds 0..N-1, one per worker, all at once, and divides the images
they trained by the span from the first trial's start to the last one's end; the named reference is N = 1,
one worker per GPU, xsearch's default. Trials start, load their data onto the device and end inside
the span, so it measures what a sweep gets, not a kernel's peak.

    python benchmarks/packing.py --data-root ~/data/cifar10-jpeg --workers 1 2 4 8 16   # on a GPU
    python benchmarks/packing.py --data-root DIR --device cpu --smoke                    # CPU, seconds per point
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


def sweep_args(args: argparse.Namespace, workers: int, sweep_dir: Path) -> list[str]:
    return ["+sweep=separability", f"sweep.name=packing_{workers}", f"sweep.dir={sweep_dir}",
            f"sweep.workers={workers}", "sweep.space.model.segments=[depthwise]",
            "sweep.space.model.op_order=[depthwise_first]", f"sweep.space.seed=[{','.join(map(str, range(workers)))}]",
            "data=imagefolder_memory",
            f"data.root={args.data_root}", f"trainer.max_epochs={args.epochs}", "logger=csv",
            f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}",
            *([f"+trainer.limit_train_batches={args.batches}"] if args.batches else []), *args.set]


def measure(args: argparse.Namespace, workers: int) -> dict:
    sweep_dir = Path(args.out) / f"packing_{workers}"
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "xsearch", *sweep_args(args, workers, sweep_dir)], cwd=ROOT,
                         capture_output=True, text=True, timeout=args.timeout)
    if out.returncode != 0:
        raise SystemExit(f"the {workers}-worker sweep failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    study = optuna.load_study(study_name=f"packing_{workers}", storage=f"sqlite:///{sweep_dir / 'study.db'}")
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    images = 0.0
    for trial in trials:
        history = json.loads((sweep_dir / "trials" / str(trial.number) / "summary.json").read_text())["history"]
        images += sum(e["train/images_per_s"] * e["train/epoch_time"] for e in history)
    span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
    return {"workers": workers, "trials": len(trials), "images": round(images), "span_s": span,
            "images_per_s": images / span, "command_s": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", required=True, help="an image folder: train/<class>/, test/<class>/")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batches", type=int, default=None, help="training batches per epoch (default: all)")
    parser.add_argument("--out", default="sweeps/packing", help="where the sweeps are written")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one point may take")
    parser.add_argument("--json", help="also write the table here")
    parser.add_argument("--set", nargs="*", default=[], help="more overrides for every trial")
    parser.add_argument("--smoke", action="store_true", help="1 and 2 workers, 2 batches: checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.workers, args.batches = [1, 2], 2
        args.set = [*args.set, "+trainer.limit_val_batches=1", "data.batch_size=16", "model.width=0.125",
                    "model.middle_depth=1", "model.budget=null"]
    print(f"packing: separability trials, {args.epochs} epoch(s) each, on {args.device}; reference: "
          f"{args.workers[0]} worker(s)")
    print(f"{'workers':>7} {'trials':>6} {'images':>10} {'span s':>8} {'images/s':>10} {'ratio':>6}", flush=True)
    rows: list[dict] = []
    for workers in args.workers:  # each row printed and saved as it is measured: a scan cut short keeps its rows
        row = measure(args, workers)
        row["ratio"] = row["images_per_s"] / (rows[0] if rows else row)["images_per_s"]
        rows.append(row)
        print(f"{row['workers']:>7} {row['trials']:>6} {row['images']:>10} {row['span_s']:>8.1f} "
              f"{row['images_per_s']:>10.0f} {row['ratio']:>6.2f}", flush=True)
        best = max(rows, key=lambda r: r["images_per_s"])
        if args.json:
            Path(args.json).write_text(json.dumps({"device": args.device, "rows": rows, "best": best}, indent=2))
    print(f"best: {best['workers']} workers, {best['images_per_s']:.0f} images/s aggregate")


if __name__ == "__main__":
    main()
