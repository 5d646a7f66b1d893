"""Each dataset yields the batches its settings promise, and every wrong setting or layout fails early and says why."""

import math
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from PIL import Image
from sklearn.datasets import load_digits

from xsearch.data import SETTINGS, DataError, build_datamodule, data_settings
from xsearch.data.augment import random_flip, random_shift
from xsearch.data.memory import EpochOrder
from xsearch.data.normalization import CIFAR10_STATS
from xsearch.data.splits import stratified_carve
from xsearch.schema import ConfigError
from xsearch.settings.presets import preset

CONF = Path(__file__).resolve().parents[1] / "conf" / "data"


def data(name="digits", **values):
    """The shipped data=<name> with `values` changed."""
    return data_settings({**preset("data", name), **values})


def ready(settings, *, seed=0, rank=None, world_size=None):
    """A set-up datamodule; with a rank, as that rank of a CPU DDP run would see it."""
    module = build_datamodule(settings, seed=seed)
    if rank is not None:
        module.trainer = SimpleNamespace(global_rank=rank, world_size=world_size,
                                         strategy=SimpleNamespace(root_device=torch.device("cpu")))
    module.prepare_data()
    module.setup("fit")
    return module


def all_batches(loader):
    images, labels = zip(*loader)
    return torch.cat(images), torch.cat(labels)


def visited(loader):
    """The stored sample each training batch row came from, in order."""
    return loader.sampler.indices()[:len(loader) * loader.batch_size].tolist()


# --- digits -----------------------------------------------------------------

def test_digits_are_known_before_setup_and_yield_unit_range_single_channel_batches():
    module = build_datamodule(data(normalize="none", augment=False, batch_size=50))
    assert (module.num_classes, module.channels, module.size) == (10, 1, 32)
    module.setup("fit")
    images, labels = all_batches(module.val_dataloader())
    assert images.shape[1:] == (1, 32, 32) and images.dtype == torch.float32 and labels.dtype == torch.int64
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.9
    assert set(labels.tolist()) == set(range(10))
    batch, batch_labels = next(iter(module.train_dataloader()))
    assert batch.shape == (50, 1, 32, 32) and batch_labels.shape == (50,)


def test_digits_size_sets_the_side_and_dataset_normalization_centres_them():
    module = ready(data(size=20, augment=False))
    images, _ = all_batches(module.train_dataloader())
    assert images.shape[1:] == (1, 20, 20) and module.size == 20
    assert abs(images.mean().item()) < 0.01 and abs(images.std().item() - 1) < 0.01


def test_a_carve_is_disjoint_stratified_sized_by_its_fraction_and_fixed_by_its_seed():
    labels = torch.from_numpy(load_digits().target)
    kept, held = stratified_carve(labels, 0.25, seed=0, what="data.val_fraction")
    counts = torch.bincount(labels, minlength=10)
    assert torch.equal(torch.bincount(labels[held], minlength=10), torch.round(0.25 * counts).long())
    assert sorted(kept.tolist() + held.tolist()) == list(range(1797))
    assert not set(kept.tolist()) & set(held.tolist())
    again, other = (stratified_carve(labels, 0.25, seed=s, what="x")[1] for s in (0, 1))
    assert torch.equal(again, held) and not torch.equal(other, held)


def test_digits_train_choose_and_score_on_three_disjoint_parts_whatever_the_training_seed():
    first = ready(data(test_fraction=0.2, val_fraction=0.1), seed=1).splits
    again = ready(data(test_fraction=0.2, val_fraction=0.1), seed=99).splits
    sizes = (len(first.train_labels), len(first.val_labels), len(first.test_labels))
    assert sum(sizes) == 1797 and abs(sizes[2] - 0.2 * 1797) <= 10 and abs(sizes[1] - 0.1 * 1797) <= 10
    rows = {name: {bytes(image.numpy()) for image in getattr(first, f"{name}_images")}
            for name in ("train", "val", "test")}
    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"] and not rows["val"] & rows["test"]
    for key in ("train_images", "val_images", "test_images", "test_labels"):
        assert torch.equal(getattr(first, key), getattr(again, key))
    record = first.record.as_dict()
    assert record["shared"] is False and record["test"] == sizes[2] and record["carves"]["test"]["seed"] == 0
    # The test digits' identity: the same digits resized otherwise are the same images (paired by the report);
    # another carve is another set.
    smaller = ready(data(test_fraction=0.2, val_fraction=0.1, size=16)).splits
    assert smaller.test_images.shape[-1] == 16 and smaller.record.image_set == record["image_set"]
    assert ready(data(test_fraction=0.2, val_fraction=0.1, split_seed=1)).splits.record.image_set != record["image_set"]


