"""Seeds of one point trained as one fused network: each copy exactly its lone trial (initialized, ordered,
augmented and dropped out from its own seed), up to what float arithmetic in another summation order does to a
lone trial itself; every trial still its own trial."""

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import composed, train_run
from omegaconf import OmegaConf

from xsearch import contract
from xsearch.outcomes import Outcomes
from xsearch.settings.plan import plan
from xsearch.settings.run import load_settings
from xsearch.training.fused.network import fused_input, unfuse
from xsearch.training.fused.run import FusedRun, Member, train_fused
from xsearch.training.module import SpectrumModule
from xsearch.training.optim import build_optimizer, build_scheduler

SMALL = ["logger=csv", "model.width=0.125", "model.middle_depth=1", "data.batch_size=16", "model.dropout=0.3"]
SEEDS = (0, 1, 2)


def members(tmp_path: Path, *overrides: str, seeds=SEEDS) -> list[Member]:
    found = []
    for seed in seeds:
        config = OmegaConf.to_container(composed(*SMALL, *overrides, f"seed={seed}"), resolve=True)
        found.append(Member(load_settings(config), config, tmp_path / f"fused-{seed}"))
    return found


def lone_module(member: Member, channels_last: bool | None = None) -> SpectrumModule:
    """The lone trial's module, built as training builds it (seeded first)."""
    settings = member.settings
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    layout = settings.use_channels_last() if channels_last is None else channels_last
    return SpectrumModule(plan(settings).spec, settings.optim, channels_last=layout)


