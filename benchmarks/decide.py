"""The trials a real decided sweep (`sweep.decide=true`) spends, against a fixed design sized to decide the same
comparisons.

Runs one real sweep (`+sweep=separability`, depthwise first: segments 1, 2, 4, 8 and depthwise, on digits unless
overridden), with `sweep.decide=true`: planned seeds first, then seeds added only to the points of undecided
comparisons, at looks fixed in advance, up to `--max-seeds`. The reference is the fixed design that decides the
same comparisons without looking: every point given, up front, as many seeds as the most any point needed here
(the points of the hardest comparison), since a fixed design cannot know in advance which comparisons are easy.
The simulated side of the same question, over hundreds of studies with known truths and at equal error rates,
is `benchmarks/inference.py`'s sequential table.

    python benchmarks/decide.py                       # digits, 2 planned seeds, at most 8 (3 to 15 minutes, 2 cores)
    python benchmarks/decide.py --set data=imagefolder_memory data.root=...   # any other data
    python benchmarks/decide.py --smoke               # 2 points, 1 epoch of 2 batches: checks that it runs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from xsearch.inference.comparisons import Verdict

ROOT = Path(__file__).resolve().parents[1]
STUDY = "decide_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--planned", type=int, default=2, help="planned seeds per point")
    parser.add_argument("--max-seeds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], help="more overrides for the sweep")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    segments = "[8,depthwise]" if args.smoke else "[1,2,4,8,depthwise]"
    tiny = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "model.middle_depth=1"] if args.smoke else []
    seeds = "[" + ",".join(str(s) for s in range(args.planned)) + "]"
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        command = [sys.executable, "-m", "xsearch", "+sweep=separability", f"sweep.name={STUDY}",
                   f"sweep.dir={folder}", f"sweep.space.model.segments={segments}",
                   "sweep.space.model.op_order=[depthwise_first]", f"sweep.space.seed={seeds}", "sweep.decide=true",
                   f"sweep.max_seeds={args.max_seeds}", f"sweep.workers={args.workers}", "logger=csv", *tiny,
                   *args.set]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{folder / 'study.db'}")
        decided = study.user_attrs["decide"]
        summary = (folder / "report" / "summary.md").read_text().split("\n\n")[2]
    trials = [t for t in study.trials if t.state.is_finished()]
    per_point: dict[str, int] = {}
    for t in trials:
        per_point[str(t.params["model.segments"])] = per_point.get(str(t.params["model.segments"]), 0) + 1
    most = max(per_point.values())
    fixed = most * len(per_point)
    print(f"decided sweep: {len(per_point)} points, looks at {decided['schedule']} seeds, each at "
          f"alpha/{len(decided['schedule'])}; {wall:.0f} s on {args.workers} workers")
    for number, look in enumerate(decided["looks"], 1):
        added = ", ".join(f"{k}: +{n}" for k, n in look["added"].items()) or "none (final)"
        counted = ", ".join(f"{look[v.value]} {v.value}" for v in Verdict)
        print(f"look {number} at {look['seeds']} seeds: {counted}; added {added}")
    print("seeds per point: " + ", ".join(f"segments={k} {n}" for k, n in per_point.items()))
    print(f"trials: decided {len(trials)}, fixed design {fixed} ({most} seeds x {len(per_point)} points)")
    print(f"ratio fixed / decided trials: {fixed / len(trials):.2f}")
    print(f"headline: {summary.strip('*')}")
    print(json.dumps({"trials": len(trials), "fixed": fixed, "looks": len(decided["looks"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
