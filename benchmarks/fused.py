"""Seeds trained as one fused network against the same trials trained one after another: training images/s of
K = 1, 2, 4, 8, 16 fused copies, and of K lone trials run in turn (the reference), measured in the same run.

Both sides run the same step (xsearch/training/fused/run.py's, and the lone module's by hand: forward, loss,
backward, optimizer, schedule) on the same batches of the default CIFAR-sized network (`model=small`, 0.72M
parameters at 32x32), with the run's own precision, memory layout and compile settings, after warm-up steps that
are not timed. A lone trial is timed for --steps steps once and counted K times (the K trials are alike);
the fused group is timed for --steps steps of all K.

    python benchmarks/fused.py                                  # CPU: K = 1, 2, 4, 8 at batch 64
    python benchmarks/fused.py --copies 1 2 4 8 16 --steps 100  # a GPU
    python benchmarks/fused.py trainer=gpu channels_last=true compile=true   # any run override after the flags
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import xsearch.app  # noqa: F401  (registers model=xception, as `python -m xsearch` does)
from xsearch.contract import config_dir
from xsearch.settings.plan import plan
from xsearch.settings.run import load_settings
from xsearch.training.fused.run import FusedRun, Member
from xsearch.training.layout import in_layout
from xsearch.training.module import SpectrumModule
from xsearch.training.optim import build_optimizer, build_scheduler

BASE = ["data=synthetic", "data.size=32", "data.channels=3", "data.num_classes=10", "data.train_samples=4096",
        "data.val_samples=64", "data.test_samples=64", "logger=none"]


def composed(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fused_rate(configs: list[dict], steps: int, warmup: int) -> tuple[float, torch.device]:
    with tempfile.TemporaryDirectory() as tmp:
        members = [Member(load_settings(c), c, Path(tmp) / str(i)) for i, c in enumerate(configs)]
        run = FusedRun(members, plan(members[0].settings))
        for loader in run.loaders:
            loader.sampler.set_epoch(0)
        batches = zip(*run.loaders)
        for step in range(warmup):
            run.step(0, step, next(batches))
        sync(run.device)
        started = time.perf_counter()
        for step in range(steps):
            run.step(0, warmup + step, next(batches))
        sync(run.device)
        seconds = time.perf_counter() - started
    return steps * run.settings.data.batch_size * len(configs) / seconds, run.device


def lone_rate(config: dict, steps: int, warmup: int) -> float:
    settings = load_settings(config)
    planned = plan(settings)
    device = torch.device("cuda" if settings.on_gpu() and torch.cuda.is_available() else "cpu")
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    module = SpectrumModule(planned.spec, settings.optim, channels_last=settings.use_channels_last(),
                            compile=settings.compile).to(device)
    optimizer = build_optimizer(settings.optim, module.net)
    scheduler = build_scheduler(settings.optim, optimizer, steps_per_epoch=steps + warmup, total_epochs=1)
    from xsearch.data import build_datamodule

    datamodule = build_datamodule(settings.data, seed=settings.seed)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(0)
    batches = iter(loader)
    precision = str(settings.trainer_kwargs()["precision"])
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision.startswith("bf16")
                else torch.autocast(device.type, enabled=False))

    def step() -> None:
        images, labels = next(batches)
        images, labels = images.to(device), labels.to(device)
        with autocast:
            loss = module.loss(module(in_layout(images, module.memory_format)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()

    for _ in range(warmup):
        step()
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * settings.data.batch_size / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--steps", type=int, default=30, help="timed steps of each side")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("overrides", nargs="*", help="run overrides, e.g. trainer=gpu data.batch_size=256")
    args = parser.parse_args(argv)
    overrides = [*BASE, *args.overrides]
    lone = lone_rate(composed([*overrides, "seed=0"]), args.steps, args.warmup)
    device = "cuda" if torch.cuda.is_available() and "trainer=gpu" in overrides else "cpu"
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    print(f"device {name}; threads {torch.get_num_threads()}; overrides {' '.join(args.overrides) or '(none)'}; "
          f"{args.steps} timed steps after {args.warmup}")
    print(f"lone trial: {lone:.0f} images/s (K lone trials one after another: the same rate, K times as long)")
    print(f"{'K':>3} {'fused images/s':>15} {'lone images/s':>14} {'ratio':>6}")
    for copies in args.copies:
        fused, _ = fused_rate([composed([*overrides, f"seed={seed}"]) for seed in range(copies)], args.steps,
                              args.warmup)
        print(f"{copies:>3} {fused:>15.0f} {lone:>14.0f} {fused / lone:>6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
