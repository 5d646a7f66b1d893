"""`python -m xsearch` / `xsearch`: train one point of the spectrum, or run a study with `+sweep=<name>`."""

from __future__ import annotations

import faulthandler
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from xsearch.validate import ConfigError

# SLURM presets (conf/hydra/launcher/): a sweep's worker job is one task that starts its trials itself; a single
# run gets one task per device.
OmegaConf.register_new_resolver(
    "xsearch_tasks_per_node", lambda sweep, devices: 1 if sweep is not None or not isinstance(devices, int) else devices,
    replace=True)


def config_dir() -> str:
    """The config tree: inside the installed package, or the checkout's top-level conf/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError(f"no config tree (conf/config.yaml) next to {here}")


def cli() -> None:
    """The command: refuses a password written into sweep.storage before Hydra saves the overrides anywhere."""
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") == "sweep.storage" and "@" in value:
            from xsearch.sweep.storage import PASSWORD_IN_URL, literal_password

            if literal_password(value):
                print(f"xsearch: config error: {PASSWORD_IN_URL}", file=sys.stderr)
                sys.exit(2)
    main()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def main(cfg: DictConfig) -> float | None:
    # Imported here so that `--help` answers before torch and Lightning load; the sweep driver (and the
    # report's plotting) only where a sweep runs, not in every trial process.
    from xsearch.settings import load_settings
    from xsearch.sweep.reporting import OptunaReporter, TrialLink
    from xsearch.training.run import summary_line, train

    link = TrialLink.from_env()  # set only in a trial process started by a sweep worker
    if link is not None:  # the sweep's watchdog asks a stalled trial where it is stuck before killing it
        faulthandler.register(signal.SIGQUIT, all_threads=True)
    try:
        if "sweep" in cfg and link is None:
            from xsearch.sweep.driver import run_sweep

            return run_sweep(cfg)
        settings = load_settings(cfg)
    except ConfigError as error:
        print(f"xsearch: config error: {error}", file=sys.stderr)
        sys.exit(2)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    reporter = OptunaReporter(link) if link is not None else None
    summary = train(settings, OmegaConf.to_container(cfg, resolve=True), run_dir, reporter=reporter)
    print(summary_line(summary))
    if summary["wandb"] and summary["wandb"]["mode"] == "offline":
        print(f"W&B offline run: {summary['wandb']['dir']} (upload: wandb sync {summary['wandb']['dir']})")
    return summary["objective"]
