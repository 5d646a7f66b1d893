"""`python -m xsearch` / `xsearch`: train one point of the spectrum, or run a study with `+sweep=<name>`.

The one place that wires the parts together: settings and plan for a run, the sweep's pruning callback into
a trial's training, and "sweep finished" into the report. The config is checked, and a run planned, before
torch and Lightning load, so a typo is answered in under a second, in one line, with exit status 2: Hydra's own
errors (an unknown key or group option) included.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from xsearch import contract
from xsearch.hydra_errors import explain_hydra_error
from xsearch.model.config import knob_defaults
from xsearch.process import cpus
from xsearch.process.exit import finish_fast
from xsearch.schema import ConfigError
from xsearch.settings.logger import LoggerSettings
from xsearch.settings.sweep import SweepSettings


# SLURM presets (conf/hydra/launcher/): a sweep's worker job is one task that starts its trials itself; a single
# run gets one task per device.
def _tasks_per_node(sweep, devices) -> int:
    return 1 if sweep is not None or not isinstance(devices, int) else devices


OmegaConf.register_new_resolver("xsearch_tasks_per_node", _tasks_per_node, replace=True)
# `model=xception` is the paper's network: XceptionConfig's defaults, their one home (the data sets the rest).
ConfigStore.instance().store(group="model", name="xception", node={**knob_defaults(), "budget": None})
# What every sweep starts from (conf/sweep_base.yaml): SweepSettings' defaults, their one home.
ConfigStore.instance().store(name="sweep_defaults", node=SweepSettings.defaults(), package="sweep")


# Hydra launchers that come with an extra: {launcher option prefix: (what provides it, the install)}. Hydra
# itself would only say it cannot load the option's parent config.
LAUNCHER_EXTRAS = {"slurm": ("hydra_plugins.hydra_submitit_launcher", "pip install 'xsearch[slurm]'")}


def cli() -> None:
    """The command: refuses a password written into sweep.storage before Hydra saves the overrides anywhere,
    and a launcher whose extra is not installed before Hydra fails to compose it. `--fused DIR...`: the trials in
    those folders, trained together (a sweep worker starts it; `fused_main`)."""
    if sys.argv[1:2] == [contract.FUSED_FLAG]:
        finish_fast(fused_main([Path(d) for d in sys.argv[2:]]))
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") == "sweep.storage" and "@" in value:
            from xsearch.studies.storage import PASSWORD_IN_URL, literal_password

            if literal_password(value):
                config_error(PASSWORD_IN_URL)
        if key.lstrip("+") == "hydra/launcher":
            for prefix, (module, install) in LAUNCHER_EXTRAS.items():
                if value.startswith(prefix) and importlib.util.find_spec(module) is None:
                    config_error(f"hydra/launcher={value} needs {module.split('.')[-1]}, which is not installed: "
                                 f"{install}")
    full_errors = os.environ.get("HYDRA_FULL_ERROR") == "1"  # the user's own: Hydra's traces, unchanged
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its composition errors to us, which word them in a line
    try:
        main()
    except SystemExit as done:
        finish_fast(done.code)
    except Exception as error:
        message = None if full_errors else explain_hydra_error(error, sys.argv[1:])
        if message is None:
            raise
        config_error(message)
    finish_fast(0)


def fused_main(dirs: list[Path]) -> int:
    """Train the trials whose folders are `dirs` (each holding its trial.yaml) as one fused network; each writes
    its own summary and outcomes. 0 once every member's result is written, whatever each came to; 2 for a group
    that cannot be fused (then no member has a summary, and each fails with the reason)."""
    from omegaconf import OmegaConf

    from xsearch.process import signals
    from xsearch.settings.plan import given, plan
    from xsearch.settings.run import check_targets, load_settings
    from xsearch.sweep.pruning import CopyReporter, TrialLink
    from xsearch.training.fused.run import Member, train_fused

    links = TrialLink.group_from_env()
    if links is not None:
        signals.answer_watchdog()
    members, planned = [], None
    try:
        for index, folder in enumerate(dirs):
            config = OmegaConf.to_container(OmegaConf.load(folder / contract.TRIAL_CONFIG), resolve=True)
            settings = load_settings(config)
            planned = planned or given(config) or plan(settings)
            check_targets(settings)
            members.append(Member(settings, config, folder, progress=folder / contract.PROGRESS if links else None,
                                  report=CopyReporter(links[index]) if links else None))
        train_fused(members, planned)
    except ConfigError as error:
        print(f"xsearch: config error: {error}", file=sys.stderr, flush=True)
        return 2
    return 0


def config_error(message: object) -> None:
    print(f"xsearch: config error: {message}", file=sys.stderr)
    sys.exit(2)


def write_report(root: Path, url: str, study: str, *, wandb: bool) -> None:
    """What a sweep does once nothing is left to run: its report. The study and results stand without it."""
    from xsearch.report import write_report as report

    try:
        report(root, storage=url, study_name=study, wandb=wandb)
    except Exception as error:
        print(f"xsearch sweep: the report failed ({type(error).__name__}: {error}); "
              f"re-run it with: python -m xsearch.report {root}", flush=True)


@hydra.main(version_base="1.3", config_path=str(contract.config_dir()), config_name="config")
def main(cfg: DictConfig) -> float | None:
    driving = "sweep" in cfg and contract.TRIAL_ENV not in os.environ  # a sweep's driver, not one of its trials
    try:
        if driving:
            from xsearch.sweep.launch import prepare

            prepared = prepare(cfg)
        else:
            from xsearch.settings.plan import given, plan
            from xsearch.settings.run import load_settings

            config = OmegaConf.to_container(cfg, resolve=True)
            settings = load_settings(config)
            planned = given(config) or plan(settings)  # a sweep trial's plan was made by its driver
    except ConfigError as error:
        config_error(error)
    if not driving:  # before torch loads: OpenMP reads its thread count once
        threads, busy = cpus.threads_for(1)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        if busy:
            print(f"xsearch: {busy}", flush=True)
    # The config is good: now what training needs (torch, Lightning: seconds).
    from pytorch_lightning.utilities.exceptions import MisconfigurationException

    from xsearch.process import signals
    from xsearch.settings.run import check_targets
    from xsearch.sweep.pruning import OptunaReporter, TrialLink
    from xsearch.training.run import summary_line, train

    if driving:
        from xsearch.process import zygote
        from xsearch.sweep.launch import run_sweep

        if prepared[1].fork_trials and zygote.forkable(cfg.trainer):
            # Now: this driver has imported what a trial needs (torch, Lightning: ~5 s) and runs no thread yet,
            # so the first worker's zygote can be this process forked, sparing it those imports.
            zygote.start_early(cli)
        tracked = bool(LoggerSettings.from_node(OmegaConf.to_container(cfg.logger, resolve=True)).wandb)
        return run_sweep(prepared, lambda root, url, study: write_report(root, url, study, wandb=tracked))
    link = TrialLink.from_env()  # set only in a trial process started by a sweep worker
    if link is not None:
        signals.answer_watchdog()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        check_targets(settings)  # the loggers' and callbacks' classes: importable, and what they should be
        summary = train(settings, config, run_dir, planned=planned,
                        callbacks=[OptunaReporter(link)] if link is not None else [],
                        progress_file=run_dir / contract.PROGRESS if link is not None else None)
    except ConfigError as error:
        config_error(error)
    except MisconfigurationException as error:  # Lightning refused a trainer setting
        config_error(f"trainer: {error}")
    print(summary_line(summary))
    if summary["wandb"] and summary["wandb"]["mode"] == "offline":
        print(f"W&B offline run: {summary['wandb']['dir']} (upload: wandb sync {summary['wandb']['dir']})")
    return summary["objective"]
