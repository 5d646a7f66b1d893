"""`python -m xsearch` / `xsearch`: train one point of the spectrum, or run a study with `+sweep=<name>`.

The one place that wires the parts together: settings and plan for a run, the sweep's pruning callback into
a trial's training, and "sweep finished" into the report. Everything heavy is imported inside `main`, so
`--help` answers before torch and Lightning load.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from xsearch import contract
from xsearch.model.config import XceptionConfig
from xsearch.validate import ConfigError

# SLURM presets (conf/hydra/launcher/): a sweep's worker job is one task that starts its trials itself; a single
# run gets one task per device.
def _tasks_per_node(sweep, devices) -> int:
    return 1 if sweep is not None or not isinstance(devices, int) else devices


OmegaConf.register_new_resolver("xsearch_tasks_per_node", _tasks_per_node, replace=True)
# `model=xception` is the paper's network: XceptionConfig's defaults, their one home (the data sets the rest).
ConfigStore.instance().store(group="model", name="xception", node={
    **{k: v for k, v in dataclasses.asdict(XceptionConfig()).items() if k not in ("num_classes", "in_channels")},
    "budget": None})


def cli() -> None:
    """The command: refuses a password written into sweep.storage before Hydra saves the overrides anywhere."""
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") == "sweep.storage" and "@" in value:
            from xsearch.studies.storage import PASSWORD_IN_URL, literal_password

            if literal_password(value):
                config_error(PASSWORD_IN_URL)
    main()


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
    from pytorch_lightning.utilities.exceptions import MisconfigurationException

    from xsearch.settings.plan import plan
    from xsearch.settings.run import load_settings
    from xsearch.sweep.pruning import OptunaReporter, TrialLink
    from xsearch.training.run import summary_line, train

    link = TrialLink.from_env()  # set only in a trial process started by a sweep worker
    if link is not None:  # the sweep's watchdog asks a stalled trial where it is stuck before killing it
        faulthandler.register(signal.SIGQUIT, all_threads=True)
    try:
        if "sweep" in cfg and link is None:
            from xsearch.sweep.launch import run_sweep

            tracked = cfg.logger.name == "wandb"
            return run_sweep(cfg, lambda root, url, study: write_report(root, url, study, wandb=tracked))
        config = OmegaConf.to_container(cfg, resolve=True)
        settings = load_settings(config)
        planned = plan(settings)
    except ConfigError as error:
        config_error(error)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = train(settings, config, run_dir, planned=planned,
                        callbacks=[OptunaReporter(link)] if link is not None else [],
                        progress_file=run_dir / contract.PROGRESS if link is not None else None)
    except MisconfigurationException as error:  # Lightning refused a trainer setting
        config_error(f"trainer: {error}")
    print(summary_line(summary))
    if summary["wandb"] and summary["wandb"]["mode"] == "offline":
        print(f"W&B offline run: {summary['wandb']['dir']} (upload: wandb sync {summary['wandb']['dir']})")
    return summary["objective"]
