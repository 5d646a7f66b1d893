"""What a run's summary.json says of it: how it ended, every epoch, its best, its cost, its speed. One writer for a
lone run (xsearch/training/run.py) and a fused group's copies (xsearch/training/fused/run.py), so a report cannot
tell them apart but by the `fused` record."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import torch

from xsearch.settings.run import RunSettings


def summary_of(settings: RunSettings, epochs: list[dict[str, float]], architecture: dict[str, Any], *, device: str,
               precision: str, started: float, status: str, reason: str | None) -> dict[str, Any]:
    # The same rule as the epoch ChooseAndScore keeps: finite values only, the first of equals.
    monitored = [e for e in epochs if math.isfinite(e.get(settings.monitor, math.nan))]
    pick = max if settings.mode == "max" else min
    best = pick(monitored, key=lambda e: e[settings.monitor]) if monitored else None
    rates = [e["train/images_per_s"] for e in epochs]
    steady = rates[1:] or rates  # the first epoch pays for warm-up
    return {
        "status": str(status),
        "error": reason,
        "monitor": settings.monitor,
        "mode": settings.mode,
        "objective": best[settings.monitor] if best else None,
        "final": epochs[-1] if epochs else None,
        "best": best,
        "epochs": len(epochs),
        "history": epochs,  # one record per epoch: train/loss, val/* and timing
        "params": architecture["params"],
        "flops": architecture["flops"],
        "input_size": architecture["input_size"],
        "model": architecture["knobs"],
        "not_applicable": architecture["not_applicable"],
        "width_solution": architecture["width_solution"],
        "wall_time_s": time.perf_counter() - started,
        "train_time_s": sum(e["train/epoch_time"] for e in epochs),
        "images_per_s": statistics.fmean(steady) if steady else None,
        "device": device,
        "precision": precision,
        "threads": torch.get_num_threads(),  # the CPU threads it trained on (xsearch/process/cpus.py)
        "seed": settings.seed,
    }
