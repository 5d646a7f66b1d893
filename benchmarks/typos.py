"""How long a typo takes to be answered: twenty bad inputs, each timed as a whole `python -m xsearch` process,
against Hydra's own `--help` (which composes the config tree and loads no model code) as the reference, measured
in the same run, in turn, run by run.

Each must end with exit status 2 and one line, `xsearch: config error: ...`; the script says so where one does
not. The figures are the median of `--repeats` runs of each.

    python benchmarks/typos.py                 # 3 runs of each
    python benchmarks/typos.py --repeats 1     # quicker
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TYPOS = [
    ["model.segments=0"], ["model.segmnts=4"], ["+model.segmnts=4"], ["model.width=-1"], ["model=xceptoin"],
    ["data=cifar"], ["data.batch_size=0"], ["data.normalize=zscore"], ["optim.lr=-1"], ["optim=adam"],
    ["trainer.max_epochs=0"], ["trainer.bogus_key=1"], ["+trainer.max_epoch=3"], ["logger=nope"],
    ["callbacks=early_stop"], ["seed=-1"], ["+sweep=nope"], ["+sweep=separability", "sweep.samplr.name=tpe"],
    ["+sweep=separability", "sweep.space.model.segments=[0]"], ["+sweep=questions", "sweep.max_seeds=1"],
]
REFERENCE = ["--help"]


def timed(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "WANDB_MODE": "offline"}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "xsearch", *args], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=600)
    return time.perf_counter() - started, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {}
    wrong = []
    with tempfile.TemporaryDirectory() as tmp:  # anything a run wrongly writes lands here, not in the checkout
        for _ in range(args.repeats):
            for typo in [REFERENCE, *TYPOS]:
                seconds, out = timed(typo, Path(tmp))
                times.setdefault(" ".join(typo), []).append(seconds)
                lines = out.stderr.strip().splitlines()
                if typo is not REFERENCE and (out.returncode != 2 or len(lines) != 1
                                              or not lines[0].startswith("xsearch: config error: ")):
                    wrong.append(f"{' '.join(typo)}: exit {out.returncode}, {len(lines)} line(s) on stderr")
    reference = statistics.median(times[" ".join(REFERENCE)])
    print(f"{'input':<58} {'median s':>9} {'ratio to --help':>16}")
    for typo, values in times.items():
        median = statistics.median(values)
        print(f"{typo:<58} {median:>9.2f} {median / reference:>16.2f}")
    typo_times = [statistics.median(v) for k, v in times.items() if k != " ".join(REFERENCE)]
    print(f"\n{len(TYPOS)} bad inputs, {args.repeats} run(s) each: slowest {max(typo_times):.2f} s, median "
          f"{statistics.median(typo_times):.2f} s; Hydra's --help {reference:.2f} s")
    for line in wrong:
        print(f"not one line with exit 2: {line}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