def test_fractions_that_leave_nothing_to_train_on_name_the_key():
    with pytest.raises(ConfigError, match=r"data\.val_fraction=0\.9999"):
        ready(data(val_fraction=0.9999))
    with pytest.raises(ConfigError, match=r"data\.val_fraction=0\.5 is invalid: .*data\.test_fraction=0\.5"):
        data(val_fraction=0.5, test_fraction=0.5)


def test_too_large_a_batch_for_the_training_set_names_batch_size():
    module = ready(data(batch_size=5000))
    with pytest.raises(DataError, match=r"data\.batch_size=5000"):
        module.train_dataloader()


# --- order and sharding -------------------------------------------------------

def test_training_order_reshuffles_each_epoch_and_repeats_for_the_same_seed():
    loader = ready(data(batch_size=32), seed=3).train_dataloader()
    epoch0 = visited(loader)
    loader.sampler.set_epoch(1)
    epoch1 = visited(loader)
    assert epoch0 != epoch1 and sorted(epoch0) != epoch0
    twin = ready(data(batch_size=32), seed=3).train_dataloader()
    twin.sampler.set_epoch(1)
    assert visited(twin) == epoch1
    other_seed = ready(data(batch_size=32), seed=4).train_dataloader()
    other_seed.sampler.set_epoch(1)
    assert visited(other_seed) != epoch1
    labels_seen = torch.cat([labels for _, labels in loader])
    assert labels_seen.tolist() == loader.labels[torch.tensor(epoch1)].tolist()


def test_validation_keeps_stored_order_and_every_sample():
    module = ready(data(batch_size=64, augment=False))
    loader = module.val_dataloader()
    _, labels = all_batches(loader)
    assert torch.equal(labels, module.splits.val_labels)
    assert len(loader) == math.ceil(len(module.splits.val_labels) / 64)


@pytest.mark.parametrize("num_samples,shuffle", [(11, True), (11, False), (360, False)])
def test_two_ranks_get_disjoint_equal_shards(num_samples, shuffle):
    shards = [EpochOrder(num_samples, shuffle=shuffle, seed=5, rank=rank, world_size=2).indices().tolist()
              for rank in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == num_samples // 2
    assert not set(shards[0]) & set(shards[1])
    assert len(set(shards[0]) | set(shards[1])) == num_samples - num_samples % 2


def test_datamodule_shards_by_the_trainers_rank():
    modules = [ready(data(batch_size=16), rank=rank, world_size=2) for rank in (0, 1)]
    loaders = [m.train_dataloader() for m in modules]
    train = len(modules[0].splits.train_labels)
    assert len(loaders[0]) == len(loaders[1]) == (train // 2) // 16
    assert not set(loaders[0].sampler.indices().tolist()) & set(loaders[1].sampler.indices().tolist())
    val = [m.val_dataloader() for m in modules]  # in step: the odd sample out is left out
    assert sum(len(v.sampler) for v in val) == len(modules[0].splits.val_labels) // 2 * 2
    assert len(val[0]) == len(val[1])
    # Scoring takes every image once, rank r images r, r + 2, ...: the scorer puts them back in order.
    scoring = [m.scoring_dataloader().sampler.indices().tolist() for m in modules]
    tests = len(modules[0].splits.test_labels)
    assert scoring[0] == list(range(0, tests, 2)) and scoring[1] == list(range(1, tests, 2))


class TinyClassifier(pl.LightningModule):
    def __init__(self, inputs, classes):
        super().__init__()
        self.layer = torch.nn.Linear(inputs, classes)
        self.seen = []

    def training_step(self, batch, _):
        images, labels = batch
        self.seen.append((self.current_epoch, labels.tolist()))
        return torch.nn.functional.cross_entropy(self.layer(images.flatten(1)), labels)

    def validation_step(self, batch, _):
        images, labels = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.layer(images.flatten(1)), labels))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_labels(seed):
    settings = data(name="synthetic", size=4, channels=1, num_classes=50, train_samples=40, val_samples=8,
                            batch_size=8)
    module = build_datamodule(settings, seed=seed)
    model = TinyClassifier(16, 50)
    pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False).fit(model, datamodule=module)
    return [[labels for e, labels in model.seen if e == epoch] for epoch in (0, 1)]


