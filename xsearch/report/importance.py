"""Which swept knobs the first objective depends on: Optuna's fANOVA importances over the completed trials.

fANOVA (Hutter et al. 2014) fits a random forest to the trials and splits its
variance by knob; it is seeded here so a report is the same every time it is
made. PED-ANOVA, Optuna's default, compares the top 10% of trials with the
rest, which says nothing until a study has a few dozen of them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
from optuna.importance import FanovaImportanceEvaluator, get_param_importances

from xsearch import contract
from xsearch.report import figure as fig
from xsearch.report.records import SweepData

NAME = "importance"
TITLE = "Parameter importance"
METHOD = "fANOVA"
MIN_TRIALS = 4


@fig.styled
def plot(study: optuna.Study, data: SweepData, out_dir: Path) -> fig.Plot:
    done = [r for r in data.records if r.state == contract.State.COMPLETE and r.values]
    if len(done) < MIN_TRIALS:
        return fig.skipped(NAME, TITLE, f"{len(done)} completed trial(s); importance needs at least {MIN_TRIALS}")
    varied = data.varied(done, keys=list(dict.fromkeys(k for r in done for k in r.params)))
    if not varied:
        return fig.skipped(NAME, TITLE, "no swept knob took two values among the completed trials")
    objective = data.objectives[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            scores = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0),
                                           target=lambda t: t.values[0])
    except (ValueError, RuntimeError) as error:  # e.g. no parameter shared by all completed trials
        return fig.skipped(NAME, TITLE, f"Optuna could not evaluate importances: {error}")
    keys = sorted(scores, key=scores.get)  # least important at the bottom of a horizontal bar chart
    figure, (ax,) = fig.new(width=7, height=1.6 + 0.45 * len(keys))
    bars = ax.barh(keys, [scores[k] for k in keys], color=fig.COLORS[0])
    ax.bar_label(bars, labels=[f"{scores[k]:.2f}" for k in keys], padding=3, fontsize=10)
    ax.set_xlim(0, max(1.0, max(scores.values()) * 1.15))
    ax.set_xlabel(f"importance for {objective} (fraction of variance, sums to 1)")
    ax.set_title(f"{TITLE} for {objective} ({METHOD}, {len(done)} completed trials)")
    ax.grid(axis="y", visible=False)
    data_out = {"method": METHOD, "objective": objective, "importances": dict(scores), "trials": len(done)}
    return fig.Plot(NAME, TITLE, fig.save(figure, out_dir, NAME), data_out)
