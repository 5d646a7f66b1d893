"""Each benchmark runs end to end at its smallest size. Speed is the benchmarks' business, not the tests'."""

import os
import re
import sys
from pathlib import Path

import processes

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_sweep_benchmark_prints_utilization_of_every_schedule():
    out = processes.run([sys.executable, str(BENCHMARKS / "sweep.py"), "--smoke"], timeout=600, check=True).stdout
    row = r"\s+\d+\.\d\s+\d+\.\d%\s+\d+\.\d%\s+\d+\.\d"
    assert re.search(r"^2 trials of ", out, re.MULTILINE)
    assert re.search(r"xsearch, longest first \(default\)" + row, out)
    assert re.search(r"xsearch, Optuna's grid order" + row, out)
    assert re.search(r"batch barrier, Optuna order \(replayed\)\s+\d+\.\d\s+\d+\.\d%", out)
    assert re.search(r"ratio longest-first / Optuna-order utilization: \d\.\d{3}", out)
    assert re.search(r"ratio longest-first / batch-barrier utilization: \d\.\d{3}", out)


def test_spectrum_benchmark_prints_every_variant_against_the_regular_reference():
    out = processes.run([sys.executable, str(BENCHMARKS / "spectrum.py"), "--smoke"], timeout=300, check=True).stdout
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert list(lines) == ["regular", "segments=1", "segments=2", "segments=4", "segments=8", "segments=16",
                           "segments=depthwise"]
    assert lines["regular"][-3:] == ["1.000", "1.000", "1.000"]  # the reference against itself
    assert float(lines["segments=depthwise"][-3]) < 1  # fewer MACs than the dense reference


def test_data_benchmark_prints_both_paths_and_the_ratio():
    out = processes.run([sys.executable, str(BENCHMARKS / "data.py"), "--smoke"], timeout=300, check=True).stdout
    for data in ("digits (1x32x32)", "CIFAR-shaped (3x32x32)"):
        assert re.search(rf"{re.escape(data)}\s+xsearch in-memory\s+\d+\.\d%\s+\d+", out)
        assert re.search(rf"{re.escape(data)}\s+DataLoader\s+\d+\.\d%\s+\d+", out)
        assert re.search(rf"{re.escape(data)}\s+ratio xsearch / DataLoader images/s: \d+\.\d{{3}}", out)


def test_pruning_benchmark_prints_the_compute_ratio():
    out = processes.run([sys.executable, str(BENCHMARKS / "pruning.py"), "--smoke"], timeout=900, check=True).stdout
    assert re.search(r"^unpruned\s+\d+\s+\d+\s+\d+\s+\d+\.\d\s", out, re.MULTILINE)
    assert re.search(r"^pruned\s+\d+\s+\d+\s+\d+\s+\d+\.\d\s", out, re.MULTILINE)
    assert re.search(r"ratio unpruned / pruned compute: \d+\.\d\d", out)
    assert re.search(r"same best configuration: (yes|no) \(unpruned: .+; pruned: .+\)", out)


def test_overhead_benchmark_prints_both_trial_starts_and_the_ratio():
    out = processes.run([sys.executable, str(BENCHMARKS / "overhead.py"), "--smoke"], timeout=300, check=True).stdout
    for label in ("xsearch (forked from a warm zygote)", "fresh interpreter per trial"):
        assert re.search(rf"{re.escape(label)}\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d", out)
    assert re.search(r"ratio xsearch / fresh interpreter overhead: \d+\.\d{3}", out)


def test_the_gpu_script_runs_every_step_and_keeps_its_tables(tmp_path):
    # On the CPU at its smallest size: what will run when a GPU is available, checked before it spends GPU time.
    # Its first table is benchmarks/model.py's CPU smoke run (fp32 against timm).
    env = {**os.environ, "SMOKE": "1", "DEVICE": "cpu", "PYTHON": sys.executable, "OUT": str(tmp_path)}
    processes.run(["bash", str(BENCHMARKS / "gpu.sh")], check=True, timeout=600, env=env)
    log = (tmp_path / "gpu.txt").read_text()
    assert "!! exit" not in log
    assert len(re.findall(r"ratio xsearch / timm legacy_xception \(median of \d rounds\): \d+\.\d{3}", log)) == 3
    for precision in ("fp32, channels_last=False", "bf16-mixed, channels_last=False", "bf16-mixed, channels_last=True"):
        assert f"{precision}, compile=False" in log
    assert "skipped on the CPU: --compile" in log  # compiling takes minutes here; on the GPU it is the 4th table
    assert re.search(r"^segments=depthwise\s", log, re.MULTILINE)
