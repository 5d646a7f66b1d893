"""Training settings reach the run: knobs reach the network, optimizers and schedules do what they say."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import wandb
import wandb_records
import yaml
from conftest import TINY, composed
from PIL import Image

from xsearch.model import build_model
from xsearch.redact import REDACTED
from xsearch.settings.logger import wandb_mode
from xsearch.settings.optim import OptimSettings
from xsearch.settings.presets import preset
from xsearch.settings.run import load_settings
from xsearch.training.optim import build_optimizer, lr_factor

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = [a for a in TINY if a.startswith("model.")]


def optim(name, **values):
    """The shipped `optim=<name>` with `values` changed."""
    return OptimSettings.from_mapping({**preset("optim", name), **values})


def logged_architecture(run_dir):
    """What the loggers recorded (CSVLogger's hparams.yaml holds the same dict W&B gets)."""
    return yaml.safe_load((run_dir / "hparams.yaml").read_text())["architecture"]


def separable_layers(arch):
    return [row for row in arch["layers"] if row["type"] == "separable"]


def built(*overrides):
    """The network a run with these overrides trains: composed, checked, planned and built as training does."""
    from xsearch.settings.plan import plan
    from xsearch.training.module import SpectrumModule

    settings = load_settings(composed(*overrides))
    return SpectrumModule(plan(settings).spec, settings.optim).net


def separables(net):
    from xsearch.model.layers import SeparableConv2d

    return [m for m in net.modules() if isinstance(m, SeparableConv2d)]


def trainable(net) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def blocks(net):
    from xsearch.model.layers import XceptionBlock

    return [m for m in net.modules() if isinstance(m, XceptionBlock)]


@pytest.mark.parametrize("override,check", [
    ("model.segments=4", lambda n: all(s[0].groups == 4 and s[0].kernel_size == (3, 3) for s in separables(n))),
    ("model.segments=3", lambda n: all(m.out_channels % 3 == 0 for m in n.modules()
                                       if isinstance(m, torch.nn.Conv2d) and m is not n.stem[0])),
    ("model.op_order=pointwise_first", lambda n: all(s[0].kernel_size == (1, 1) and s[-1].kernel_size == (3, 3)
                                                     and s[-1].groups == s[-1].in_channels for s in separables(n))),
    ("model.conv=regular", lambda n: not separables(n)),
    ("model.middle_depth=3", lambda n: len(n.middle) == 3),
    ("model.width=0.25", lambda n: n.fc.in_features == 512),
    ("model.residual=false", lambda n: all(b.shortcut is None for b in blocks(n))),
    # Shortcuts: the 3 entry blocks, the 2 middle ones, the first exit block (the paper's last has none).
    ("model.residual=true", lambda n: sum(b.shortcut is not None for b in blocks(n)) == 3 + 2 + 1),
    ("model.mid_activation=elu", lambda n: all(isinstance(s[1], torch.nn.ELU) and len(s) == 3 for s in separables(n))),
    ("model.mid_activation=none", lambda n: all(len(s) == 2 for s in separables(n))),
    ("model.mid_norm=true", lambda n: all(isinstance(s[1], torch.nn.BatchNorm2d) for s in separables(n))),
    ("model.dropout=0.3", lambda n: n.dropout.p == 0.3),
    ("model.stem_stride=2", lambda n: n.stem[0].stride == (2, 2)),
    ("model.stem_stride=1", lambda n: n.stem[0].stride == (1, 1)),
])
def test_every_model_knob_reaches_the_network(override, check):
    net = built(override)
    assert check(net), net
    assert (net.fc.out_features, net.stem[0].in_channels) == (10, 1)  # from the data: digits


def test_budget_gives_each_spectrum_point_the_xception_parameter_count():
    # Counted on the built modules, not from the plan's own arithmetic.
    reference = trainable(built("model.width=0.25"))
    for segments in (1, 2, 8):
        dense = built(f"model.segments={segments}", "model.budget={metric:params,target:xception}", "model.width=0.25")
        assert abs(trainable(dense) - reference) <= 0.02 * reference
    assert trainable(built("model.segments=1", "model.width=0.25")) > 2 * reference  # unsolved, far bigger


def test_a_run_logs_the_network_it_built(tiny_run, tmp_path):
    summary = tiny_run("model.segments=4")
    arch = logged_architecture(tmp_path)
    assert arch["params"] == trainable(built(*TINY_MODEL, "model.segments=4")) == summary["params"]
    assert all(r["groups"] == 4 for r in separable_layers(arch))


def test_same_seed_repeats_a_cpu_run_exactly(tmp_path):
    from conftest import TINY, train_run

    first = train_run(tmp_path / "a", *TINY, "seed=3")
    second = train_run(tmp_path / "b", *TINY, "seed=3")
    other = train_run(tmp_path / "c", *TINY, "seed=4")
    assert first["final"]["train/loss"] == second["final"]["train/loss"]
    assert first["final"]["val/loss"] == second["final"]["val/loss"]
    assert first["final"]["train/loss"] != other["final"]["train/loss"]


def test_imagefolder_of_generated_pngs_trains(tiny_run, tmp_path):
    root = tmp_path / "images"
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (20, 40, 230)}
    for split, count in (("train", 6), ("val", 2)):
        for name, rgb in colours.items():
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (40 + i, 36), rgb).save(root / split / name / f"{i}.png")
    summary = tiny_run("data=imagefolder", f"data.root={root}", "data.size=32", "data.num_workers=0",
                       "data.batch_size=4", "model.stem_stride=1")
    assert summary["status"] == "complete"
    assert summary["model"]["num_classes"] == 3 and summary["model"]["in_channels"] == 3
    assert summary["input_size"] == [32, 32]
    assert 0 <= summary["final"]["val/acc"] <= 1


