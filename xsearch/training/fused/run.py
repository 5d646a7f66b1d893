"""K trials of one design point, differing only in their seeds, trained as one fused network in one process.

Every trial stays a trial. Each copy is built and initialized by its lone trial's own code from its own seed,
draws its own batch order and shift/flip from its own generators (xsearch/data/memory.py's, as its lone trial
does) and its dropout from its own stream; its loss and gradient are its own. It chooses its own epoch on the
validation images, is scored on the test images as a lone network (its weights taken out of the fused one), and
writes its own summary.json (with a `fused` record), outcomes.npz and logger runs. A copy whose loss turns
non-finite fails alone; a pruner prunes a copy alone. The step is the one Lightning's loop takes for a lone trial
(xsearch/training/module.py): the same optimizer, schedule, label smoothing and weight average, over the sum of
the copies' losses, whose parameters no other copy reads.

A stop signal ends every copy as interrupted, without a checkpoint: each trial is queued again and restarts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from xsearch import contract
from xsearch.data import build_datamodule
from xsearch.data.memory import EpochOrder, InMemoryLoader
from xsearch.model.network import Xception
from xsearch.outcomes import Outcomes
from xsearch.process import signals
from xsearch.process.progress import Position, record
from xsearch.redact import redact
from xsearch.schema import ConfigError
from xsearch.settings.plan import Plan
from xsearch.settings.run import PLAN, RunSettings
from xsearch.training.callbacks import EpochMeter
from xsearch.training.fused.network import Streams, fuse, fused_input, unfuse
from xsearch.training.layout import in_layout
from xsearch.training.optim import build_optimizer, build_scheduler
from xsearch.training.scoring import FINAL
from xsearch.training.summary import summary_of
from xsearch.training.tracking import build_loggers, finish_wandb, wandb_logger, wandb_run_info


@dataclasses.dataclass
class Member:
    """One trial of the group: its settings, config and folder, and what it has come to."""

    settings: RunSettings
    config: dict[str, Any]
    run_dir: Path
    report: Callable[[float, int], bool] | None = None  # (value, epochs trained) -> prune? A sweep's pruner
    progress: Path | None = None  # its progress file, for its sweep's watchdog
    epochs: list[dict[str, float]] = dataclasses.field(default_factory=list)
    status: str | None = None  # set where it ends early (failed, pruned, interrupted)
    reason: str | None = None
    best_value: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    loss_sum: float = 0.0
    batches: int = 0

    @property
    def live(self) -> bool:
        return self.status is None


def check_group(members: Sequence[Member]) -> None:
    """The members must differ in their seeds (and where they log) alone, and be trainable together."""
    def point(m: Member) -> dict[str, Any]:
        return {k: v for k, v in m.config.items() if k not in ("seed", "logger", "resume", PLAN)}

    for m in members[1:]:
        if point(m) != point(members[0]):
            raise ConfigError(f"fused trials must differ only in their seeds: {members[0].run_dir} and {m.run_dir}")
    settings = members[0].settings
    if any(m.settings.resume for m in members):
        raise ConfigError("a fused group cannot resume from a checkpoint: a resumed trial runs alone")
    if settings.trainer.kwargs().get("gradient_clip_val") is not None:
        raise ConfigError("fused trials need trainer.gradient_clip_val=null: clipping the fused gradient's norm "
                          "would mix the copies")
    if settings.data.name == "imagefolder":
        raise ConfigError("data=imagefolder streams from disk: fusing needs a dataset held in memory")
    if settings.trainer.kwargs().get("devices", 1) not in (1, "1", "auto", [0]):
        raise ConfigError("fused trials train on one device: trainer.devices=1")


def _autocast(settings: RunSettings, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    precision = str(settings.trainer_kwargs()["precision"])
    if precision.startswith("bf16"):
        return functools.partial(torch.autocast, device.type, dtype=torch.bfloat16)
    if precision.startswith("16"):
        return functools.partial(torch.autocast, device.type, dtype=torch.float16)
    return contextlib.nullcontext


class FusedRun:
    """The group's one network, optimizer and data, and each member's own record."""

    def __init__(self, members: Sequence[Member], planned: Plan) -> None:
        check_group(members)
        self.members, self.planned = list(members), planned
        self.settings = settings = members[0].settings
        self.device = torch.device("cuda" if settings.on_gpu() and torch.cuda.is_available() else "cpu")
        # Each copy exactly as its lone trial builds it: seeded, then the network (xsearch/training/run.py's order).
        lones, states = [], []
        for m in members:
            pl.seed_everything(m.settings.seed, workers=True, verbose=False)
            lones.append(Xception(planned.spec))
            states.append(torch.cuda.get_rng_state(self.device) if self.device.type == "cuda"
                          else torch.get_rng_state())
        self.template = lones[0]
        self.net = fuse(lones).to(self.device)
        streams = Streams(states, self.device)
        for module in self.net.modules():
            if hasattr(module, "streams"):
                module.streams = streams
        self.memory_format = torch.channels_last if settings.use_channels_last() else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        self.forward = torch.compile(self.net) if settings.compile else self.net
        self.ema = None
        if settings.optim.ema_decay is not None:
            self.ema = AveragedModel(self.net, multi_avg_fn=get_ema_multi_avg_fn(settings.optim.ema_decay),
                                     use_buffers=True)
            self.ema.requires_grad_(False)
        self.loss = nn.CrossEntropyLoss(label_smoothing=settings.optim.label_smoothing)
        self.autocast = _autocast(settings, self.device)
        self._data()
        trainer = settings.trainer.kwargs()
        self.max_epochs = trainer.get("max_epochs") or 1
        self.optimizer = build_optimizer(settings.optim, self.net)
        self.scheduler = build_scheduler(settings.optim, self.optimizer, steps_per_epoch=self.steps,
                                         total_epochs=self.max_epochs)
        self.progress = [os.open(m.progress, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                         for m in members if m.progress is not None]
        self.beats = 0

    def _data(self) -> None:
        datamodule = build_datamodule(self.settings.data, seed=self.settings.seed)
        datamodule.prepare_data()
        datamodule.setup("fit")
        if self.settings.data.on_device:  # uint8 on the device: nothing goes through the host per step
            datamodule.splits = datamodule.splits.to(self.device)
        self.datamodule, splits = datamodule, datamodule.splits
        # Each copy's own order and augmentation: the generators its lone trial's loader draws from.
        self.loaders = [InMemoryLoader(images=splits.train_images, labels=splits.train_labels,
                                       batch_size=self.settings.data.batch_size,
                                       order=EpochOrder(len(splits.train_images), shuffle=True, seed=m.settings.seed),
                                       drop_last=True, prepare=functools.partial(datamodule.recipe, train=True))
                        for m in self.members]
        steps = len(self.loaders[0])
        limit = self.settings.trainer.kwargs().get("limit_train_batches")
        if isinstance(limit, int) and not isinstance(limit, bool):
            steps = min(steps, limit)
        elif isinstance(limit, float):
            steps = min(steps, max(1, int(steps * limit))) if limit <= 1 else min(steps, int(limit))
        self.steps = steps

    def beat(self, position: Position) -> None:
        """Proof of life in every member's progress file, as a lone trial's beacon writes it."""
        self.beats += 1
        line = record(position, self.beats)
        for fd in self.progress:
            os.pwrite(fd, line, 0)

    def step(self, epoch: int, step: int, pairs) -> None:
        pairs = [(images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True))
                 for images, labels in pairs]
        x = in_layout(fused_input([images for images, _ in pairs]), self.memory_format)
        with self.autocast():
            logits = self.forward(x)  # [B, K, classes]
        total = None
        for k, (m, (_, labels)) in enumerate(zip(self.members, pairs)):
            if not m.live:
                continue
            with self.autocast():
                loss = self.loss(logits[:, k], labels)
            value = loss.detach()
            if not torch.isfinite(value):  # as the lone module's check raises, for this copy alone
                m.status = contract.State.FAILED
                m.reason = (f"FloatingPointError: training loss is {value.item()} at epoch {epoch}, step "
                            f"{epoch * self.steps + step}")
                continue
            m.loss_sum += float(value)
            m.batches += 1
            total = loss if total is None else total + loss
        if total is None:
            return
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.net)

    def evaluated(self) -> nn.Module:
        """The network validation and scoring see: the averaged weights where there are any."""
        return self.ema.module if self.ema is not None else self.forward

    def validate(self, epoch: int, seconds: float) -> None:
        """Every live copy on the validation images (all copies see the same): its metrics, its chosen epoch, its
        pruner's word."""
        splits, copies = self.datamodule.splits, len(self.members)
        loader = self.datamodule.val_dataloader()
        losses, correct, correct5, count = [0.0] * copies, [0] * copies, [0] * copies, 0
        net = self.evaluated()
        net.eval()
        with torch.inference_mode(), self.autocast():
            for batch, (images, labels) in enumerate(loader, 1):
                images, labels = images.to(self.device), labels.to(self.device)
                logits = net(in_layout(fused_input([images] * copies), self.memory_format)).float()
                top = logits.topk(min(5, logits.shape[-1]), dim=2).indices  # [B, K, 5]
                for k in range(copies):
                    losses[k] += float(self.loss(logits[:, k], labels)) * len(labels)
                    correct[k] += int((top[:, k, 0] == labels).sum())
                    correct5[k] += int((top[:, k] == labels[:, None]).any(dim=1).sum())
                count += len(labels)
                self.beat(Position("validating", epoch + 1, batch))
        self.net.train()
        for k, m in enumerate(self.members):
            if not m.live:
                continue
            metrics = {"val/loss": losses[k] / count, "val/acc": correct[k] / count}
            if logits.shape[-1] >= 10:  # top-5 only means something with well over 5 classes
                metrics["val/acc5"] = correct5[k] / count
            m.epochs.append({**metrics, "epoch": epoch, "train/loss": m.loss_sum / max(m.batches, 1),
                             "train/epoch_time": seconds,
                             "train/images_per_s": self.steps * self.settings.data.batch_size / seconds,
                             "val_images": count})
            value = metrics[m.settings.monitor]
            better = (lambda new, old: new > old) if m.settings.mode == "max" else (lambda new, old: new < old)
            if not splits.record.shared and math.isfinite(value) and (m.best_value is None
                                                                      or better(value, m.best_value)):
                m.best_value, m.best_epoch = value, epoch
                m.best_state = {key: v.detach().to("cpu", copy=True)
                                for key, v in unfuse(net, self.template, k).state_dict().items()}
            # A copy that has trained its whole budget completes: pruning it then would throw its result away.
            if m.report is not None and m.report(value, epoch + 1) and epoch + 1 < self.max_epochs:
                m.status = contract.State.PRUNED

    def score(self, m: Member, k: int) -> dict[str, Any]:
        """Its chosen epoch's weights (its last, where val also scores) on the scoring images, as a lone network."""
        lone = Xception(self.planned.spec)
        lone.load_state_dict(m.best_state if m.best_state is not None
                             else unfuse(self.evaluated(), self.template, k).state_dict())
        lone.to(self.device, memory_format=self.memory_format).eval()
        predicted, labels = [], []
        with torch.inference_mode(), self.autocast():
            for batch, (images, targets) in enumerate(self.datamodule.scoring_dataloader(), 1):
                images = images.to(self.device)
                predicted.append(lone(in_layout(images, self.memory_format)).argmax(dim=1).cpu())
                labels.append(targets.cpu())
                self.beat(Position("scoring", len(m.epochs), batch))
        record_ = self.datamodule.split_record
        predicted_, labels_ = torch.cat(predicted).numpy(), torch.cat(labels).numpy()
        outcomes = Outcomes(record_.image_set, predicted_ == labels_, predicted_)
        outcomes.save(m.run_dir / contract.OUTCOMES)
        chosen = m.best_state is not None
        return {"acc": outcomes.accuracy, "correct": int(outcomes.correct.sum()), "images": outcomes.images,
                "epoch": m.best_epoch if chosen else len(m.epochs) - 1,
                "chosen_by": f"best {m.settings.monitor}" if chosen else FINAL, "image_set": record_.image_set,
                "split": record_.test_from, "shares_choosing_images": record_.shared, "outcomes": contract.OUTCOMES}