def test_lightning_trains_from_the_loader_and_sets_its_epoch():
    epochs = fit_labels(seed=7)
    assert len(epochs[0]) == len(epochs[1]) == 5 and epochs[0] != epochs[1]
    assert fit_labels(seed=7) == epochs


# --- augmentation ---------------------------------------------------------------

def shifted_copies(image, padding):
    padded = torch.nn.functional.pad(image, (padding,) * 4)
    side = image.shape[-1]
    return [padded[:, top:top + side, left:left + side]
            for top in range(2 * padding + 1) for left in range(2 * padding + 1)]


def matches_any(sample, candidates):
    return any(torch.equal(sample, candidate) for candidate in candidates)


def test_shift_and_flip_keep_the_shape_and_change_the_batch():
    images = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)
    shifted = random_shift(images, padding=2, generator=generator)
    flipped = random_flip(images, generator=generator)
    assert shifted.shape == flipped.shape == images.shape
    assert not torch.equal(shifted, images) and not torch.equal(flipped, images)
    for sample, original in zip(shifted, images):
        assert matches_any(sample, shifted_copies(original, 2))
    mirrored = [torch.equal(sample, original.flip(-1)) for sample, original in zip(flipped, images)]
    unchanged = [torch.equal(sample, original) for sample, original in zip(flipped, images)]
    assert all(m != u for m, u in zip(mirrored, unchanged)) and 0 < sum(mirrored) < 16


def test_digits_augmentation_shifts_but_never_mirrors():
    module = ready(data(normalize="none"))
    stored = module.splits.train_images[:64]
    torch.manual_seed(0)
    augmented = module.recipe(stored, train=True)
    assert augmented.shape == stored.shape and not torch.equal(augmented, stored)
    for sample, original in zip(augmented, stored):
        assert matches_any(sample, shifted_copies(original, 2))
    assert torch.equal(module.recipe(stored, train=False), stored)  # validation is never augmented


# --- CIFAR ----------------------------------------------------------------------

def write_batch(path, images, labels, label_key):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        pickle.dump({"data": images.reshape(len(images), -1), label_key: list(labels), "batch_label": "fake"}, file)


def fake_cifar(root, *, hundred=False, per_file=4, val_count=6):
    """Sample k's three planes are constant 10 + k, 20 + k, 30 + k and its label is k, so order and channels show."""
    classes, label_key = (100, "fine_labels") if hundred else (10, "labels")
    if hundred:
        files = [("cifar-100-python", "train", 5 * per_file), ("cifar-100-python", "test", val_count)]
    else:
        files = [("cifar-10-batches-py", f"data_batch_{i}", per_file) for i in range(1, 6)]
        files.append(("cifar-10-batches-py", "test_batch", val_count))
    start = 0
    for folder, name, count in files:
        index = np.arange(start, start + count, dtype=np.uint8)[:, None, None, None]
        planes = np.array([10, 20, 30], dtype=np.uint8)[None, :, None, None] + index
        write_batch(root / folder / name, np.broadcast_to(planes, (count, 3, 32, 32)).copy(),
                    [(start + i) % classes for i in range(count)], label_key)
        start += count
    return root


@pytest.mark.parametrize("hundred", [False, True])
def test_fake_cifar_loads_channel_major_uint8_with_its_labels(tmp_path, hundred):
    name = "cifar100" if hundred else "cifar10"
    module = build_datamodule(data(name=name, root=str(fake_cifar(tmp_path, hundred=hundred)),
                                           normalize="none", batch_size=4))
    assert (module.num_classes, module.channels, module.size) == (100 if hundred else 10, 3, 32)
    module.setup("fit")
    splits = module.splits
    # val is carved out of the 20 training samples (a tenth of each class, at least one); the test batch scores.
    kept, carved = len(splits.train_labels), len(splits.val_labels)
    assert splits.train_images.dtype == torch.uint8 and kept + carved == 20 and carved >= 1
    assert module.split_record.val_from.startswith("carved from the training batches")
    assert module.split_record.test_from == ("test" if hundred else "test_batch")
    images, labels = all_batches(module.scoring_dataloader())
    assert images.shape == (6, 3, 32, 32) and labels.tolist() == [(20 + i) % module.num_classes for i in range(6)]
    assert torch.allclose(images[0, :, 5, 7], torch.tensor([30.0, 40.0, 50.0]) / 255)
    batch, _ = next(iter(module.train_dataloader()))
    assert batch.shape == (4, 3, 32, 32) and len(module.train_dataloader()) == kept // 4