def test_csv_logger_writes_metrics_and_no_wandb(tiny_run, tmp_path):
    tiny_run("logger=csv")
    with open(tmp_path / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert {"val/acc", "val/loss", "train/loss_step", "train/lr", "train/epoch_time"} <= set(header)
    assert not (tmp_path / "wandb").exists()


def test_each_epoch_records_how_many_images_its_validation_scored(tiny_run):
    # The n of an accuracy's interval: two validation batches of 16, and the sanity check's batches not counted.
    summary = tiny_run("trainer.max_epochs=2")
    assert [e["val_images"] for e in summary["history"]] == [32, 32]
    assert summary["best"]["val_images"] == 32


def test_ema_validates_with_averaged_weights(tiny_run, tmp_path):
    summary = tiny_run("optim.ema_decay=0.5", "checkpoint=true")
    assert summary["status"] == "complete"
    state = torch.load(summary["checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
    averaged = [k for k in state if k.startswith("ema.module.")]
    assert averaged
    key = next(k for k in averaged if k.endswith("stem.0.weight"))
    assert not torch.equal(state[key], state[key.replace("ema.module.", "net.")])


def test_tensorboard_logger_and_a_configured_callback_join_xsearchs_own(tiny_run, tmp_path):
    summary = tiny_run("logger=[csv,tensorboard]", "callbacks=lr_monitor")
    assert summary["status"] == "complete" and summary["epochs"] == 1  # xsearch's epoch meter still ran
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    with open(tmp_path / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert any(key.startswith("lr-AdamW") for key in header)  # LearningRateMonitor's own column


@pytest.mark.parametrize("monitor,mode", [("val/acc", "max"), ("val/acc5", "max"), ("val/loss", "min")])
def test_a_callback_whose_mode_is_null_takes_the_direction_of_the_metric_it_monitors(monitor, mode):
    from xsearch.training.configured import build_callbacks

    (stopping,) = build_callbacks(load_settings(composed("callbacks=early_stopping", f"monitor={monitor}")).callbacks)
    assert (stopping.monitor, stopping.mode) == (monitor, mode)


@pytest.mark.parametrize("group,name", [(group, path.stem) for group in ("logger", "callbacks")
                                        for path in sorted((ROOT / "conf" / group).glob("*.yaml"))])
def test_every_shipped_logger_and_callback_builds_its_lightning_class(tmp_path, group, name):
    from pytorch_lightning.loggers import Logger

    from xsearch.training.configured import build_callbacks
    from xsearch.training.tracking import build_loggers

    settings = load_settings(composed(f"{group}={name}"))  # [dev] installs what each one needs
    if group == "logger":
        built = build_loggers(settings.logger, tmp_path, name="x")  # a W&B run starts only when training does
        assert len(built) == len(settings.logger.entries) and all(isinstance(lg, Logger) for lg in built)
    else:
        built = build_callbacks(settings.callbacks)
        assert len(built) == len(settings.callbacks) and all(isinstance(c, pl.Callback) for c in built)


def test_failed_run_still_writes_its_summary_and_finishes_wandb(tmp_path):
    from conftest import TINY, train_run

    with pytest.raises(FloatingPointError):
        train_run(tmp_path, *TINY, "logger=wandb", "optim.lr=1e30", "optim.warmup_epochs=0")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "training loss is nan" in summary["error"]
    assert summary["wandb"]["mode"] == "offline"
    assert wandb.run is None  # finished, so the next run in this process starts clean


def test_paper_step_schedule_and_warmup():
    paper = optim("sgd", lr=0.045, schedule="step", decay_rate=0.94, decay_epochs=2)
    assert [lr_factor(paper, e, 10) for e in (0, 1.9, 2, 3.5, 4)] == [1, 1, 0.94, 0.94, 0.94**2]
    cosine = optim("adamw", schedule="cosine", warmup_epochs=1, min_lr_ratio=0.1)
    assert lr_factor(cosine, 0.5, 11) == pytest.approx(0.5, abs=1e-2)
    assert lr_factor(cosine, 1, 11) == pytest.approx(1)
    assert lr_factor(cosine, 11, 11) == pytest.approx(0.1)
    assert lr_factor(optim("adamw", schedule="constant"), 7, 10) == 1


@pytest.mark.parametrize("name,kind", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW),
                                       ("rmsprop", torch.optim.RMSprop)])
def test_weight_decay_falls_on_conv_and_linear_weights_only(name, kind):
    model = build_model(width=0.1, middle_depth=0, num_classes=10)
    optimizer = build_optimizer(optim(name, weight_decay=1e-4), model)
    assert isinstance(optimizer, kind)
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    weights = {id(m.weight) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    assert decayed == weights
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))


def test_secrets_never_reach_a_logged_config(tiny_run, tmp_path):
    # A storage URL whose password came from the environment (the command line refuses a literal one) and a
    # secret-named value: the run's config file, the CSV logger's hparams.yaml and the W&B run hold them masked.
    url = "postgresql://alice:hunter2@db.example:5432/optuna"
    tiny_run("logger=[csv,wandb]", f"+sweep.storage='{url}'", "+sweep.api_key=abc123", "+sweep.project=xsearch")
    written = {path: path.read_text() for path in (tmp_path / "config.yaml", *tmp_path.rglob("hparams.yaml"))}
    logged = wandb_records.config(wandb_records.offline_run(tmp_path))
    assert len(written) == 2 and (logged["sweep"]["api_key"], logged["sweep"]["project"]) == (REDACTED, "xsearch")
    for text in [*written.values(), json.dumps(logged)]:
        assert "hunter2" not in text and "abc123" not in text
        assert f"postgresql://alice:{REDACTED}@db.example:5432/optuna" in text


def _auto_mode(env: dict, home) -> str:
    """wandb_mode("auto") in a fresh process (W&B keeps credentials it found for the life of a process), which
    must also exit: with a key found, wandb.login's call home held a machine without internet at exit."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "NETRC"))}
    code = "from xsearch.settings.logger import wandb_mode; print(wandb_mode('auto'))"
    out = subprocess.run([sys.executable, "-c", code], env={**clean, "HOME": str(home), **env}, capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.strip()


@pytest.mark.slow
def test_wandb_auto_mode_follows_wandbs_own_credential_lookup(tmp_path, monkeypatch):
    assert _auto_mode({}, tmp_path) == "offline"  # no key, no ~/.netrc
    netrc = tmp_path / "elsewhere.netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "y" * 40 + "\n")
    netrc.chmod(0o600)
    assert _auto_mode({"NETRC": str(netrc)}, tmp_path) == "online"  # $NETRC, which a partial copy would miss
    assert _auto_mode({"WANDB_API_KEY": "z" * 40}, tmp_path) == "online"
    assert not (tmp_path / ".config").exists()  # the lookup wrote no settings (wandb.login would)
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the environment wins before any lookup
    assert wandb_mode("auto") == "disabled"
    assert wandb_mode("offline") == "offline" and wandb_mode("online") == "online"
