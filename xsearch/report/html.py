"""One self-contained page: summary, plots (PNG embedded as base64 data URIs) and the full trials table.

Nothing is fetched when it opens (no scripts, fonts or stylesheets from a
network), so it can be mailed, archived with the study or opened on a cluster
node as it is.
"""

from __future__ import annotations

import base64
import datetime
from html import escape
from pathlib import Path
from typing import Any

from xsearch import contract
from xsearch.redact import redact
from xsearch.report.figure import Plot
from xsearch.report.records import SweepData
from xsearch.report.table import best_records, counts
from xsearch.report.verdicts import POINT_COLUMNS, WORDING, Findings

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.text { text-align: left; white-space: normal; max-width: 28em; }
.scroll { overflow: auto; max-height: 70vh; }
.plot img { max-width: 100%; } .skip { color: #8a6d3b; background: #fcf8e3; padding: 0.5em 1em; }
.complete { color: #1a7f37; } .pruned { color: #9a6700; } .failed { color: #cf222e; }
.running, .waiting { color: #0969da; }
.headline { font-size: 1.1em; font-weight: 600; } .separated { color: #1a7f37; } .noise { color: #57606a; }
"""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return escape(str(value))


def _table(names: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = []
    for row in rows:
        cells = []
        for name, value in zip(names, row):
            css = f' class="{escape(str(value))}"' if name == "state" else (
                ' class="text"' if name == "reason" else "")
            cells.append(f"<td{css}>{_cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _image(path: Path, alt: str) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{encoded}">'


def _plots(plots: list[Plot]) -> str:
    parts = []
    for plot in plots:
        if plot.path is not None:
            parts.append(f'<div class="plot"><h3>{escape(plot.title)}</h3>{_image(plot.path, plot.title)}</div>')
        else:
            parts.append(f'<div class="plot"><h3>{escape(plot.title)}</h3>'
                         f'<p class="skip">Not drawn: {escape(plot.skipped or "no data")}.</p></div>')
    return "\n".join(parts)


def _summary(data: SweepData) -> str:
    counted = ", ".join(f'<span class="{escape(s)}">{n} {escape(s)}</span>' for s, n in counts(data).items())
    objectives = ", ".join(f"{escape(o)} ({escape(d)})" for o, d in zip(data.objectives, data.directions))
    best = best_records(data)
    rows = [[r.number, *r.values, r.cost["params"], r.cost["flops"],
             contract.knobs_text(r.params)] for r in best]
    title = "Pareto set" if len(data.directions) > 1 else f"Best trials by {data.objectives[0]}"
    table = (f"<h3>{escape(title)}</h3>" + _table(["trial", *data.objectives, "params", "FLOPs (MACs)", "swept knobs"],
                                                  rows)) if best else "<p>No trial has completed yet.</p>"
    return (f"<p>{len(data.records)} trials: {counted or 'none yet'}. Objectives: {objectives}. "
            f"Storage: <code>{escape(redact(data.url))}</code>.</p>{table}")


def _findings(found: Findings) -> str:
    """The headline, each point with its interval, and the verdicts."""
    parts = [f'<p class="headline">{escape(found.headline)}</p>']
    if found.sensitivity:
        parts.append(f"<p>{escape(found.sensitivity)}</p>")
    if found.points:
        parts.append("<h3>Points: test accuracy, 95% interval for new seeds and new test images</h3>"
                     + _table(list(POINT_COLUMNS), found.point_rows()))
    if found.comparisons:
        items = "".join(f'<li class="{WORDING[c.verdict].css}">{escape(text)}</li>'
                        for c, text in zip(found.comparisons, found.sentences()))
        parts.append(f"<h3>Comparisons</h3><ul>{items}</ul>")
    return "\n".join(parts)


def write_html(path: Path, data: SweepData, names: list[str], rows: list[list[Any]], plots: list[Plot],
               found: Findings) -> Path:
    made = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>xsearch sweep {escape(data.name)}</title>
<style>{STYLE}</style></head><body>
<h1>xsearch sweep <code>{escape(data.name)}</code></h1>
<p>Report made {made}. The table is also in <code>trials.csv</code>; every plot's numbers are in
<code>plots.json</code>.</p>
<h2>What the sweep can tell</h2>
{_findings(found)}
<h2>Summary</h2>
{_summary(data)}
<h2>Plots</h2>
{_plots(plots)}
<h2>All trials</h2>
{_table(names, rows)}
</body></html>
"""
    path.write_text(page)
    return path