def test_cifar_normalization_modes(tmp_path):
    root = str(fake_cifar(tmp_path))
    raw = torch.tensor([30.0, 40.0, 50.0]) / 255
    for mode, expected in (("dataset", (raw - torch.tensor(CIFAR10_STATS[0])) / torch.tensor(CIFAR10_STATS[1])),
                           ("inception", raw * 2 - 1), ("none", raw)):
        images, _ = all_batches(ready(data(name="cifar10", root=root, normalize=mode)).scoring_dataloader())
        assert torch.allclose(images[0, :, 0, 0], expected, atol=1e-6), mode


def test_cifar_augmentation_crops_and_sometimes_mirrors(tmp_path):
    module = ready(data(name="cifar10", root=str(fake_cifar(tmp_path)), normalize="none", size=16))
    stored = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    augmented = module.recipe(stored, train=True)
    originals = stored.float() / 255
    assert module.recipe.shift_padding == 2  # padding 4 at 32 scales to 2 at 16
    mirrored = [matches_any(a, shifted_copies(o.flip(-1), 2)) for a, o in zip(augmented, originals)]
    straight = [matches_any(a, shifted_copies(o, 2)) for a, o in zip(augmented, originals)]
    assert all(m or s for m, s in zip(mirrored, straight)) and 0 < sum(mirrored) < 64


def test_cifar_at_another_size_is_resized_per_batch(tmp_path):
    module = ready(data(name="cifar10", root=str(fake_cifar(tmp_path)), size=48, batch_size=4))
    assert module.splits.train_images.shape[-1] == 32
    assert next(iter(module.train_dataloader()))[0].shape == (4, 3, 48, 48)


@pytest.mark.parametrize("name,layout", [("cifar10", "<root>/cifar-10-batches-py/{data_batch_1..5,test_batch}"),
                                         ("cifar100", "<root>/cifar-100-python/{train,test}")])
def test_missing_cifar_fails_at_construction_naming_path_layout_and_download(tmp_path, name, layout):
    root = tmp_path / "x" / "y"
    with pytest.raises(DataError) as raised:
        build_datamodule(data(name=name, root=str(root)))
    message = str(raised.value)
    assert str(root) in message and layout in message and "data.download=true" in message


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagefolder"])
def test_no_root_for_an_on_disk_dataset_says_data_root_is_needed(name):
    with pytest.raises(DataError, match=r"data\.root=None is invalid: expected .*; set data\.root=<dir>"):
        data(name=name)


def test_relative_root_is_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert data(name="cifar10", root="data").root == str(tmp_path.resolve() / "data")
    assert not data(name="cifar10", root="~/data").root.startswith("~")


def test_download_with_the_files_present_fetches_nothing_and_loads(tmp_path):
    module = ready(data(name="cifar10", root=str(fake_cifar(tmp_path)), download=True))
    assert len(module.splits.test_labels) == 6


def test_a_corrupt_cifar_batch_names_the_file(tmp_path):
    root = fake_cifar(tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    module = build_datamodule(data(name="cifar10", root=str(root)))
    with pytest.raises(DataError, match="data_batch_3.*cifar-10-batches-py"):
        module.setup("fit")


def test_cifar_labels_outside_the_classes_are_rejected(tmp_path):
    root = fake_cifar(tmp_path)
    write_batch(root / "cifar-10-batches-py" / "test_batch", np.zeros((2, 3072), np.uint8), [3, 10], "labels")
    with pytest.raises(DataError, match="test_batch holds labels 3..10"):
        ready(data(name="cifar10", root=str(root)))


# --- settings -------------------------------------------------------------------

def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"data\.name='mnist'.*digits, cifar10, cifar100, imagefolder, "
                                          r"imagefolder_memory, synthetic"):
        data_settings({"name": "mnist"})


@pytest.mark.parametrize("name,key,value", [
    ("digits", "batch_size", 0), ("digits", "val_fraction", 1.0), ("digits", "normalize", "zscore"),
    ("digits", "size", 0), ("digits", "val_fraction", 0), ("imagefolder", "num_workers", -1),
    ("digits", "augment", "yes"), ("digits", "batch_size", 2.5), ("synthetic", "channels", 0),
    ("imagefolder_memory", "num_classes", 0), ("cifar10", "download", "yes")])
