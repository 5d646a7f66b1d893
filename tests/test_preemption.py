"""A run told to stop by a scheduler saves a checkpoint, and a run resumed from it ends exactly where an
uninterrupted run ends: same weights, same metrics, epoch by epoch."""

import json
import os
import signal
import time

import pytest
import pytorch_lightning as pl
import wandb_records
from conftest import TINY, train_run
from pytorch_lightning.utilities.exceptions import SIGTERMException

from xsearch import contract
from xsearch.outcomes import Outcomes
from xsearch.schema import ConfigError

RUN = [*TINY, "trainer.max_epochs=3", "trainer.limit_train_batches=5", "data.augment=true"]


class SignalAt(pl.Callback):
    """Sends a real signal to this process after one given training batch, as SLURM would at any moment."""

    def __init__(self, signum: int, epoch: int, batch: int) -> None:
        self.signum, self.epoch, self.batch = signum, epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            os.kill(os.getpid(), self.signum)


def interrupted_run(tmp_path, signum, epoch, batch, *overrides):
    with pytest.raises(SIGTERMException):
        train_run(tmp_path, *RUN, *overrides, callbacks=[SignalAt(signum, epoch, batch)])
    return json.loads((tmp_path / "summary.json").read_text())


@pytest.mark.parametrize("signum, batch", [(signal.SIGUSR2, 2), (signal.SIGTERM, 2), (signal.SIGTERM, 3),
                                           (signal.SIGTERM, 4)],
                         ids=["SIGUSR2 mid-epoch", "SIGTERM mid-epoch", "SIGTERM one batch before the epoch's end",
                              "SIGTERM at the epoch's last batch"])
def test_resumed_run_matches_an_uninterrupted_one_exactly(tmp_path, signum, batch):
    whole = train_run(tmp_path / "whole", *RUN)
    stopped = interrupted_run(tmp_path / "stopped", signum, epoch=1, batch=batch)
    assert stopped["status"] == "interrupted"
    checkpoint = stopped["interrupted_checkpoint"]
    assert checkpoint == str(tmp_path / "stopped" / contract.CHECKPOINT) and os.path.isfile(checkpoint)
    # Inside the second epoch; a stop at its last batch lets that epoch's validation finish and stops after it
    # (a checkpoint in the middle of a validation would resume the epoch unvalidated).
    assert stopped["epochs"] == (2 if batch == 4 else 1)

    resumed = train_run(tmp_path / "resumed", *RUN, f"resume={checkpoint}")
    assert resumed["status"] == "complete" and resumed["resumed_from"] == checkpoint
    keys = ("val/loss", "val/acc", "train/loss")
    assert [[e[k] for k in keys] for e in resumed["history"]] == [[e[k] for k in keys]
                                                                         for e in whole["history"]]
    # The epoch validation chose may be one trained before the stop: its weights travel in the checkpoint, and the
    # resumed run scores exactly what the uninterrupted one scored.
    assert resumed["test"] == whole["test"]
    scored = [Outcomes.load(tmp_path / run / contract.OUTCOMES) for run in ("whole", "resumed")]
    assert (scored[0].predicted == scored[1].predicted).all()
    assert not (tmp_path / "stopped" / contract.OUTCOMES).exists()  # a stopped run scores nothing


def test_a_stop_after_the_last_epoch_has_trained_lets_the_run_score_and_complete(tmp_path):
    # A checkpoint there would hold a finished fit: Lightning skips the fit loop of a run resumed from it, and the
    # scoring with it, so the trial completed without its test outcomes (seen in the CIFAR study). Only the
    # scoring is left, so the run does it and completes.
    whole = train_run(tmp_path / "whole", *RUN)
    stopped = train_run(tmp_path / "stopped", *RUN, callbacks=[SignalAt(signal.SIGTERM, epoch=2, batch=4)])
    assert stopped["status"] == "complete" and stopped["epochs"] == 3
    assert stopped["test"] == whole["test"] and (tmp_path / "stopped" / contract.OUTCOMES).is_file()
    assert not (tmp_path / "stopped" / contract.CHECKPOINT).exists()


def test_a_resumed_run_continues_its_wandb_run_and_the_stop_shows_as_a_preemption(tmp_path):
    stopped = interrupted_run(tmp_path / "stopped", signal.SIGTERM, 0, 2, "logger=wandb")
    first = wandb_records.run_of(tmp_path / "stopped")
    assert wandb_records.summary(first)["status"] == "interrupted"
    assert "preempting" in wandb_records.kinds(first)  # W&B's own state for it: preempted, not failed

    resumed = train_run(tmp_path / "resumed", *RUN, "logger=wandb", f"resume={stopped['interrupted_checkpoint']}")
    assert resumed["wandb"]["id"] == stopped["wandb"]["id"]  # the same W&B run goes on
    second = wandb_records.run_of(tmp_path / "resumed")
    assert wandb_records.summary(second)["val/acc"] == {"max": resumed["objective"]}  # the value Optuna records
    assert "preempting" not in wandb_records.kinds(second)


def test_resume_from_a_missing_checkpoint_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"resume='/nowhere.ckpt' is invalid: expected null or the path"):
        train_run(tmp_path, *TINY, "resume=/nowhere.ckpt")


def test_a_resumed_epochs_images_per_s_counts_the_seconds_trained_before_the_stop():
    # The checkpoint carries the interrupted epoch's images and seconds so far: its rate is over the whole epoch,
    # not its images over the resumed part's seconds (which read 2,248 img/s for a 145 img/s CIFAR trial).
    from xsearch.training.callbacks import EpochMeter

    before = EpochMeter(print_lines=False)
    before.on_train_start(None, None)
    before._images, before._start = 6400, time.perf_counter() - 40.0  # 100 batches of 64 in 40 s, then the stop
    resumed = EpochMeter(print_lines=False)
    resumed.load_state_dict(before.state_dict())
    resumed.on_train_start(None, None)
    assert time.perf_counter() - resumed._start == pytest.approx(40.0, abs=1.0)
    assert resumed._images == 6400
