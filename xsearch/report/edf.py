"""Error EDFs per value of each categorical knob the sweep varied (Radosavovic et al., "On Network Design
Spaces for Visual Recognition", 2019): F(e) is the fraction of models with error below e.

A design space whose curve lies to the upper left holds more good models. The
curves compare distributions of whole populations, not a best trial, so a knob
value that wins only by one lucky seed does not look better than it is.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from xsearch import contract
from xsearch.report import figure as fig
from xsearch.report.records import SweepData

NAME = "edf"
TITLE = "Error EDF"


def edf(errors: list[float]) -> dict:
    """The empirical distribution as a step function starting at 0: F jumps by 1/n at each sorted error."""
    ordered = sorted(errors)
    n = len(ordered)
    return {"error": [ordered[0], *ordered], "F": [0.0, *(np.arange(1, n + 1) / n).tolist()], "n": n,
            "min": ordered[0], "mean": statistics.fmean(ordered)}


@fig.styled
def plot_knob(data: SweepData, key: str, out_dir: Path) -> fig.Plot:
    name, title = f"{NAME}_{fig.slug(key)}", f"{TITLE} by {contract.short(key)}"
    records = [r for r in data.complete if key in r.params]
    curves = {}
    for value in contract.value_order(r.params[key] for r in records):
        curves[str(value)] = edf([1.0 - r.accuracy for r in records if r.params[key] == value])
    figure, (ax,) = fig.new(width=7, height=4.8)
    for i, (value, curve) in enumerate(curves.items()):
        label = f"{value}: n={curve['n']}, min {100 * curve['min']:.1f}%, mean {100 * curve['mean']:.1f}%"
        ax.step(100 * np.asarray(curve["error"]), curve["F"], where="post", linewidth=2,
                color=fig.COLORS[i % len(fig.COLORS)], label=label)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("error e, % (100 x (1 - test/acc))")
    ax.set_ylabel("F(e): fraction of models with error < e")
    ax.set_title(f"{title} ({len(records)} completed trials)")
    # Below the axes: the curves run corner to corner, and any corner inside may hide one of them.
    ax.legend(title=contract.short(key), loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    return fig.Plot(name, title, fig.save(figure, out_dir, name), {"key": key, "curves": curves})


def plots(data: SweepData, out_dir: Path) -> list[fig.Plot]:
    keys = data.varied()
    if not keys:
        reason = ("no completed trials" if not data.complete
                  else "the sweep varied no categorical knob among its completed trials")
        return [fig.skipped(NAME, TITLE, reason)]
    return [plot_knob(data, key, out_dir) for key in keys]
