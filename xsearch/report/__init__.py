"""The sweep report: `write_report(sweeps/<name>)` -> sweeps/<name>/report/ with

- trials.csv: one row per trial (state and why, swept values, the knobs as built, cost, metrics, W&B id);
- summary.md: counts by state, what the sweep can tell (a headline, each point with its 95% interval, a verdict
  per comparison; see verdicts.py) and the best trials (also printed);
- one PNG per plot (each point with its interval, the spectrum, accuracy vs cost with the Pareto front, error
  EDFs, importance, learning curves);
- plots.json: the numbers each plot drew, or why it was skipped;
- index.html: all of the above on one self-contained page;
- a W&B run in the study's group (job type `report`) with the table and the plots;
- on request, the study's tables written into a Markdown document's `<!-- xsearch:... -->` blocks (blocks.py).

It reads the study and the trials' files only, so it runs on a finished study,
a failed one or one still running, as often as wanted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from xsearch import contract
from xsearch.report import blocks, curves, edf, importance, pareto, points, spectrum
from xsearch.report.figure import Plot, plt
from xsearch.report.html import write_html
from xsearch.report.records import SweepData, sweep_data
from xsearch.report.source import NoStudyError, load_study
from xsearch.report.table import markdown, table, write_csv
from xsearch.report.verdicts import Findings, findings

__all__ = ["NoStudyError", "write_report"]

OUTPUTS = ("trials.csv", "summary.md", "plots.json", "index.html")


def _plots(study, data: SweepData, out_dir: Path, found: Findings) -> list[Plot]:
    made = [points.plot(out_dir, found), spectrum.plot(found, out_dir), pareto.plot(data, out_dir),
            *edf.plots(data, out_dir), importance.plot(study, data, out_dir), curves.plot(data, out_dir)]
    plt.close("all")  # a figure left open by a plot that raised halfway would otherwise live on
    return made


def _clear(report_dir: Path) -> None:
    """Remove what an earlier report wrote, so a plot skipped this time leaves no stale PNG behind."""
    for path in [*report_dir.glob("*.png"), *(report_dir / name for name in OUTPUTS)]:
        path.unlink(missing_ok=True)


def write_report(sweep_dir, *, storage: str | None = None, study_name: str | None = None,
                 wandb: bool = True, fill: Sequence[Path] = ()) -> Path:
    """Write the report of the study in `sweep_dir` (default storage: its study.db) and return its directory.
    Each Markdown file in `fill` gets its `<!-- xsearch:... -->` blocks rewritten from the study (blocks.py).

    Raises FileNotFoundError when `sweep_dir`, the storage file or a file to fill does not exist, and NoStudyError (a
    ValueError) when the storage holds no study, several without `study_name`, or not the one named.
    """
    sweep_dir = Path(sweep_dir).expanduser().resolve()
    for path in map(Path, fill):  # before any work: a file to fill that is not there is a typo
        if not path.is_file():
            raise FileNotFoundError(f"--fill {path}: no such file (give the Markdown files to rewrite)")
    study, url = load_study(sweep_dir, storage=storage, study_name=study_name)
    data = sweep_data(study, url, sweep_dir)
    report_dir = sweep_dir / contract.REPORT_DIR
    report_dir.mkdir(parents=True, exist_ok=True)
    _clear(report_dir)

    found = findings(data)
    names, rows = table(data)
    write_csv(report_dir / "trials.csv", names, rows)
    summary = markdown(data, found)
    (report_dir / "summary.md").write_text(summary)
    print(summary)
    plots = _plots(study, data, report_dir, found)
    (report_dir / "plots.json").write_text(json.dumps([p.as_dict() for p in plots], indent=2, default=str))
    write_html(report_dir / "index.html", data, names, rows, plots, found)
    if wandb:
        from xsearch.report.wandb_run import log_report

        try:
            log_report(data, names, rows, plots, sweep_dir, found)
        except Exception as error:  # the files above are the report; a tracker that is down must not undo them
            print(f"xsearch report: could not log to W&B ({type(error).__name__}: {error}); the files are written")
    for path in map(Path, fill):
        path.write_text(blocks.fill(path.read_text(), found, data, path.parent))
        print(f"xsearch report: {path}: {len(blocks.BLOCK.findall(path.read_text()))} blocks from the study")
    print(f"xsearch report: {report_dir / 'index.html'}")
    return report_dir
