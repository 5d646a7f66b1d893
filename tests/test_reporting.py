"""What a trial tells its pruner: epochs trained as Optuna's step, and no pruning once the budget is spent.

The reporter is driven the way Lightning drives it (after each validation), on a real study, so the pruner's
arithmetic is Optuna's own."""

from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from xsearch.settings.components import build_pruner
from xsearch.studies import optuna_private
from xsearch.sweep.pruning import OptunaReporter, TrialLink

LEARNS = [0.5, 0.8, 0.9]
CHANCE = [0.1, 0.1, 0.1]


def _study(tmp_path, pruner):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize", pruner=build_pruner(pruner))
    leader = study.ask()
    for step, value in enumerate(LEARNS, start=1):
        leader.report(value, step)
        assert not leader.should_prune()  # successive halving records its rungs here
    study.tell(leader, max(LEARNS))
    trial = study.ask()
    link = TrialLink(storage=storage, study="s", number=trial.number, pruner=pruner, monitor="val/acc")
    return study, trial, OptunaReporter(link)


def _train(reporter, curve, max_epochs):
    """Validate after each epoch until the reporter stops training; the epochs trained."""
    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True, max_epochs=max_epochs, should_stop=False,
                              strategy=SimpleNamespace(broadcast=lambda value, src: value))
    for epoch, value in enumerate(curve):
        trainer.current_epoch, trainer.callback_metrics = epoch, {"val/acc": value}
        reporter.on_validation_end(trainer, None)
        if trainer.should_stop:
            return epoch + 1
    return len(curve)


@pytest.mark.parametrize("warmup, pruned_after", [(0, 1), (1, 1), (2, 2)])
def test_the_step_is_epochs_trained_so_warmup_counts_epochs(tmp_path, warmup, pruned_after):
    study, trial, reporter = _study(tmp_path, {"name": "median", "n_startup_trials": 1, "n_warmup_steps": warmup})
    assert _train(reporter, CHANCE, max_epochs=3) == pruned_after
    assert reporter.pruned_at == pruned_after
    stored = optuna_private.frozen(study, trial)
    assert sorted(stored.intermediate_values) == list(range(1, pruned_after + 1))


def test_a_successive_halving_rung_at_min_resource_falls_after_that_many_epochs(tmp_path):
    study, trial, reporter = _study(tmp_path, {"name": "successive_halving", "min_resource": 2,
                                               "reduction_factor": 2})
    assert _train(reporter, CHANCE, max_epochs=3) == 2


def test_a_trial_that_trained_its_whole_budget_is_not_pruned(tmp_path):
    # The warm-up lets the pruner act only at the last epoch, where the trial trails the leader: its training is
    # done, so it completes with its result instead of being pruned.
    study, trial, reporter = _study(tmp_path, {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 3})
    assert _train(reporter, CHANCE, max_epochs=3) == 3
    assert reporter.pruned_at is None
    assert sorted(optuna_private.frozen(study, trial).intermediate_values) == [1, 2, 3]
    assert optuna_private.frozen(study, trial).state == TrialState.RUNNING  # the driver tells, not the reporter
