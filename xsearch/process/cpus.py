"""How many CPU threads a run should use: the CPUs this process may use, less those other processes keep busy.

OpenMP threads spin while they wait for each other; on a shared machine a thread that has no core makes the
others spin for it, and two processes that each run as many threads as the machine has slow each other several
times over (docs/BENCHMARKS.md, "Threads on a shared machine"). So a run counts the CPUs it may use (its
affinity, a cgroup's CPU quota, a SLURM allocation), looks at how busy they are at its start, and runs on the
idle ones; a sweep shares them among its workers. An OMP_NUM_THREADS the user set is never raised.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

SAMPLE_S = 0.25  # how long the CPUs' busy time is sampled at a run's start
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" in microseconds, or "max <period>"
PROC_STAT = Path("/proc/stat")


def usable() -> int:
    """CPUs this process may use: a SLURM job's allocation, else its affinity, capped by a cgroup's CPU quota."""
    allocated = os.environ.get("SLURM_CPUS_PER_TASK") or os.environ.get("SLURM_CPUS_ON_NODE")
    count = int(allocated) if allocated and allocated.isdigit() else len(os.sched_getaffinity(0))
    quota = cgroup_quota()
    return max(1, min(count, math.ceil(quota)) if quota is not None else count)


def cgroup_quota(path: Path | None = None) -> float | None:
    """The cgroup's CPU quota in CPUs (1.5: one and a half), or None where there is none."""
    try:
        quota, period = (path or CGROUP_CPU_MAX).read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _cpu_times(cpus: set[int]) -> tuple[int, int]:
    """(busy, total) jiffies of these CPUs since boot."""
    busy = total = 0
    for line in PROC_STAT.read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            values = [int(v) for v in fields[:8]]
            idle = values[3] + values[4]  # idle and iowait
            busy += sum(values) - idle
            total += sum(values)
    return busy, total


def busy(cpus: set[int] | None = None, sample: float = SAMPLE_S) -> float:
    """How many of these CPUs (this process's, by default) other processes keep busy now, sampled over `sample`
    seconds while this process sleeps; 0 where /proc/stat cannot be read."""
    cpus = cpus if cpus is not None else os.sched_getaffinity(0)
    try:
        busy0, total0 = _cpu_times(cpus)
        time.sleep(sample)
        busy1, total1 = _cpu_times(cpus)
    except OSError:
        return 0.0
    return len(cpus) * (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0


def threads_for(workers: int = 1, *, sample: float = SAMPLE_S) -> tuple[int, str | None]:
    """CPU threads for each of `workers` trials (or a single run), and a line saying so where other work keeps
    some of this process's CPUs busy. An OMP_NUM_THREADS the user set is theirs: a single run takes it as it is,
    a sweep's trials never more than it."""
    have = usable()
    share = max(1, have // workers)
    asked = os.environ.get("OMP_NUM_THREADS", "")
    if asked.isdigit() and int(asked) > 0:
        return (min(share, int(asked)) if workers > 1 else int(asked)), None
    if share == 1:  # one thread each already: nothing to give up
        return 1, None
    others = busy(sample=sample)
    threads = max(1, (have - round(others)) // workers)
    if threads >= share:
        return share, None
    who = "each trial" if workers > 1 else "training"
    return threads, (f"{others:.1f} of the {have} CPUs this process may use are busy with other work: {who} on "
                     f"{threads} thread{'s' * (threads != 1)} (OMP_NUM_THREADS=N chooses)")
