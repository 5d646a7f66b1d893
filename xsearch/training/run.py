"""Train one variant: settings in, summary out (and into the run directory)."""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from xsearch import contract
from xsearch.data import build_datamodule
from xsearch.model import XceptionConfig
from xsearch.process import signals
from xsearch.process.beacon import Beacon
from xsearch.redact import redact
from xsearch.schema import ConfigError
from xsearch.settings.plan import Plan, plan, too_big
from xsearch.settings.run import PLAN, RunSettings
from xsearch.training import preemption, quiet
from xsearch.training.callbacks import EpochMeter
from xsearch.training.configured import build_callbacks
from xsearch.training.module import SpectrumModule
from xsearch.training.scoring import ChooseAndScore
from xsearch.training.summary import summary_of
from xsearch.training.tracking import (
    RememberRun,
    build_loggers,
    finish_wandb,
    resumed_run_id,
    summarize_best,
    wandb_logger,
    wandb_run_info,
)

quiet.install()


def run_name(cfg: XceptionConfig) -> str:
    if cfg.conv == "regular":
        point = "regular"
    else:
        point = f"{cfg.segments}-{cfg.op_order.split('_')[0]}"
    return f"{point}-w{cfg.width:.3g}-d{cfg.middle_depth}"


def _device(trainer: pl.Trainer) -> str:
    device = trainer.strategy.root_device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return f"{name} x{trainer.world_size}" if trainer.world_size > 1 else name


def check_fits_gpu(planned: Plan, settings: RunSettings) -> None:
    """The plan's check that the network's training state fits, against the GPU's memory where it trains there."""
    if settings.on_gpu() and torch.cuda.is_available():
        have = torch.cuda.get_device_properties(0).total_memory
        if planned.params * 16 > have:
            raise ConfigError(too_big(planned.params, planned.model.width, have,
                                      f"{torch.cuda.get_device_name(0)} memory"))


def datamodule_for(settings: RunSettings, planned: Plan) -> pl.LightningDataModule:
    """The run's datamodule, which must give the batches its plan was made for."""
    datamodule = build_datamodule(settings.data, seed=settings.seed)
    built = (datamodule.num_classes, datamodule.channels, datamodule.size)
    if built != (planned.data.num_classes, planned.data.channels, planned.data.size):
        raise ConfigError(f"data: the plan expected {planned.data.num_classes} classes, {planned.data.channels} "
                          f"channels at {planned.data.size}x{planned.data.size}, the data gives {built[0]}, "
                          f"{built[1]} at {built[2]}x{built[2]}: the data changed since the plan; plan again")
    return datamodule


