"""Each benchmark runs end to end at its smallest size. Speed is the benchmarks' business, not the tests'."""

import base64
import hashlib
import json
import os
import random
import re
import sys
import tarfile
import zipfile
from pathlib import Path

import processes
import pytest

pytestmark = pytest.mark.slow  # every test here starts xsearch processes or services

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
    regular = lines["regular"]

    def ratio(row, column):  # a ratio of two printed columns, within what their rounding to 0.1 allows
        a, b = float(row[column]), float(regular[column])
        return pytest.approx(a / b, abs=a / b * (0.05 / a + 0.05 / b) + 0.0005)

    for row in lines.values():  # each ratio is its own columns over the reference's
        assert float(row[-3]) == ratio(row, 2)  # MACs per image
        assert float(row[-2]) == ratio(row, 3)  # step time
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
    verdict, unpruned, pruned = re.search(r"same best configuration: (yes|no) \(unpruned: (.+); pruned: (.+)\)",
                                          out).groups()
    assert verdict == ("yes" if unpruned == pruned else "no")


def test_overhead_benchmark_prints_both_trial_starts_and_the_ratio():
    out = processes.run([sys.executable, str(BENCHMARKS / "overhead.py"), "--smoke"], timeout=300, check=True).stdout
    for label in ("xsearch (forked from a warm zygote)", "fresh interpreter per trial"):
        assert re.search(rf"{re.escape(label)}\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d", out)
    assert re.search(r"ratio xsearch / fresh interpreter overhead: \d+\.\d{3}", out)


