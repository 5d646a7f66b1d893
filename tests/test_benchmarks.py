"""Each benchmark runs end to end at its smallest size. Speed is the benchmarks' business, not the tests'."""

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_model_benchmark_prints_a_ratio_against_timm():
    out = subprocess.run([sys.executable, str(BENCHMARKS / "model.py"), "--smoke"], check=True, capture_output=True,
                         text=True, timeout=300).stdout
    assert "timm legacy_xception" in out
    assert re.search(r"ratio xsearch / timm legacy_xception \(median of 1 rounds\): \d+\.\d{3}", out)


def test_sweep_benchmark_prints_utilization_of_both_schedules():
    out = subprocess.run([sys.executable, str(BENCHMARKS / "sweep.py"), "--smoke"], check=True, capture_output=True,
                         text=True, timeout=600).stdout
    assert re.search(r"xsearch \(asynchronous\)\s+\d+\.\d\s+\d+\.\d%", out)
    assert re.search(r"batch barrier \(replayed\)\s+\d+\.\d\s+\d+\.\d%", out)
    assert "ratio xsearch / batch barrier utilization:" in out
