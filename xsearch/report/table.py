"""The trials table (one row per trial, every column a reader may sort by) and the Markdown summary.

Swept values keep their config keys (`model.segments`, `seed`); the knobs the
network was actually built with are prefixed `knob.` (`knob.width` is the
solved width, which a swept `model.width` need not equal under a budget).
Metrics are `final/<metric>` (last epoch) and `best/<metric>` (the epoch best
by the monitored metric, as summary.json has it; `best/epoch` counts from 0), all
on the validation images that choose; `test/acc` is the trial's score on the test
images, once, at the epoch chosen (`test/epoch`), with the Wilson interval of that
seed on other images (`test_low`, `test_high`).
`wall_time_s` is the run's own time; `duration_s` the trial's in the study,
which also holds its process starting, so the two differ most on tiny runs.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from xsearch import contract
from xsearch.report.pareto import dominates
from xsearch.report.records import SweepData, TrialRecord
from xsearch.report.verdicts import Findings

BEST_SHOWN = 5
FAILED_SHOWN = 10  # a sweep where everything fails needs the first reasons, not all of them


def value_columns(data: SweepData) -> list[str]:
    return ["value"] if len(data.directions) == 1 else [f"value_{i}" for i in range(len(data.directions))]


def columns(data: SweepData) -> list[str]:
    records = data.records
    params = list(dict.fromkeys(k for r in records for k in r.params))
    knobs = list(dict.fromkeys(f"knob.{k}" for r in records for k in r.knobs))
    metrics = [f"{when}/{m}" for when in ("final", "best") for m in contract.EPOCH_METRICS
               if any(m in ((r.summary or {}).get(when) or {}) for r in records)]
    return ["number", "state", "reason", "retried_by", "retry_of", *params, *value_columns(data), *knobs,
            "params", "flops", *metrics, "best/epoch", contract.TEST_ACCURACY, "test_low", "test_high", "test_images",
            "test/epoch", "image_set", "epochs", "wall_time_s", "duration_s", "wandb_id"]


def row(record: TrialRecord, data: SweepData) -> dict[str, Any]:
    summary = record.summary or {}
    values = record.values or [None] * len(data.directions)
    cells: dict[str, Any] = {"number": record.number, "state": record.state, "reason": record.reason,
                             "retried_by": record.retried_by, "retry_of": record.retry_of, **record.params,
                             **dict(zip(value_columns(data), values)),
                             **{f"knob.{k}": v for k, v in record.knobs.items()},
                             "params": record.cost["params"], "flops": record.cost["flops"]}
    for when in ("final", "best"):
        for metric, value in (summary.get(when) or {}).items():
            cells[f"{when}/{metric}"] = value
    best = summary.get("best") or {}
    cells["best/epoch"] = int(best["epoch"]) if best.get("epoch") is not None else None
    interval = record.accuracy_interval  # this seed on other test images like these
    if interval is not None:
        test = summary.get("test") or {}
        cells.update({contract.TEST_ACCURACY: interval.estimate, "test_low": interval.low, "test_high": interval.high,
                      "test_images": record.outcomes.images, "test/epoch": test.get("epoch"),
                      "image_set": record.outcomes.image_set})
    cells["epochs"] = summary.get("epochs")
    cells["wall_time_s"] = summary.get("wall_time_s")  # the run's own measure: building, data, fit, W&B
    cells["duration_s"] = record.duration_s  # the whole trial in the study: process start, imports, W&B too
    cells["wandb_id"] = (summary.get("wandb") or {}).get("id")
    return cells


def table(data: SweepData) -> tuple[list[str], list[list[Any]]]:
    names = columns(data)
    return names, [[row(r, data).get(name) for name in names] for r in data.records]


def write_csv(path: Path, names: list[str], rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows([["" if v is None else v for v in r] for r in rows])
    return path


def counts(data: SweepData) -> dict[str, int]:
    """Trials by state, in the order a run moves through them (complete first)."""
    order = list(contract.State)
    counted: dict[str, int] = {}
    for record in sorted(data.records, key=lambda r: order.index(r.state) if r.state in order else len(order)):
        counted[record.state] = counted.get(record.state, 0) + 1
    return counted


def best_records(data: SweepData) -> list[TrialRecord]:
    """The best trials by the first objective, best first (for several objectives: the Pareto set)."""
    done = [r for r in data.records if r.state == contract.State.COMPLETE and r.values]
    if len(data.directions) > 1:
        front = [r for r in done if not any(dominates(o.values, r.values, data.directions) for o in done)]
        return sorted(front, key=lambda r: _sort_key(r, data))
    return sorted(done, key=lambda r: _sort_key(r, data))[:BEST_SHOWN]


def _sort_key(record: TrialRecord, data: SweepData) -> tuple[float, int]:
    value = record.values[0]
    return (-value if data.directions[0] == "maximize" else value, record.number)




def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return f"{value / 1e6:.2f}M" if isinstance(value, int) and value >= 10_000 else str(value)


def markdown(data: SweepData, found: Findings) -> str:
    """The summary a person reads in the terminal: counts by state, what the sweep can tell (the headline,
    points with intervals, verdicts), the best trials, why trials failed."""
    counted = counts(data)
    states = ", ".join(f"{n} {s}" for s, n in counted.items()) or "no trials yet"
    objectives = ", ".join(f"{o} ({d})" for o, d in zip(data.objectives, data.directions))
    lines = [f"## xsearch sweep `{data.name}`: {len(data.records)} trials ({states})", "",
             f"Objectives: {objectives}", "", *found.markdown(), ""]
    best = best_records(data)
    title = "Pareto set" if len(data.directions) > 1 else f"Best trials by {data.objectives[0]}"
    if best:
        header = ["trial", *data.objectives, contract.TEST_ACCURACY, "this seed, 95% on other images", "params",
                  "FLOPs (MACs)", "swept knobs"]
        lines += [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for record in best:
            interval = record.accuracy_interval
            cells = [record.number, *record.values, interval.estimate if interval else None,
                     f"{interval.low:.4f} - {interval.high:.4f}" if interval else None,
                     record.cost["params"], record.cost["flops"], contract.knobs_text(record.params)]
            lines.append("| " + " | ".join(_number(c) for c in cells) + " |")
    else:
        lines.append("No trial has completed yet.")
    failed = [r for r in data.records if r.state == contract.State.FAILED]
    if failed:
        lines += ["", "### Failed", ""]
        for record in failed[:FAILED_SHOWN]:
            note = f" (re-run as trial {record.retried_by})" if record.retried_by is not None else ""
            lines.append(f"- trial {record.number}: {(record.reason or 'no reason recorded')[:160]}{note}")
        if len(failed) > FAILED_SHOWN:
            lines.append(f"- ... and {len(failed) - FAILED_SHOWN} more: see the reason column of trials.csv")
    return "\n".join(lines) + "\n"