def test_invalid_values_name_the_key_and_value(tmp_path, name, key, value):
    with pytest.raises(ConfigError, match=rf"data\.{key}={value!r} is invalid"):
        data(name=name, **({"root": str(tmp_path)} if "root" in preset("data", name) else {}), **{key: value})


@pytest.mark.parametrize("name,key", [("digits", "batchsize"), ("digits", "channels"), ("cifar10", "num_workers")])
def test_a_key_the_dataset_does_not_take_is_named_with_those_it_does(tmp_path, name, key):
    with pytest.raises(ConfigError, match=rf"data\.{key} is not a key of data.*\(valid: .*batch_size"):
        data(name=name, **({"root": str(tmp_path)} if name != "digits" else {}), **{key: 8})


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config_file_holds_exactly_its_datasets_settings(tmp_path, path):
    values = OmegaConf.to_container(OmegaConf.load(path))
    fields = set(SETTINGS[path.stem].model_fields)
    assert set(values) == fields  # what it uses, no more
    if "root" in values:
        values["root"] = str(tmp_path)
    assert data_settings(values).name == path.stem


def test_there_is_a_config_file_per_dataset():
    assert {path.stem for path in CONF.glob("*.yaml")} == set(SETTINGS)


# --- image folders ---------------------------------------------------------------

def image_folder(root, train_classes, val_classes):
    colours = {"cat": (200, 30, 30), "dog": (30, 200, 30), "eel": (30, 30, 200), "fox": (90, 90, 90)}
    for split, classes, count in (("train", train_classes, 3), ("val", val_classes, 2)):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (40 + 7 * i, 36), colours[name]).save(root / split / name / f"{i}.png")
    return root


def test_image_folder_counts_classes_and_yields_sized_batches(tmp_path):
    root = image_folder(tmp_path, ["cat", "dog", "eel"], ["cat", "dog", "eel"])
    module = build_datamodule(data(name="imagefolder", root=str(root), size=32, batch_size=4,
                                           num_workers=0))
    assert (module.num_classes, module.channels, module.size) == (3, 3, 32)
    module.setup("fit")
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (4, 3, 32, 32) and labels.dtype == torch.int64
    val_images, val_labels = all_batches(module.val_dataloader())
    assert val_images.shape == (6, 3, 32, 32) and sorted(val_labels.tolist()) == [0, 0, 1, 1, 2, 2]
    assert len(module.train_dataloader()) == 2  # 9 images, batches of 4, the partial one dropped
    # No test/: val/ chooses and scores, and the record says so.
    assert module.split_record.shared and module.split_record.test_from == "val/"
    assert len(all_batches(module.scoring_dataloader())[1]) == 6


def test_image_folder_with_different_classes_names_both_lists(tmp_path):
    root = image_folder(tmp_path, ["cat", "dog", "eel"], ["cat", "dog", "fox"])
    with pytest.raises(DataError, match=r"only in train: \[eel\]; only in val: \[fox\].*\[cat, dog, eel\].*"
                                        r"\[cat, dog, fox\]"):
        build_datamodule(data(name="imagefolder", root=str(root)))


def test_image_folder_checks_num_classes_and_layout(tmp_path):
    root = image_folder(tmp_path, ["cat", "dog"], ["cat", "dog"])
    with pytest.raises(DataError, match=r"data\.num_classes=5 does not match the 2 class folders"):
        build_datamodule(data(name="imagefolder", root=str(root), num_classes=5))
    with pytest.raises(DataError, match=r"train/train is not a directory; expected <root>/train/<class>"):
        build_datamodule(data(name="imagefolder", root=str(root / "train")))
    (root / "val" / "dog" / "0.png").unlink()
    (root / "val" / "dog" / "1.png").unlink()
    with pytest.raises(DataError, match=r"class folder\(s\) \[dog\] hold no image"):
        build_datamodule(data(name="imagefolder", root=str(root)))


# --- synthetic -------------------------------------------------------------------

