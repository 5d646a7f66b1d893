"""Learning curves: validation accuracy per epoch (each trial's summary history) of the best trials, and of the
pruned ones.

Side by side they show whether pruning stopped trials that were really behind,
or ones that start slowly and would have caught up.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.ticker import MaxNLocator

from xsearch import contract
from xsearch.report import figure as fig
from xsearch.report.records import SweepData, TrialRecord
from xsearch.report.table import best_records

NAME = "curves"
TITLE = "Learning curves"
BEST = 5
PRUNED = 10  # the most recent ones; more would be a grey smear


def _label(record: TrialRecord) -> str:
    return f"#{record.number} {contract.knobs_text(record.params)}"


@fig.styled
def plot(data: SweepData, out_dir: Path) -> fig.Plot:
    best = best_records(data)[:BEST]
    pruned = [r for r in data.records if r.state == contract.State.PRUNED][-PRUNED:]
    curves = {"best": {}, "pruned": {}}
    for kind, records in (("best", best), ("pruned", pruned)):
        for record in records:
            epochs, values = record.curve(contract.ACCURACY)
            if epochs:
                curves[kind][record.number] = {"epoch": epochs, contract.ACCURACY: values}
    if not curves["best"] and not curves["pruned"]:
        return fig.skipped(NAME, TITLE, "no best or pruned trial has a history with val/acc")
    figure, (ax,) = fig.new(width=8, height=4.8)
    for i, (number, curve) in enumerate(curves["best"].items()):
        record = next(r for r in data.records if r.number == number)
        ax.plot(curve["epoch"], curve[contract.ACCURACY], marker="o", markersize=4, linewidth=2,
                color=fig.COLORS[i % len(fig.COLORS)], label=_label(record))
    for i, curve in enumerate(curves["pruned"].values()):
        ax.plot(curve["epoch"], curve[contract.ACCURACY], marker="x", markersize=5, linewidth=1.2, linestyle="--",
                color="0.45", alpha=0.8, label=f"pruned (n={len(curves['pruned'])})" if i == 0 else None)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # a fractional tick would name an epoch that never was
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (val/acc)")
    shown = f"best {len(curves['best'])} by {data.objectives[0]} (solid)" + (
        f", {len(curves['pruned'])} pruned (dashed)" if curves["pruned"] else "")
    ax.set_title(f"{TITLE}: {shown}")
    # Below the axes: labels name every knob, and inside they would hide the curves they label.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=9, frameon=False)
    return fig.Plot(NAME, TITLE, fig.save(figure, out_dir, NAME), curves)
