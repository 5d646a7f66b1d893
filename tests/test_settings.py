"""The typed plan: every config group checked by one schema before torch loads, each point of a sweep planned
once, and the tables the schema mirrors (Lightning's Trainer arguments, torchvision's image endings) held equal
to their sources."""

import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from conftest import composed
from omegaconf import OmegaConf
from optuna.storages.journal import JournalFileBackend

from xsearch import contract
from xsearch.model.spec import NetSpec, resolve
from xsearch.schema import ConfigError
from xsearch.settings import plan as planning
from xsearch.settings.plan import Plan, given, plan
from xsearch.settings.run import PLAN, load_settings
from xsearch.settings.sweep import SweepSettings, complete_points
from xsearch.settings.trainer import TRAINER_ARGS
from xsearch.sweep.identity import config_identity
from xsearch.sweep.planning import TrialPlans

ROOT = Path(__file__).resolve().parents[1]


def test_the_trainer_arguments_are_lightnings():
    import pytorch_lightning as pl

    assert TRAINER_ARGS == tuple(p for p in inspect.signature(pl.Trainer.__init__).parameters if p != "self")


def test_the_image_endings_are_torchvisions():
    from torchvision.datasets.folder import IMG_EXTENSIONS

    from xsearch.data import folders

    assert folders.IMG_EXTENSIONS == IMG_EXTENSIONS


def test_checking_and_planning_a_run_and_a_sweep_load_no_torch():
    # The whole config path a typo meets, in a fresh interpreter: composing, the run's settings and plan (a
    # budget solved), the sweep's settings and space. torch and Lightning must not be imported by any of it.
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, "tests")
        from conftest import composed
        from omegaconf import OmegaConf
        from xsearch.settings.plan import plan
        from xsearch.settings.run import load_settings
        from xsearch.settings.sweep import SweepSettings, complete_points
        cfg = composed("+sweep=questions")
        values = OmegaConf.to_container(cfg, resolve=True)
        node = values.pop("sweep")
        plan(load_settings(values))
        SweepSettings.from_mapping(complete_points(node, values)).search_space.grid_points()
        heavy = sorted(m for m in ("torch", "pytorch_lightning", "lightning", "torchvision") if m in sys.modules)
        print("loaded:", heavy)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "loaded: []"


def test_a_spec_survives_the_trip_through_a_trial_config():
    spec = resolve(load_settings(composed("model.segments=4", "model.op_order=pointwise_first")).model)
    assert NetSpec.from_dict(json.loads(json.dumps(spec.as_dict()))) == spec


def questions_plans(tmp_path):
    cfg = composed("+sweep=questions")
    values = OmegaConf.to_container(cfg, resolve=True)
    settings = SweepSettings.from_mapping(complete_points(values.pop("sweep"), values))
    return settings, TrialPlans(values, study="questions", monitor="val/acc", limits={}, sweep_dir=tmp_path)


def test_a_trial_takes_its_drivers_plan_with_no_second_solve_or_resolve(tmp_path, monkeypatch):
    settings, plans = questions_plans(tmp_path)
    params = next(p for p in settings.search_space.grid_points() if p["model.segments"] == 2)
    config = json.loads(json.dumps(plans.config(params)))  # as trial.yaml holds it
    planned = plans.check(params).plan
    assert config[PLAN]["model"]["width"] == planned.model.width != 0.25  # solved for the budget, written down

    def never(*args, **kwargs):
        raise AssertionError("a trial planned again")

    monkeypatch.setattr(planning, "solve_width", never)
    monkeypatch.setattr(planning, "resolve", never)
    taken = given(config)
    assert taken == planned and taken.spec == planned.spec
    # What the trial process does with it: the app takes the given plan instead of planning.
    assert (given(config) or plan(load_settings(config))) == planned


def test_a_trial_config_edited_by_hand_is_planned_again(tmp_path):
    settings, plans = questions_plans(tmp_path)
    params = settings.search_space.grid_points()[0]
    config = plans.config(params)
    assert given(config) is not None
    config["model"] = {**config["model"], "middle_depth": 1}
    assert given(config) is None  # its plan was made for other knobs
    assert plan(load_settings(config)).model.middle_depth == 1


def test_each_point_of_a_sweep_is_planned_once(tmp_path, monkeypatch):
    settings, plans = questions_plans(tmp_path)
    made = []
    real = planning.plan
    monkeypatch.setattr("xsearch.sweep.planning.plan", lambda s: made.append(1) or real(s))
    for params in settings.search_space.grid_points():
        plans.relative_cost(params)  # ordering the grid
        plans.check(params)  # limits and the trial's record
        plans.config(params)  # trial.yaml
    assert len(made) == len(settings.search_space.grid_points())  # once a point, whatever asks


def test_the_search_space_is_built_once():
    settings = SweepSettings.from_mapping({"name": "s", "space": {"model": {"segments": [1, 2]}, "seed": [0, 1]}})
    assert settings.search_space is settings.search_space


def test_the_sweep_defaults_have_one_home():
    # conf/sweep_base.yaml takes them from the schema: what a sweep composes is the schema's default.
    composed_sweep = OmegaConf.to_container(composed("+sweep=separability").sweep)
    for key, default in SweepSettings.defaults().items():
        if key not in ("name", "space", "dir"):
            assert composed_sweep[key] == default, key
    assert "resolution" not in (ROOT / "conf" / "sweep_base.yaml").read_text()
    execution = set(SweepSettings.execution_keys())
    assert {"workers", "storage", "space", "trial_timeout"} <= execution and not {"decide", "points"} & execution


def test_the_committed_study_keeps_its_identity_under_the_schema():
    # The questions study's journal stores the config it was run with; the command in docs/RESULTS.md, composed
    # and checked by today's schema, must give the same identity, or re-running it would be refused.
    journal = ROOT / "docs" / "results" / "questions" / "study.journal"
    study = optuna.load_study(study_name="questions",
                              storage=optuna.storages.JournalStorage(JournalFileBackend(str(journal))))
    cfg = composed("+sweep=questions", "data=imagefolder_memory", "data.root=/somewhere/cifar10-jpeg",
                   "trainer.max_epochs=4", "sweep.workers=2", "logger=csv", "sweep.heartbeat=60")
    values = OmegaConf.to_container(cfg, resolve=True)
    settings = SweepSettings.from_mapping(complete_points(values.pop("sweep"), values))
    assert config_identity(values, settings) == study.user_attrs[contract.STUDY_CONFIG]


@pytest.mark.parametrize("node,message", [
    ({"name": "digits", "batch_size": 8, "size": None, "normalize": "dataset", "augment": True, "on_device": True,
      "test_fraction": 0.6, "val_fraction": 0.5, "split_seed": 0}, "leaves digits to train on"),
    ({"name": "mnist"}, "data.name='mnist' is invalid: expected one of digits"),
])
def test_cross_field_rules_and_choices_are_one_line_errors(node, message):
    from xsearch.data import data_settings

    with pytest.raises(ConfigError, match=message) as error:
        data_settings(node)
    assert "\n" not in str(error.value)


def test_a_plan_is_a_config_node_and_back():
    settings = load_settings(composed("model.budget={metric:params,target:xception}", "model.segments=4"))
    made = plan(settings)
    node = json.loads(json.dumps(made.as_node({"model": {}, "data": {}})))
    assert Plan.from_node(node) == made