def probe_wheel(folder: Path) -> Path:
    """A one-module wheel, built by hand (offline): what the script's install step puts on PYTHONPATH."""
    files = {"gpu_probe/__init__.py": b"INSTALLED = True\n",
             "gpu_probe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: gpu-probe\nVersion: 1.0\n",
             "gpu_probe-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                              b"Tag: py3-none-any\n"}
    record = "".join(f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for name, data in files.items()) + "gpu_probe-1.0.dist-info/RECORD,,\n"
    path = folder / "gpu_probe-1.0-py3-none-any.whl"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in {**files, "gpu_probe-1.0.dist-info/RECORD": record.encode()}.items():
            wheel.writestr(name, data)
    return path


def jpeg_tarball(path: Path, classes: int = 10, train: int = 6, test: int = 3) -> Path:
    """A CIFAR-10-shaped JPEG folder, tiny: train/<class>/*.jpg and test/<class>/*.jpg, 32x32, tarred."""
    from PIL import Image

    source = path.parent / "jpegs"
    generator = random.Random(0)
    for split, count in (("train", train), ("test", test)):
        for label in range(classes):
            folder = source / split / f"class{label}"
            folder.mkdir(parents=True)
            for index in range(count):
                color = tuple(generator.randrange(256) for _ in range(3))
                Image.new("RGB", (32, 32), color).save(folder / f"{index:04d}.jpg")
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(source / split, arcname=split)
    return path


def test_the_gpu_script_runs_every_step_on_a_small_jpeg_folder(tmp_path):
    # On the CPU at its smallest size: what will run when a GPU is available, checked before it spends GPU time:
    # the wheels installed, the tarball extracted, the model tables, the packing scan, three real sweeps, the
    # fused scan and a fused sweep, and the reports packed into the results folder.
    results, work = tmp_path / "results", tmp_path / "work"
    env = {**os.environ, "SMOKE": "1", "DEVICE": "cpu", "PYTHON": sys.executable, "RESULTS_DIR": str(results),
           "WORK": str(work), "WHEELS": str(probe_wheel(tmp_path / "wheels").parent),
           "DATA": str(jpeg_tarball(tmp_path / "tiny-jpeg.tar.gz")),
           "STEPS": "install data model packing study fused"}
    processes.run(["bash", str(BENCHMARKS / "gpu.sh")], check=True, timeout=600, env=env)
    log = (results / "gpu.txt").read_text()
    assert "!! exit" not in log, log[-3000:]
    assert (work / "site" / "gpu_probe" / "__init__.py").is_file()  # installed with --target, not into site-packages
    assert "images: 60 train, 30 test" in log
    assert len(re.findall(r"ratio xsearch / timm legacy_xception \(median of \d rounds\): \d+\.\d{3}", log)) == 1
    assert "bf16-mixed, channels_last=True, compile=False" in log  # fp32 and bf16 alone: on a GPU
    assert "skipped on the CPU: --compile" in log  # compiling takes minutes here; on the GPU it is the 4th table
    assert re.search(r"^segments=depthwise\s", log, re.MULTILINE)
    packing = json.loads((results / "packing.json").read_text())
    assert [r["workers"] for r in packing["rows"]] == [1, 2] and all(r["images_per_s"] > 0 for r in packing["rows"])
    with tarfile.open(results / "reports.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"sweeps/questions/report/summary.md", "sweeps/questions/report/trials.csv", "sweeps/questions/study.db",
            "sweeps/questions/results.json"} <= names, sorted(names)
    assert any(n.startswith("sweeps/questions/report/") and n.endswith(".png") for n in names)
    records = {n.rsplit("/", 1)[-1] for n in names if n.startswith("sweeps/questions/trials/")}
    assert records == {"summary.json", "outcomes.npz"}  # each trial's record, for the report to be recomputed
    assert re.search(r"^\s+2\s+\d+\s+\d+\s+\d+\.\d\d$", log, re.MULTILINE)  # the fused scan's K = 2 row
    with tarfile.open(results / "fused.tar.gz") as tar:
        summaries = [tar.extractfile(n).read() for n in tar.getnames() if n.endswith("summary.json")]
    assert summaries and all(json.loads(s)["fused"]["copies"] == 2 for s in summaries)  # each point's 2 seeds as one
    assert len(list(results.iterdir())) <= 8  # what a results folder brings back


def test_the_inference_simulation_holds_the_intervals_and_catches_a_wrong_one():
    # 150 synthetic studies of the questions study's family at 3 seeds, the paper's point's seeds varying three
    # times as much as the others': the report's intervals cover their truth and its false verdicts stay rare, and
    # pooling the points' seed variances (what the report once did) is caught undercovering that point.
    row = r"^paper 3x\s+3 seeds" + r"\s+(\d\.\d{3})(?: !)?" * 4  # a figure out of its bound is marked " !"
    right = processes.run([sys.executable, str(BENCHMARKS / "inference.py"), "--smoke"], timeout=300)
    point, pair, distinct, equivalent = map(float, re.search(row, right.stdout, re.MULTILINE).groups())
    assert point >= 0.88 and pair >= 0.88 and distinct <= 0.05 and equivalent <= 0.05, right.stdout
    assert right.returncode == 0 and "every figure within its bound" in right.stdout
    wrong = processes.run([sys.executable, str(BENCHMARKS / "inference.py"), "--smoke", "--method", "pooled"],
                          timeout=300)
    point, pair = map(float, re.search(row, wrong.stdout, re.MULTILINE).groups()[:2])
    assert min(point, pair) < 0.85 and wrong.returncode == 1 and "some figure is outside its bound" in wrong.stdout


def test_every_typo_the_benchmark_times_is_answered_in_one_line_with_exit_2():
    out = processes.run([sys.executable, str(BENCHMARKS / "typos.py"), "--repeats", "1"], timeout=600)
    assert out.returncode == 0 and "not one line" not in out.stdout, out.stdout[-3000:]
    assert re.search(r"^20 bad inputs, 1 run\(s\) each: slowest \d+\.\d\d s", out.stdout, re.MULTILINE)


def test_the_threads_benchmark_times_a_run_beside_a_sweep_three_ways():
    out = processes.run([sys.executable, str(BENCHMARKS / "threads.py"), "--repeats", "1", "--epochs", "1"],
                        timeout=600, check=True).stdout
    assert re.search(r"^\d+ CPUs; a 2-worker sweep trains beside each run", out, re.MULTILINE)
    ratios = dict(re.findall(r"^(auto|right|machine) .* ratio to right (\d+\.\d\d)", out, re.MULTILINE))
    assert set(ratios) == {"auto", "right", "machine"} and float(ratios["right"]) == 1.0, out


def test_the_decide_benchmark_counts_a_real_decided_sweeps_trials_against_a_fixed_design():
    out = processes.run([sys.executable, str(BENCHMARKS / "decide.py"), "--smoke"], timeout=600, check=True).stdout
    counts = json.loads(out.strip().splitlines()[-1])
    assert re.search(r"^look 1 at 2 seeds: \d+ distinguishable, \d+ equivalent, \d+ undecided; added ", out, re.M)
    per_point = [int(n) for n in re.findall(r"segments=\S+ (\d+)", out.split("seeds per point: ")[1].splitlines()[0])]
    assert counts["trials"] == sum(per_point) >= 4 and counts["fixed"] == max(per_point) * len(per_point)
    assert f"ratio fixed / decided trials: {counts['fixed'] / counts['trials']:.2f}" in out