def test_synthetic_follows_channels_classes_and_sample_counts():
    module = build_datamodule(data(name="synthetic", channels=5, num_classes=7, size=12, batch_size=16,
                                           train_samples=64, val_samples=20, test_samples=10))
    assert (module.num_classes, module.channels, module.size) == (7, 5, 12)
    module.setup("fit")
    images, labels = all_batches(module.train_dataloader())
    assert images.shape == (64, 5, 12, 12) and labels.min() >= 0 and labels.max() < 7
    assert len(set(labels.tolist())) == 7
    val_images, _ = all_batches(module.val_dataloader())
    assert val_images.shape == (20, 5, 12, 12)
    assert all_batches(module.scoring_dataloader())[0].shape == (10, 5, 12, 12)
    assert abs(images.mean().item()) < 0.05 and abs(images.std().item() - 1) < 0.05
    again = ready(data(name="synthetic", channels=5, num_classes=7, size=12, train_samples=64,
                               val_samples=20), seed=3)
    assert torch.equal(again.splits.train_images, module.splits.train_images)


# --- image folders held in memory -------------------------------------------------

def test_an_image_folder_is_decoded_once_cached_and_trained_from_memory(tmp_path, capsys):
    root = image_folder(tmp_path / "set", ["cat", "dog", "eel"], ["cat", "dog", "eel"])
    (root / "val").rename(root / "test")  # CIFAR-10's layout: train/ and test/
    settings = data(name="imagefolder_memory", root=str(root), size=16, batch_size=4, normalize="none",
                    augment=False, cache_dir=str(tmp_path / "cache"), val_fraction=0.3)
    module = ready(settings)
    assert (module.num_classes, module.channels, module.size) == (3, 3, 16)
    said = capsys.readouterr().out
    assert "decoding the images of" in said and "(9 in train/, 6 in test/)" in said
    assert "6 training images, 3 choosing (carved from train/), 6 scoring (test/)" in said
    splits = module.splits
    assert splits.train_images.dtype == torch.uint8 and splits.train_images.shape == (6, 3, 16, 16)
    assert splits.train_labels.tolist() == [0, 0, 1, 1, 2, 2]  # ImageFolder's order of classes, one of each carved
    assert sorted(splits.val_labels.tolist()) == [0, 1, 2] and splits.test_labels.tolist() == [0, 0, 1, 1, 2, 2]
    from xsearch.data.imagefolder_memory import uint8_channel_stats
    assert splits.stats == uint8_channel_stats(splits.train_images)  # normalized by what trains, nothing carved
    assert splits.stats != uint8_channel_stats(torch.cat([splits.train_images, splits.val_images]))
    red = splits.train_images[0, :, 8, 8].tolist()
    assert red[0] > 150 and red[1] < 80 and red[2] < 80  # the cat's colour, decoded as RGB
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (4, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    (cache,) = (tmp_path / "cache").glob("*.pt")
    again = ready(settings)  # a second run, or another trial: from the cache, decoding nothing
    assert "decoding" not in capsys.readouterr().out
    assert torch.equal(again.splits.val_images, splits.val_images)
    assert list((tmp_path / "cache").glob("*.pt")) == [cache]
    Image.new("RGB", (40, 36), (1, 2, 3)).save(root / "train" / "cat" / "9.png")  # the folder changed
    assert len(ready(settings).splits.train_labels) + len(ready(settings).splits.val_labels) == 10


def test_the_image_folder_statistics_are_the_training_pixels_exactly(tmp_path):
    from xsearch.data.imagefolder_memory import uint8_channel_stats
    from xsearch.data.normalization import channel_stats

    images = torch.randint(0, 256, (20, 3, 5, 5), dtype=torch.uint8)
    mean, std = uint8_channel_stats(images)
    expected_mean, expected_std = channel_stats(images.double() / 255)
    assert mean == pytest.approx(expected_mean, abs=1e-12) and std == pytest.approx(expected_std, abs=1e-12)


def test_a_streamed_image_folder_carves_val_out_of_train_and_scores_on_test(tmp_path):
    root = image_folder(tmp_path, ["cat", "dog"], ["cat", "dog"])
    (root / "val").rename(root / "test")
    module = build_datamodule(data(name="imagefolder", root=str(root), size=16, batch_size=2, num_workers=0,
                                   val_fraction=0.3))
    module.setup("fit")
    record = module.split_record
    assert (record.train, record.val, record.test) == (4, 2, 4) and not record.shared
    assert record.val_from == "carved from train/" and record.carves["val"]["images"] == 2
    carved = {module.val_set.dataset.samples[i][0] for i in module.val_set.indices}
    kept = {module.train_set.dataset.samples[i][0] for i in module.train_set.indices}
    assert not carved & kept and all("/train/" in path for path in carved)
    assert len(all_batches(module.scoring_dataloader())[1]) == 4
