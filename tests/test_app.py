"""`python -m xsearch` as a user runs it: the default run trains for real and leaves its outputs."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import processes
import pytest
import wandb_records
import yaml
from conftest import composed

from xsearch.model import XceptionConfig, cost
from xsearch.schema import ConfigError
from xsearch.settings.run import load_settings

ROOT = Path(__file__).resolve().parents[1]


def xsearch(*args, cwd=ROOT, env=None, timeout=600):
    return processes.xsearch(*args, cwd=cwd, env=env, timeout=timeout)


@pytest.mark.slow
def test_default_run_trains_to_the_accuracy_bar_and_leaves_its_outputs(tmp_path):
    out = xsearch(f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["best"]["val/acc"] >= 0.95
    assert summary["objective"] == summary["best"]["val/acc"]
    assert summary["epochs"] == 8 and summary["final"]["epoch"] == 7
    expected = cost(XceptionConfig(width=0.25, middle_depth=2, stem_stride=1, stem_padding=1, num_classes=10,
                                   in_channels=1), (32, 32))
    assert (summary["params"], summary["flops"]) == (expected.params, expected.flops)
    assert summary["images_per_s"] > 0 and summary["wall_time_s"] > summary["train_time_s"] > 0
    assert summary["device"] == "cpu"

    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    val = [float(r["val/acc"]) for r in rows if r.get("val/acc")]
    assert len(val) == 8 and max(val) == pytest.approx(summary["best"]["val/acc"])
    assert any(r.get("train/loss_step") for r in rows) and any(r.get("train/images_per_s") for r in rows)

    resolved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert resolved["model"]["width"] == 0.25 and resolved["data"]["name"] == "digits"

    logged = wandb_records.config(wandb_records.offline_run(tmp_path))
    assert logged["model"]["width"] == 0.25
    assert logged["model"]["segments"] == "depthwise"
    assert logged["architecture"]["params"] == expected.params
    assert logged["architecture"]["layers"][2]["groups"] == logged["architecture"]["layers"][2]["c_in"]

    lines = out.stdout.strip().splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 8  # not a terminal: one plain line per epoch
    assert any(line.startswith("xsearch: complete | val/acc") for line in lines)
    assert any("wandb sync" in line for line in lines)


@pytest.mark.parametrize("args,message", [
    (["data=cifar10", "data.root=/nonexistent/cifar"], "/nonexistent/cifar"),  # found when the data is opened
    (["data=imagefolder"], "data.root"),  # no root at all
    (["model.segments=0"], "xsearch: config error: model.segments=0 is invalid: expected 'depthwise' or an integer"),
    (["trainer.max_epochs=-5"], "trainer.max_epochs=-5 is invalid: expected null or an integer >= 1 or -1"),
    (["trainer.max_epochs=0"], "trainer.max_epochs=0 is invalid"),  # would train nothing and "complete"
    (["trainer.bogus_key=1"], "trainer.bogus_key is not a key of trainer"),  # Hydra's own error, in our words
    (["logger=nope"], "logger=nope is not an option of logger: did you mean none? (valid: csv, none, tensorboard, "
                      "wandb)"),
    (["+sweep=nope"], "sweep=nope is not an option of sweep (valid: activation, depth_width"),
    (["+callbacks.bad={_target_:no.such.Class}"], "callbacks.bad._target_=no.such.Class cannot be imported"),
    (["model.width=1e9"], "lower model.width"),  # from the parameter count, before anything is allocated
    (["model.budget={metric:params,target:1}"], "model.budget target params=1 cannot be met"),
])
@pytest.mark.slow
def test_bad_config_is_one_line_and_exit_2_before_anything_is_written(tmp_path, args, message):
    # The command as a user meets it; every other refusal of load_settings takes the same path (below).
    out = xsearch(f"hydra.run.dir={tmp_path}", "logger=wandb", *args, timeout=120)
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("xsearch: config error:")]
    assert len(errors) == 1 and message in errors[0], out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "summary.json").exists()
    assert not (tmp_path / "wandb").exists()


@pytest.mark.parametrize("args,message", [
    (["data.name=imagenet"], "data.name='imagenet' is invalid: expected one of digits"),
    (["optim.lr=-1"], "optim.lr=-1 is invalid: expected a finite number > 0"),
    (["+model.segmnets=4"], "model.segmnets is not a key of model: did you mean segments?"),
    (["+trainer.max_epoch=3"], "trainer.max_epoch is not a key of trainer: did you mean max_epochs or min_epochs?"),
    (["+seeed=3"], "seeed is not a top-level key: did you mean seed?"),
    (["+trainer.max_steps=0"], "trainer.max_steps=0 is invalid"),
    (["+trainer.limit_train_batches=0"], "trainer.limit_train_batches=0 is invalid"),
    (["model.width=wide"], "model.width='wide' is invalid: expected a finite number > 0"),
    (["optim.lr=abc"], "optim.lr='abc' is invalid"),
    (["data.batch_size=0"], "data.batch_size=0 is invalid"),
])
def test_bad_config_is_a_clear_error_naming_the_value(args, message):
    # The same check as above, in-process: the command prints exactly this message.
    with pytest.raises(ConfigError) as error:
        load_settings(composed(*args))
    assert message in str(error.value)


@pytest.mark.slow
def test_unknown_data_group_lists_the_available_ones(tmp_path):
    out = xsearch(f"hydra.run.dir={tmp_path}", "data=imagenet", timeout=120)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "xsearch: config error: data=imagenet is not an option of data: did you mean imagefolder? (valid: cifar10, "
        "cifar100, digits, imagefolder, imagefolder_memory, synthetic)"]


def test_every_package_of_the_source_tree_is_listed_for_the_wheel():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("xsearch", "hydra_plugins")
             for p in (ROOT / top).rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"


@pytest.mark.slow
def test_installed_wheel_runs_from_another_directory(tmp_path):
    # Built from a copy without the checkout's build leftovers: a stale build/lib would be packaged as is.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", "outputs", "multirun", "wandb", "sweeps",
        "lightning_logs", ".venv"))
    site = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                            "--target", str(site), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    assert (site / "xsearch" / "conf" / "model" / "small.yaml").is_file()
    assert not (site / "xsearch" / "settings.py").exists()  # nothing but the tracked tree
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import xsearch; print(xsearch.__file__)"], cwd=elsewhere,
                           env={**os.environ, **env}, capture_output=True, text=True)
    assert where.stdout.startswith(str(site)), where  # the wheel's copy, not the checkout's
    args = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "logger=none",
            f"hydra.run.dir={elsewhere / 'run'}"]
    out = xsearch(*args, cwd=elsewhere, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "xsearch: complete" in out.stdout
    assert json.loads((elsewhere / "run" / "summary.json").read_text())["status"] == "complete"
    assert not (elsewhere / "run" / "metrics.csv").exists()  # logger=none: no logger at all
    script = subprocess.run([str(site / "bin" / "xsearch"), "--cfg", "job", "model=xception"], cwd=elsewhere,
                            env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stderr[-3000:]
    assert "middle_depth: 8" in script.stdout
