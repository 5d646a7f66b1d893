"""Choosing and scoring never share images: validation chooses the epoch, the test images score it, once, and
what a run scored is kept image by image."""

import json

import numpy as np
import pytorch_lightning as pl
import torch
from conftest import TINY, train_run
from PIL import Image

from xsearch import contract
from xsearch.model import build_model
from xsearch.outcomes import Outcomes


def fingerprints(images: torch.Tensor) -> set[bytes]:
    return {bytes(image.cpu().numpy()) for image in images}


class Witness(pl.Callback):
    """Records every image Lightning validated on, and every image the scorer read from the datamodule."""

    def __init__(self) -> None:
        self.validated: set[bytes] = set()
        self.scored: list[torch.Tensor] = []

    def setup(self, trainer, pl_module, stage):
        datamodule, witness = trainer.datamodule, self
        real = datamodule.scoring_dataloader

        def watched():
            for images, labels in real():
                witness.scored.append(images.clone())
                yield images, labels

        datamodule.scoring_dataloader = watched

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.validated |= fingerprints(batch[0])


def test_no_image_that_chose_the_epoch_is_counted_in_the_score(tmp_path):
    witness = Witness()
    summary = train_run(tmp_path, *TINY, "trainer.max_epochs=2", "~trainer.limit_val_batches",
                        callbacks=[witness])
    scored = torch.cat(witness.scored)
    assert witness.validated and not witness.validated & fingerprints(scored)
    outcomes = Outcomes.load(tmp_path / contract.OUTCOMES)
    assert outcomes.images == len(scored) == summary["test"]["images"] == summary["splits"]["test"]
    assert summary["splits"]["val"] == len(witness.validated) and not summary["test"]["shares_choosing_images"]
    assert summary["test"]["acc"] == outcomes.accuracy == outcomes.correct.sum() / outcomes.images


def test_the_epoch_validation_chose_is_the_one_scored(tmp_path):
    # Lightning's own best checkpoint holds the best validated epoch's weights: scoring them by hand on the test
    # images gives, prediction for prediction, what the run recorded.
    summary = train_run(tmp_path, *TINY, "trainer.max_epochs=3", "~trainer.limit_val_batches", "checkpoint=true",
                        "optim.lr=0.01")
    history = [e["val/acc"] for e in summary["history"]]
    assert summary["test"]["epoch"] == history.index(max(history)) and summary["test"]["chosen_by"] == "best val/acc"
    state = torch.load(summary["checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
    net = build_model(**{k: v for k, v in summary["model"].items()})
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
    net.eval()
    from xsearch.data import build_datamodule, data_settings
    from xsearch.settings.presets import preset

    module = build_datamodule(data_settings(preset("data", "digits") | {"batch_size": 16}))
    module.setup("fit")
    with torch.no_grad():
        predicted = torch.cat([net(images).argmax(1) for images, _ in module.scoring_dataloader()]).numpy()
    outcomes = Outcomes.load(tmp_path / contract.OUTCOMES)
    assert (outcomes.predicted == predicted).all()
    assert (outcomes.correct == (predicted == module.splits.test_labels.numpy())).all()


def test_without_a_test_split_the_final_epoch_is_scored_and_the_record_says_the_images_are_shared(tmp_path):
    root = tmp_path / "images"
    for split, count in (("train", 6), ("val", 3)):
        for name, rgb in {"red": (220, 30, 30), "blue": (20, 40, 230)}.items():
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (32, 32), rgb).save(root / split / name / f"{i}.png")
    summary = train_run(tmp_path / "run", *TINY, "trainer.max_epochs=2", "data=imagefolder_memory",
                        f"data.root={root}", f"data.cache_dir={tmp_path / 'cache'}", "data.batch_size=4")
    assert summary["splits"]["shared"] and summary["splits"]["test_from"] == "val/"
    assert summary["test"]["shares_choosing_images"] and summary["test"]["chosen_by"] == "final epoch"
    assert summary["test"]["epoch"] == 1 and summary["test"]["images"] == 6


def test_outcomes_are_kept_compactly_in_the_run_and_in_the_study():
    rng = np.random.default_rng(0)
    predicted = rng.integers(0, 10, 10_000)
    outcomes = Outcomes("cifar", rng.random(10_000) < 0.77, predicted)
    attr = outcomes.to_attr()
    assert len(json.dumps(attr)) < 2_000  # 10,000 bits, packed: what a study holds per trial
    back = Outcomes.from_attr(attr)
    assert back.image_set == "cifar" and (back.correct == outcomes.correct).all()


def test_an_outcomes_file_round_trips_and_stays_kilobytes(tmp_path):
    rng = np.random.default_rng(1)
    outcomes = Outcomes("cifar", rng.random(10_000) < 0.77, rng.integers(0, 10, 10_000))
    outcomes.save(tmp_path / contract.OUTCOMES)
    assert (tmp_path / contract.OUTCOMES).stat().st_size < 8_000
    back = Outcomes.load(tmp_path / contract.OUTCOMES)
    assert back.image_set == "cifar" and (back.correct == outcomes.correct).all()
    assert (back.predicted == outcomes.predicted).all() and back.accuracy == outcomes.accuracy