def train(settings: RunSettings, config: dict[str, Any], run_dir: Path, *, planned: Plan | None = None,
          callbacks: Sequence[pl.Callback] = (), progress_file: Path | None = None) -> dict[str, Any]:
    """Fit the configured variant; write summary.json, the resolved config and the loggers' files into `run_dir`.

    `callbacks` join xsearch's own; one that stops the run for a reason of its own (a sweep's pruner) names
    the status the summary records in its `stopped_as`. With `progress_file`, the run rewrites it after every
    batch (a sweep's watchdog reads it).
    """
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    planned = planned or plan(settings)
    check_fits_gpu(planned, settings)
    datamodule = datamodule_for(settings, planned)
    model_cfg, architecture = planned.model, planned.architecture
    (run_dir / "config.yaml").write_text(json.dumps(redact(config), indent=2))  # JSON is valid YAML

    module = SpectrumModule(planned.spec, settings.optim, channels_last=settings.use_channels_last(),
                            compile=settings.compile)
    trainer_kwargs = settings.trainer_kwargs()
    loggers = build_loggers(settings.logger, run_dir, name=run_name(model_cfg),
                            resumed_id=resumed_run_id(settings.logger, settings.resume))
    meter = EpochMeter(print_lines=not trainer_kwargs["enable_progress_bar"])
    beacon = Beacon(progress_file)
    stopper, *resuming = preemption.callbacks(run_dir)
    scorer = ChooseAndScore(run_dir, monitor=settings.monitor, mode=settings.mode, beat=beacon.beat)
    # xsearch's own callbacks first, always; then the caller's (a sweep's pruning) and the callbacks group's.
    everything: list[pl.Callback] = [meter, beacon, stopper, *resuming, scorer, *callbacks,
                                     *build_callbacks(settings.callbacks)]
    tracker = wandb_logger(loggers)
    if tracker is not None:
        everything.append(RememberRun(tracker))
    if settings.checkpoint:
        everything.append(ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=settings.monitor,
                                          mode=settings.mode, save_top_k=1))
    checkpointing = any(isinstance(c, ModelCheckpoint) for c in everything)  # also one from the callbacks group
    trainer = pl.Trainer(**trainer_kwargs, logger=loggers or False, callbacks=everything,
                         default_root_dir=str(run_dir), enable_checkpointing=checkpointing)

    tracked = tracker is not None and trainer.is_global_zero

    def write_summary(status: str, reason: str | None) -> dict[str, Any]:
        summary = summary_of(settings, meter.epochs, architecture, device=_device(trainer),
                             precision=str(trainer.precision), started=started, status=status, reason=reason)
        summary.update(test=scorer.result, splits=_splits(datamodule),
                       wandb=wandb_run_info() if tracked else None, run_dir=str(run_dir),
                       resumed_from=settings.resume, first_step_at=meter.first_step_at,
                       interrupted_checkpoint=str(stopper.saved) if stopper.saved else None,
                       longest_silence_s=beacon.longest_silence)
        if settings.checkpoint and trainer.checkpoint_callback is not None:
            summary["checkpoint"] = trainer.checkpoint_callback.best_model_path or None
        if trainer.is_global_zero:
            (run_dir / contract.SUMMARY).write_text(json.dumps(summary, indent=2))
        return summary

    error: BaseException | None = None
    # SIGTERM (a sweep stopping, a scheduler's warning) ends the run like any other error, so the summary and the
    # W&B run are finished; inside fit, at a batch boundary and with a checkpoint to resume from. A run stuck in a
    # kernel never reaches that boundary: the deadline ends it, with a summary that says so.
    in_main_thread = threading.current_thread() is threading.main_thread()
    restore_signals = signals.install() if in_main_thread else None
    deadline = signals.StopDeadline(
        moved=lambda: beacon.beats, slowest_step=lambda: beacon.longest_silence,
        on_stuck=lambda reason: write_summary(contract.State.STALLED, f"{reason}, {beacon.position.describe()}"),
    ) if in_main_thread else None
    try:
        if tracked:
            summarize_best(tracker, settings.monitor, settings.mode)
        logged = {k: v for k, v in config.items() if k != PLAN}  # the plan is logged as the architecture
        for lg in loggers:
            lg.log_hyperparams(redact({**logged, "architecture": architecture}))
        trainer.fit(module, datamodule=datamodule, ckpt_path=settings.resume)
    except BaseException as exc:  # also KeyboardInterrupt: the summary and W&B still say what happened
        error = exc
    finally:
        if deadline is not None:
            deadline.close()
        if restore_signals is not None:
            restore_signals()
        beacon.close()

    stopped_as = next((c.stopped_as for c in callbacks if getattr(c, "stopped_as", None)), None)
    status, reason = _status(error, stopped_as), _reason(error)
    # The summary first: it is the run's result, and finishing W&B may wait on the network.
    summary = write_summary(status, reason)
    if tracked:
        finish_wandb(status=status, reason=reason)
    if error is not None:
        raise error
    return summary


def _splits(datamodule: pl.LightningDataModule) -> dict[str, Any] | None:
    """What the run trained, chose and scored on, once its data is loaded (None if it failed before)."""
    try:
        return datamodule.split_record.as_dict()
    except RuntimeError:
        return None


def _status(error: BaseException | None, stopped_as: str | None) -> str:
    if isinstance(error, (SIGTERMException, signals.Interrupted)):
        return contract.State.INTERRUPTED  # asked to stop from outside: not the trial's fault, and resumable
    if error is not None:
        return contract.State.FAILED
    return stopped_as or contract.State.COMPLETE


def _reason(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, SIGTERMException):  # Lightning's, raised at the batch boundary after a SIGTERM/SIGUSR2
        return "stopped by a signal at a batch boundary"
    return "".join(traceback.format_exception_only(error)).strip() or type(error).__name__


def summary_line(summary: dict[str, Any]) -> str:
    monitor = summary["monitor"]
    best = summary["best"]
    head = f"xsearch: {summary['status']}"
    if best:
        head += (f" | {monitor} {summary['final'][monitor]:.4f} (best {best[monitor]:.4f} at epoch "
                 f"{int(best['epoch']) + 1})")
    test = summary.get("test")
    if test:
        head += f" | {contract.TEST_ACCURACY} {test['acc']:.4f} ({test['images']} images, epoch {test['epoch'] + 1})"
    h, w = summary["input_size"]
    rate = f", {summary['images_per_s']:.0f} img/s" if summary["images_per_s"] else ""
    epochs = f"{summary['epochs']} epoch{'' if summary['epochs'] == 1 else 's'}"
    return (f"{head} | {summary['params'] / 1e6:.2f}M params, {summary['flops'] / 1e6:.1f}M MACs at {h}x{w} | "
            f"{epochs} in {summary['wall_time_s']:.1f} s{rate} on {summary['device']} | {summary['run_dir']}")
