"""The report as one W&B run beside the trials: same group (the study), job type `report`, table and plots.
Its files go where the trials' go, <sweep dir>/wandb, so one `wandb sync <sweep dir>/wandb` uploads the sweep.

The mode follows the trials' rule (`auto`: WANDB_MODE if set, else online with
credentials and offline without), and the run is finished whatever happens, so
no half-open run is left behind by a failed upload or an interrupted report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xsearch import contract
from xsearch.redact import redact
from xsearch.report.figure import Plot
from xsearch.report.records import SweepData
from xsearch.report.table import counts
from xsearch.report.verdicts import COMPARISON_COLUMNS, POINT_COLUMNS, Findings
from xsearch.settings.logger import clean_wandb_mode_env, wandb_mode

JOB_TYPE = "report"
DEFAULT_PROJECT = "xsearch"


def sync_command(sweep_dir: Path) -> str:
    """The one command that uploads every offline W&B run of a sweep (a resumed trial's runs in order)."""
    return f"wandb sync {Path(sweep_dir) / contract.WANDB_DIR}"


def log_report(data: SweepData, names: list[str], rows: list[list[Any]], plots: list[Plot],
               sweep_dir: Path, found: Findings) -> dict[str, Any] | None:
    """Log the table and plots; the run's id, mode and directory (None when W&B is disabled)."""
    import wandb

    clean_wandb_mode_env()
    mode = wandb_mode("auto")
    if mode == "disabled":
        return None
    config = redact({"study": data.name, "storage": data.url, "objectives": data.objectives,
                     "directions": data.directions, "counts": counts(data), "trials": len(data.records)})
    try:
        run = wandb.init(project=data.project or DEFAULT_PROJECT, entity=data.entity, group=data.name,
                         job_type=JOB_TYPE, name=f"{data.name}-report", dir=str(sweep_dir), mode=mode,
                         config=config, reinit="finish_previous")
        # Columns hold ints and names alike (segments: 1, 'depthwise'): a typed table would refuse them.
        logged: dict[str, Any] = {"trials": wandb.Table(columns=names, data=rows, allow_mixed_types=True)}
        if found.points:
            logged["points"] = wandb.Table(columns=list(POINT_COLUMNS), data=found.point_rows(),
                                           allow_mixed_types=True)
        if found.comparisons:
            logged["comparisons"] = wandb.Table(columns=list(COMPARISON_COLUMNS), data=found.comparison_rows(),
                                                allow_mixed_types=True)
        for plot in plots:
            if plot.path is not None:
                logged[f"plots/{plot.name}"] = wandb.Image(str(plot.path), caption=plot.title)
        run.log(logged)
        for state, number in counts(data).items():
            run.summary[f"count/{state}"] = number
        run.summary["headline"] = found.headline
        if found.sensitivity:
            run.summary["sensitivity"] = found.sensitivity
        info = {"id": run.id, "mode": mode, "dir": str(Path(run.dir).parent),
                "url": None if run.offline else run.url}
    finally:
        wandb.finish()
    if mode == "offline":
        print(f"xsearch report: W&B run {info['id']} saved offline; upload it with every trial's run: "
              f"{sync_command(sweep_dir)}")
    else:
        print(f"xsearch report: W&B run {info['url']}")
    return info
