"""A run beside a 2-worker sweep: how fast it trains with the threads xsearch chooses, against the same run with
the right thread count for the CPUs left to it, and with as many threads as the machine has (what a run did
before it looked at the machine).

The sweep (the digits' separability sweep, long enough to outlast the runs) takes the machine's CPUs first, one
thread a worker; once both its trials train, the default run is timed three ways, in turn, `--repeats` times:

- auto: OMP_NUM_THREADS unset, so xsearch samples the CPUs' load and picks (xsearch/process/cpus.py);
- right (the reference): OMP_NUM_THREADS = the CPUs the sweep leaves idle, at least 1;
- machine: OMP_NUM_THREADS = every CPU this process may use.

Each run's training images/s is its summary's; the ratios are each way's median over the reference's.

    python benchmarks/threads.py                   # 3 repeats, 2 epochs of the default run each
    python benchmarks/threads.py --repeats 5 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_sweep(root: Path) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("OMP_NUM_THREADS", None)
    return subprocess.Popen([sys.executable, "-m", "xsearch", "+sweep=separability", "sweep.name=busy",
                             f"sweep.dir={root}", "sweep.workers=2", "trainer.max_epochs=200", "logger=csv"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def training(root: Path) -> int:
    """How many of the sweep's trials are past their first batch."""
    count = 0
    for progress in root.glob("trials/*/progress.json"):
        try:
            count += json.loads(progress.read_text()).get("phase") in ("training", "validating")
        except (OSError, ValueError):
            pass
    return count


def timed_run(root: Path, threads: str | None, epochs: int) -> tuple[float, int, bool]:
    """(images/s, threads it trained on, whether it said the machine was busy) of one default run."""
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    out = subprocess.run([sys.executable, "-m", "xsearch", f"hydra.run.dir={root}", f"trainer.max_epochs={epochs}",
                          "logger=csv"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"a run failed: {out.stderr[-2000:]}")
    summary = json.loads((root / "summary.json").read_text())
    return summary["images_per_s"], summary["threads"], "busy with other work" in out.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    cpus = len(os.sched_getaffinity(0))
    right = str(max(1, cpus - 2))
    ways = {"auto": None, f"right ({right})": right, f"machine ({cpus})": str(cpus)}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        sweep = start_sweep(base / "sweep")
        try:
            deadline = time.monotonic() + 600
            while training(base / "sweep") < 2:
                if sweep.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the sweep did not start two training trials")
                time.sleep(1)
            print(f"{cpus} CPUs; a 2-worker sweep trains beside each run; {args.repeats} repeats of "
                  f"{args.epochs} epochs of the default run", flush=True)
            rates: dict[str, list[float]] = {way: [] for way in ways}
            for repeat in range(args.repeats):
                for way, threads in ways.items():
                    rate, used, said = timed_run(base / f"{repeat}-{way.split()[0]}", threads, args.epochs)
                    rates[way].append(rate)
                    print(f"  {way:<12} {rate:7.1f} images/s on {used} thread(s)"
                          + ("  (said the machine was busy)" if said else ""), flush=True)
        finally:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
    reference = statistics.median(rates[f"right ({right})"])
    for way, values in rates.items():
        print(f"{way:<12} median {statistics.median(values):7.1f} images/s, ratio to right "
              f"{statistics.median(values) / reference:.2f} (runs: {', '.join(f'{v:.0f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
