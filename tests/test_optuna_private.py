"""What xsearch relies on in Optuna beyond its public API (xsearch/studies/optuna_private.py), pinned: an Optuna
upgrade that changes any of it fails here first, before a sweep loses track of its trials."""

import time

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from xsearch.studies import optuna_private
from xsearch.studies.storage import open_storage


@pytest.fixture
def study(tmp_path):
    return optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}", direction="maximize")


def test_a_trial_is_found_again_by_its_number_and_its_stored_state_is_current(study):
    first, second = study.ask(), study.ask()
    second.set_user_attr("dir", "/somewhere")
    assert isinstance(optuna_private.trial_id(second), int)
    assert optuna_private.trial_id(first) != optuna_private.trial_id(second)
    assert optuna_private.frozen(study, second).user_attrs == {"dir": "/somewhere"}
    assert optuna_private.by_number(study, 1).number == 1
    assert optuna_private.by_number(study, 1).user_attrs == {"dir": "/somewhere"}


def test_another_process_reports_to_a_running_trial_and_asks_its_pruner(tmp_path, study):
    leader = study.ask()
    for step, value in enumerate([0.5, 0.8], start=1):
        leader.report(value, step)
    study.tell(leader, 0.8)
    running = study.ask()
    # What a trial process does: load the study anew (another Study object, as in another process) and report.
    elsewhere = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}",
                                  pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    handle = optuna_private.live_trial(elsewhere, running.number)
    handle.report(0.1, 1)
    assert handle.should_prune()
    assert optuna_private.frozen(study, running).intermediate_values == {1: 0.1}
    assert optuna_private.frozen(study, running).state == TrialState.RUNNING


def test_heartbeats_keep_a_trial_alive_and_their_absence_fails_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'beats.db'}"
    stale = []
    storage = open_storage(url, heartbeat=1, on_stale=lambda study, trial: stale.append(trial.number))
    study = optuna.create_study(study_name="b", storage=storage)
    assert optuna_private.heartbeat_enabled(study)
    trial = study.ask()
    optuna_private.beat(study, trial)
    optuna.storages.fail_stale_trials(study)
    assert optuna_private.frozen(study, trial).state == TrialState.RUNNING
    deadline = time.monotonic() + 10  # past the grace period of 3 beats of 1 s, well within 10 s
    while optuna_private.frozen(study, trial).state == TrialState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.5)
        optuna.storages.fail_stale_trials(study)
    assert optuna_private.frozen(study, trial).state == TrialState.FAIL and stale == [0]


def test_storages_without_heartbeats_say_so(tmp_path, study):
    assert not optuna_private.heartbeat_enabled(study)  # RDB, but no heartbeat interval set
    journal = optuna.create_study(storage=JournalStorage(JournalFileBackend(str(tmp_path / "j.log"))))
    assert not optuna_private.heartbeat_enabled(journal)
    optuna_private.beat(journal, journal.ask())  # a no-op, not an error


def test_an_enqueued_trial_keeps_its_values_whatever_the_sampler_proposes(study):
    # Retries are enqueued copies: their values must win over the sampler's (xsearch's grid sampler included).
    study.enqueue_trial({"x": 3})
    queued = study.trials[-1]
    assert queued.params == {} and optuna_private.queued_params(queued) == {"x": 3}  # the tables read these
    trial = study.ask()
    assert trial.suggest_int("x", 0, 10) == 3


def test_no_module_but_the_adapter_touches_optunas_private_attributes():
    import ast
    from pathlib import Path

    import xsearch

    package = Path(xsearch.__file__).parent
    private = {"_storage", "_trial_id", "_study_id", "_backend", "_cached_frozen_trial"}
    found = [f"{path.relative_to(package)}:{node.lineno} .{node.attr}"
             for path in package.rglob("*.py") if path.name != "optuna_private.py"
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Attribute) and node.attr in private]
    assert not found, "private Optuna attributes outside xsearch/studies/optuna_private.py: " + ", ".join(found)