def lone_steps(member: Member, batches, steps_per_epoch: int, *, channels_last: bool | None = None):
    """The lone trial's first steps, on its own batches: Lightning's step (module.py), by hand."""
    module = lone_module(member, channels_last)
    settings = member.settings
    optimizer = build_optimizer(settings.optim, module.net)
    scheduler = build_scheduler(settings.optim, optimizer, steps_per_epoch=steps_per_epoch,
                                total_epochs=settings.trainer.kwargs()["max_epochs"])
    for images, labels in batches:
        loss = module.loss(module(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return module.net


def fused_steps(group: list[Member], count: int):
    run = FusedRun(group, plan(group[0].settings))
    for loader in run.loaders:
        loader.sampler.set_epoch(0)
    seen = [[] for _ in group]
    for step, pairs in zip(range(count), zip(*run.loaders)):
        for k, pair in enumerate(pairs):
            seen[k].append(pair)
        run.step(0, step, pairs)
    return run, seen


def distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """The largest relative L2 distance between two networks' tensors."""
    return max(((x - y).norm() / (x.norm() + 1e-12)).item() for (_, x), (_, y)
               in zip(a.state_dict().items(), b.state_dict().items()) if x.dtype.is_floating_point)


def test_each_copy_starts_as_its_lone_trial_logit_for_logit(tmp_path):
    group = members(tmp_path)
    run = FusedRun(group, plan(group[0].settings))
    run.net.eval()
    images = [torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(k)) for k in range(3)]
    with torch.no_grad():
        fused = run.net(fused_input(images))
        for k, member in enumerate(group):
            lone = lone_module(member).net.eval()
            assert (fused[:, k] - lone(images[k])).abs().max() <= 1e-6
    # The mapping matters: copy 0 against seed 1's network is another network altogether.
    with torch.no_grad():
        assert (fused[:, 0] - lone_module(group[1]).net.eval()(images[0])).abs().max() > 1e-3


def test_each_copy_steps_as_its_lone_trial_up_to_float_order(tmp_path):
    # 20 steps of the default AdamW, dropout on. One step agrees to 1e-6; over 20 the network's ReLUs and max
    # pools amplify float noise (a 1e-7 difference flips a tie), so a lone trial computed in another memory
    # layout (other kernels, other summation order) drifts as far from itself. Each copy must stay at least that
    # close to its own lone trial, and closer to it than to any other seed's.
    group = members(tmp_path)
    one, seen = fused_steps(group, 1)
    for k, member in enumerate(group):
        assert distance(unfuse(one.net, one.template, k), lone_steps(member, seen[k], one.steps)) <= 1e-4
    run, seen = fused_steps(group, 20)
    lones = [lone_steps(member, seen[k], run.steps) for k, member in enumerate(group)]
    layout = not group[0].settings.use_channels_last()
    copies = [unfuse(run.net, run.template, k) for k in range(len(group))]
    for k, copy in enumerate(copies):  # each seed's own yardstick: how chaotic its first steps are differs
        other_layout = distance(lones[k], lone_steps(group[k], seen[k], run.steps, channels_last=layout))
        assert distance(copy, lones[k]) <= 2 * other_layout + 1e-4, (k, distance(copy, lones[k]), other_layout)
    # The copies swapped: copy 0 against seed 1's lone trial (on copy 0's batches) is another network.
    swapped = distance(copies[0], lone_steps(group[1], seen[0], run.steps))
    assert distance(copies[0], lones[0]) < swapped / 2, (distance(copies[0], lones[0]), swapped)


@pytest.mark.slow  # five short runs of the digits
def test_a_fused_group_chooses_and_scores_each_trial_as_its_lone_trial(tmp_path):
    # Two epochs of 25 batches on the digits. Over epochs float noise moves a run as far as another memory
    # layout moves a lone trial (0.06 of val/acc after one full epoch, measured), so each fused trial is held to
    # its lone trial within what the lone trial's other layout gives, and a margin of 0.02.
    overrides = ["trainer.max_epochs=2", "data.batch_size=32", "+trainer.limit_train_batches=25"]
    group = members(tmp_path, *overrides, seeds=(0, 1))
    summaries = train_fused(group, plan(group[0].settings))
    for member, fused in zip(group, summaries):
        seed = member.settings.seed
        lone = train_run(tmp_path / f"lone-{seed}", *SMALL, *overrides, f"seed={seed}")
        layout = not member.settings.use_channels_last()
        other = train_run(tmp_path / f"other-{seed}", *SMALL, *overrides, f"seed={seed}", f"channels_last={layout}")
        assert fused["fused"]["copies"] == 2 and fused["status"] == "complete"
        assert set(lone) <= set(fused)  # every field a lone trial's summary has, and `fused`
        values = [e["val/acc"] for e in fused["history"]]
        assert fused["test"]["epoch"] == values.index(max(values))  # its own choice, on its own validation
        gap = abs(lone["test"]["acc"] - other["test"]["acc"])
        assert abs(fused["test"]["acc"] - lone["test"]["acc"]) <= gap + 0.02
        mine, alone, moved = (Outcomes.load(folder / contract.OUTCOMES)
                              for folder in (member.run_dir, tmp_path / f"lone-{seed}", tmp_path / f"other-{seed}"))
        assert mine.image_set == alone.image_set
        assert (mine.correct == alone.correct).mean() >= (moved.correct == alone.correct).mean() - 0.02
        assert any(member.run_dir.rglob("metrics.csv"))


def test_a_copy_whose_loss_diverges_fails_alone(tmp_path):
    group = members(tmp_path, "trainer.max_epochs=1", "+trainer.limit_train_batches=4", seeds=(0, 1, 2))
    run_plan = plan(group[0].settings)
    original = FusedRun.__init__

    def poisoned(self, *args, **kwargs):
        original(self, *args, **kwargs)
        with torch.no_grad():  # copy 1's classifier weights: NaN from its first step
            self.net.fc.weight.view(3, -1)[1].fill_(float("nan"))

    FusedRun.__init__ = poisoned
    try:
        summaries = train_fused(group, run_plan)
    finally:
        FusedRun.__init__ = original
    states = [s["status"] for s in summaries]
    assert states == ["complete", "failed", "complete"]
    assert summaries[1]["error"].startswith("FloatingPointError: training loss is nan")
    assert all(s["test"] is not None for i, s in enumerate(summaries) if i != 1)
    assert json.loads((group[0].run_dir / contract.SUMMARY).read_text())["history"][0]["train/loss"] < 10


def test_a_pruner_prunes_one_copy_and_the_others_go_on(tmp_path):
    group = members(tmp_path, "trainer.max_epochs=3", "+trainer.limit_train_batches=4", seeds=(0, 1))
    group[1].report = lambda value, epochs: True  # its pruner stops it at its first report
    summaries = train_fused(group, plan(group[0].settings))
    assert [s["status"] for s in summaries] == ["complete", "pruned"]
    assert summaries[0]["epochs"] == 3 and summaries[1]["epochs"] == 1


def test_a_group_that_is_not_one_point_is_refused(tmp_path):
    from xsearch.schema import ConfigError

    group = members(tmp_path, seeds=(0,)) + members(tmp_path, "model.segments=4", seeds=(1,))
    with pytest.raises(ConfigError, match="fused trials must differ only in their seeds"):
        train_fused(group, plan(group[0].settings))


@pytest.mark.slow
def test_a_sweep_with_fuse_runs_each_points_seeds_as_one_group_and_each_stays_a_trial(tmp_path):
    from test_sweep import load, run

    out = run(tmp_path, "+sweep=separability", "sweep.name=fused", "sweep.space.model.segments=[4,depthwise]",
              "sweep.space.model.op_order=[depthwise_first]", "sweep.space.seed=[0,1]", "sweep.fuse=2",
              "sweep.workers=1", timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    study = load(tmp_path, "fused")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    groups = set()
    for trial in study.trials:
        folder = Path(trial.user_attrs[contract.DIR])
        summary = json.loads((folder / contract.SUMMARY).read_text())
        assert summary["fused"]["copies"] == 2 and summary["seed"] == trial.params["seed"]
        assert contract.TEST_OUTCOMES in trial.user_attrs and (folder / contract.TRIAL_LOG).is_file()
        assert summary["model"]["segments"] == trial.params["model.segments"]
        groups.add(tuple(summary["fused"]["trials"]))
    assert len(groups) == 2  # one process a point, its two seeds in it
    report = (tmp_path / "report" / "summary.md").read_text()
    assert "2 seeds a point" in report


def test_each_fused_trial_has_its_own_wandb_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    group = members(tmp_path, "logger=[wandb,csv]", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
                    seeds=(0, 1))
    summaries = train_fused(group, plan(group[0].settings))
    runs = [s["wandb"] for s in summaries]
    assert all(r is not None and r["mode"] == "offline" for r in runs)
    assert runs[0]["id"] != runs[1]["id"] and all(Path(r["dir"]).is_dir() for r in runs)
