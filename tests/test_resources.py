"""What a sweep's trials may use of the machine: CPU threads, shared among the workers."""

import pytest

from xsearch.sweep.resources import trial_threads


@pytest.mark.parametrize("omp,workers,threads", [
    (None, 1, 8), (None, 3, 2), (None, 16, 1),  # the allocation's CPUs, shared; at least one each
    ("1", 1, 1), ("4", 1, 4), ("4", 4, 2),      # never more than OMP_NUM_THREADS, nor than a worker's share
    ("0", 2, 4), ("all", 2, 4), ("", 2, 4),     # not a thread count: the share
])
def test_trials_share_the_cpus_and_keep_within_a_set_omp_num_threads(monkeypatch, omp, workers, threads):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "8")  # this process may use 8 CPUs, as in a SLURM job
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert trial_threads(workers) == threads
