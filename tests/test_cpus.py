"""How many CPU threads a run and a sweep's trials use: the CPUs this process may use, less those other work keeps
busy, shared among the workers, and never more than an OMP_NUM_THREADS set for them."""

import json
import os
import subprocess
import sys
import time

import pytest

from xsearch.process import cpus


@pytest.fixture
def quiet(monkeypatch):
    monkeypatch.setattr(cpus, "busy", lambda **kwargs: 0.0)


@pytest.mark.parametrize("omp,workers,threads", [
    (None, 1, 8), (None, 3, 2), (None, 16, 1),  # the allocation's CPUs, shared; at least one each
    ("1", 1, 1), ("4", 1, 4), ("4", 4, 2),      # never more than OMP_NUM_THREADS, nor than a worker's share
    ("0", 2, 4), ("all", 2, 4), ("", 2, 4),     # not a thread count: the share
    ("12", 1, 12),                              # a single run takes the user's own count as it is
])
def test_trials_share_the_cpus_and_keep_within_a_set_omp_num_threads(monkeypatch, quiet, omp, workers, threads):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "8")  # this process may use 8 CPUs, as in a SLURM job
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert cpus.threads_for(workers) == (threads, None)


@pytest.mark.parametrize("others,workers,threads", [(1.0, 1, 3), (2.6, 1, 1), (3.9, 1, 1), (2.0, 2, 1), (0.4, 1, 4)])
def test_cpus_other_work_keeps_busy_are_left_to_it_and_said_in_one_line(monkeypatch, others, workers, threads):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpus, "busy", lambda **kwargs: others)
    got, note = cpus.threads_for(workers)
    assert got == threads
    if threads < 4 // workers:
        assert note.startswith(f"{others:.1f} of the 4 CPUs this process may use are busy with other work: ")
        assert "\n" not in note and f"on {threads} thread" in note
    else:
        assert note is None


@pytest.mark.parametrize("text,quota", [("150000 100000\n", 1.5), ("max 100000\n", None), ("", None)])
def test_a_cgroups_cpu_quota_caps_the_cpus(tmp_path, monkeypatch, text, quota):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text(text)
    assert cpus.cgroup_quota(cpu_max) == quota
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.delenv("SLURM_CPUS_ON_NODE", raising=False)
    monkeypatch.setattr(cpus, "CGROUP_CPU_MAX", cpu_max)
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    expected = 2 if quota == 1.5 else 4  # one and a half CPUs: two threads' worth, not four
    assert cpus.usable() == expected


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc/stat")
def test_a_spinning_process_on_this_processs_cpus_counts_as_busy():
    mine = sorted(os.sched_getaffinity(0))[:1]
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                               preexec_fn=lambda: os.sched_setaffinity(0, mine))
    try:
        time.sleep(0.3)
        assert cpus.busy(set(mine), sample=0.5) > 0.6  # one CPU, kept busy by the spinner
    finally:
        spinner.kill()
        spinner.wait()


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_run_beside_busy_work_trains_on_the_idle_cpus_and_says_so(tmp_path):
    import processes

    pair = sorted(os.sched_getaffinity(0))[:2]
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                               preexec_fn=lambda: os.sched_setaffinity(0, pair[:1]))
    try:
        out = processes.xsearch(f"hydra.run.dir={tmp_path}", "trainer.max_epochs=1", "logger=csv",
                                "+trainer.limit_train_batches=2", env={"OMP_NUM_THREADS": ""}, timeout=300,
                                preexec_fn=lambda: os.sched_setaffinity(0, pair))
    finally:
        spinner.kill()
        spinner.wait()
    assert out.returncode == 0, out.stderr[-2000:]
    assert "of the 2 CPUs this process may use are busy with other work: training on 1 thread" in out.stdout
    assert json.loads((tmp_path / "summary.json").read_text())["threads"] == 1
