"""The study's results as files a program can read: results.json (with the Pareto set) and results.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna

from xsearch import contract
from xsearch.redact import redact
from xsearch.studies.trials import state_counts, trial_rows


def write_results(study: optuna.Study, settings, root: Path, url: str) -> dict:
    rows = [{k: v for k, v in row.items() if k != "trial"} for row in trial_rows(study)]
    completed = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    counts = state_counts([row["state"] for row in rows])
    best = [t.number for t in study.best_trials] if completed else []
    results = {
        "study": settings.name,
        "storage": redact(url),
        "objectives": list(settings.objectives),
        "directions": settings.directions,
        "n_trials": settings.total,
        "counts": counts,
        "best_trials": best,  # one number for a single objective; the Pareto set for several
        "trials": rows,
    }
    (root / contract.RESULTS_JSON).write_text(json.dumps(results, indent=2, default=str))
    keys = sorted({k for row in rows for k in row["params"]})
    with open(root / contract.RESULTS_CSV, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["number", "state", *keys, *settings.objectives, "duration_s", "reason", "retried", "best"])
        for row in rows:
            values = row["values"] or [None] * len(settings.objectives)
            writer.writerow([row["number"], row["state"], *(row["params"].get(k) for k in keys), *values,
                             row["duration_s"], row["reason"], row["retried"], row["number"] in best])
    return results
