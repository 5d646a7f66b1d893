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
