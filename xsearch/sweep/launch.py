"""`python -m xsearch +sweep=<name>`: check the whole sweep before any trial is asked for (loading nothing of the
trials' machinery, so a typo is answered at once), run it, and stop it cleanly on a signal (a second one kills)."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf

from xsearch import contract
from xsearch.schema import ConfigError
from xsearch.settings.plan import plan
from xsearch.settings.run import load_settings
from xsearch.settings.sweep import SweepSettings, complete_points
from xsearch.sweep.planning import trial_config


def validate_space(base: Mapping[str, Any], sweep: SweepSettings) -> None:
    """Every key must exist in the config and every value must be valid, before any trial runs. (Each point's
    plan, made once by the driver, then refuses a combination of valid values that cannot run.)"""
    cfg = OmegaConf.create(dict(base))
    missing = object()
    for key in sweep.search_space.distributions:
        if OmegaConf.select(cfg, key, default=missing) is missing:
            raise ConfigError(f"sweep.space.{key} names no config key (e.g. model.segments, optim.lr)")
    for point in sweep.search_space.probe_points() + [dict(p) for p in sweep.enqueue]:
        try:
            load_settings(trial_config(base, point, study=sweep.name, monitor=sweep.objectives[0],
                                       sweep_dir=sweep.root))
        except ConfigError as error:
            raise ConfigError(f"sweep value {point} cannot run: {error}") from None


def prepare(cfg: DictConfig) -> tuple[dict[str, Any], SweepSettings]:
    """The base config and the sweep's settings, both checked, or a ConfigError saying what is wrong."""
    written = OmegaConf.to_container(cfg.sweep, resolve=False).get("storage")  # before interpolation
    if isinstance(written, str) and "@" in written:  # (the storage module loads SQLAlchemy: only where needed)
        from xsearch.studies.storage import PASSWORD_IN_URL, literal_password

        if literal_password(written):
            raise ConfigError(PASSWORD_IN_URL)
    missing = sorted(OmegaConf.missing_keys(cfg.sweep))  # keys a sweep built on conf/sweep_base.yaml left '???'
    if missing:
        raise ConfigError(f"{', '.join(missing)} not set: a sweep needs a name and a space, "
                          "e.g. sweep.name=mine '+sweep.space.model.segments=[1,4]' (see conf/sweep/)")
    node = OmegaConf.to_container(cfg.sweep, resolve=True)
    objectives = node.get("objectives") or []
    if objectives and objectives[0] in contract.EPOCH_METRICS:
        # Trials report the first objective; set before resolving, so `${monitor}` (a callback's) follows it too.
        cfg.monitor = objectives[0]
    values = OmegaConf.to_container(cfg, resolve=True)
    values.pop("sweep")
    plan(load_settings(values))  # the base config must be valid, and its data where it says, before any trial
    settings = SweepSettings.from_mapping(complete_points(node, values))
    if settings.storage is not None:
        from xsearch.studies.storage import check_url, is_journal

        if not is_journal(settings.storage):
            check_url(settings.storage)  # a missing database driver, before the sweep's folder is made
    validate_space(values, settings)
    return values, settings


def run_sweep(prepared: tuple[dict[str, Any], SweepSettings], on_finished=None) -> float | None:
    """Run the sweep `prepare` checked (`on_finished`: the driver's OnFinished)."""
    from xsearch.sweep.driver import Sweep  # with the trials' machinery: only once the config is good

    values, settings = prepared
    sweep = Sweep(values, settings)
    # SIGUSR2 is SLURM's warning before a time limit or preemption (submitit's --signal); SIGTERM a kill or a
    # preemption; SIGINT a Ctrl-C. Each stops the sweep the same clean way; a second one kills.
    previous = {sig: signal.getsignal(sig) for sig in contract.STOP_SIGNALS}

    def on_signal(signum, frame):
        if sweep.stopping.is_set():
            print(f"\nxsearch sweep: {signal.Signals(signum).name} again: killing the running trials now; they are "
                  "queued again, without a checkpoint.", flush=True)
        else:
            print(f"\nxsearch sweep: {signal.Signals(signum).name}: stopping; running trials save a checkpoint and "
                  "are queued again, the study stays consistent. Re-run the same command to resume. Send it again "
                  "to kill them at once.", flush=True)
        sweep.stop(signum)

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        study = sweep.run(on_finished)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if sweep.stopping.is_set():
        hand_on = previous.get(sweep.stopped_by)
        if sweep.stopped_by == signal.SIGUSR2 and callable(hand_on):
            hand_on(signal.SIGUSR2, None)  # submitit's handler: it requeues this job, which then resumes the study
        raise SystemExit(130)
    completed = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(settings.objectives) == 1 and completed:
        return study.best_value
    return None