def train_fused(members: Sequence[Member], planned: Plan) -> list[dict[str, Any]]:
    """Train the members together; write each one's summary.json, outcomes.npz and logger files. Returns the
    summaries, in the members' order."""
    started = time.perf_counter()
    run = FusedRun(members, planned)
    loggers = []
    for m in members:
        m.run_dir.mkdir(parents=True, exist_ok=True)
        (m.run_dir / "config.yaml").write_text(json.dumps(redact(m.config), indent=2))
        its = build_loggers(m.settings.logger, m.run_dir, name=f"fused-seed{m.settings.seed}", several=True)
        logged = {k: v for k, v in m.config.items() if k != PLAN}
        for lg in its:
            lg.log_hyperparams(redact({**logged, "architecture": planned.architecture}))
        loggers.append(its)
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    deadline = signals.StopDeadline(moved=lambda: run.beats, slowest_step=lambda: 0.0,
                                    on_stuck=lambda reason: None)
    try:
        for epoch in range(run.max_epochs):
            if not any(m.live for m in members):
                break
            for loader in run.loaders:
                loader.sampler.set_epoch(epoch)
            for m in members:
                m.loss_sum, m.batches = 0.0, 0
            started_epoch = time.perf_counter()
            for step, pairs in zip(range(run.steps), zip(*run.loaders)):
                if stopping.is_set():
                    raise signals.Interrupted("stopped by SIGTERM")
                run.step(epoch, step, pairs)
                run.beat(Position("training", epoch + 1, epoch * run.steps + step + 1))
            seconds = time.perf_counter() - started_epoch
            run.validate(epoch, seconds)
            for m, its in zip(members, loggers):
                if m.epochs and m.epochs[-1]["epoch"] == epoch:
                    print(f"seed {m.settings.seed}: {EpochMeter.line(m.epochs[-1], run.max_epochs)}", flush=True)
                    for lg in its:
                        lg.log_metrics({k: v for k, v in m.epochs[-1].items() if "/" in k},
                                       step=(epoch + 1) * run.steps)
    except signals.Interrupted as error:
        for m in members:
            if m.live:
                m.status, m.reason = contract.State.INTERRUPTED, str(error)
    finally:
        deadline.close()
        signal.signal(signal.SIGTERM, previous)
    device = "cpu" if run.device.type == "cpu" else torch.cuda.get_device_name(run.device)
    summaries = []
    for k, (m, its) in enumerate(zip(members, loggers)):
        status = m.status or contract.State.COMPLETE
        test = run.score(m, k) if status in (contract.State.COMPLETE, contract.State.PRUNED) else None
        tracker = wandb_logger(its)
        if test is not None:
            for lg in its:
                lg.log_metrics({contract.TEST_ACCURACY: test["acc"]}, step=len(m.epochs) * run.steps)
        summary = summary_of(m.settings, m.epochs, planned.architecture, device=device,
                             precision=str(m.settings.trainer_kwargs()["precision"]), started=started,
                             status=status, reason=m.reason)
        summary.update(test=test, splits=run.datamodule.split_record.as_dict(), run_dir=str(m.run_dir),
                       resumed_from=None, first_step_at=None, interrupted_checkpoint=None, longest_silence_s=None,
                       wandb=wandb_run_info(tracker.experiment) if tracker is not None else None,
                       fused={"copies": len(members), "index": k,
                              "trials": [str(other.run_dir) for other in members]})
        (m.run_dir / contract.SUMMARY).write_text(json.dumps(summary, indent=2))
        for lg in its:
            if lg is not tracker:
                lg.finalize("success")
        if tracker is not None:
            finish_wandb(status=status, reason=m.reason, run=tracker.experiment)
        summaries.append(summary)
    return summaries
