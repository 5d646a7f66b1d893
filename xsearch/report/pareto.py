"""Accuracy against cost (parameters, FLOPs), with the Pareto front: no other trial is as accurate for less.

`flops` is counted as multiply-accumulates per image, as everywhere in xsearch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import EngFormatter, MaxNLocator, NullFormatter

from xsearch.report import figure as fig
from xsearch.report.records import SweepData

NAME = "pareto"
TITLE = "Accuracy vs cost"
COSTS = {"params": "trainable parameters", "flops": "FLOPs: multiply-accumulates per image"}
LOG_SPAN = 3.0  # costs spanning less than this factor read better on a linear axis (e.g. an equal-budget sweep)
MIN_TRIALS = 2


def dominates(a: list[float], b: list[float], directions: list[str]) -> bool:
    """Whether values `a` are at least as good as `b` in every objective and better in one. Equal values do not
    dominate each other, so ties all stay on a front."""
    signs = [1 if d == "maximize" else -1 for d in directions]
    return (all(s * x >= s * y for s, x, y in zip(signs, a, b))
            and any(s * x > s * y for s, x, y in zip(signs, a, b)))


def front(points: list[tuple[int, float, float]]) -> list[int]:
    """Numbers of the non-dominated (number, cost, accuracy) points: maximize accuracy, minimize cost."""
    directions = ["minimize", "maximize"]
    return sorted(n for n, c, a in points if not any(dominates([oc, oa], [c, a], directions) for _, oc, oa in points))


def _cost_axis(ax, costs: list[float], label: str, count: int = 5) -> None:
    """Round ticks named 200k / 1.5M. Costs spanning a factor of LOG_SPAN or more get a log axis with about
    `count` ticks evenly spaced in log (matplotlib's own log ticks either name nothing or pile up near a
    decade's end); narrower spans, as in an equal-budget sweep, a linear axis, where log ticks would overlap."""
    low, high = min(costs), max(costs)
    if high >= LOG_SPAN * low:
        ax.set_xscale("log")
        ticks = sorted({float(f"{t:.2g}") for t in np.geomspace(low, high, count)})
        ax.set_xlim(low / 1.2, high * 1.2)
        ax.set_xticks(ticks)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"{label} (log scale)")
    else:
        pad = (high - low) * 0.08 or low * 0.02
        ax.set_xlim(low - pad, high + pad)
        ax.xaxis.set_major_locator(MaxNLocator(count))
        ax.set_xlabel(label)
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))


@fig.styled
def plot(data: SweepData, out_dir: Path) -> fig.Plot:
    records = [r for r in data.complete if all(r.cost.get(c) for c in COSTS)]
    if len(records) < MIN_TRIALS:
        return fig.skipped(NAME, TITLE, f"{len(records)} completed trial(s) with a known cost; "
                                        f"a front needs at least {MIN_TRIALS}")
    figure, axes = fig.new(width=12, height=4.8, ncols=2)
    out = {}
    for ax, (cost, label) in zip(axes, COSTS.items()):
        points = [(r.number, r.cost[cost], r.accuracy) for r in records]
        on_front = front(points)
        out[cost] = {"points": [{"number": n, "cost": c, "accuracy": a} for n, c, a in points], "pareto": on_front}
        rest = [p for p in points if p[0] not in on_front]
        best = sorted((p for p in points if p[0] in on_front), key=lambda p: (p[1], p[2]))
        ax.scatter([p[1] for p in rest], [p[2] for p in rest], s=30, color=fig.COLORS[0], alpha=0.6,
                   label=f"other trials (n={len(rest)})")
        ax.scatter([p[1] for p in best], [p[2] for p in best], s=55, color=fig.COLORS[3], zorder=4,
                   edgecolor="black", linewidth=0.6, label=f"Pareto front (n={len(best)})")
        if len(best) > 1:
            ax.step([p[1] for p in best], [p[2] for p in best], where="post", color=fig.COLORS[3], linewidth=1.5)
        for number, x, y in best:
            ax.annotate(f"#{number}", (x, y), textcoords="offset points", xytext=(5, 5), fontsize=9)
        _cost_axis(ax, [p[1] for p in points], label)
        ax.set_ylabel("test accuracy (test/acc)")
        ax.set_title(f"Accuracy vs {'parameters' if cost == 'params' else 'FLOPs'}")
        ax.legend(loc="best")
    figure.suptitle(f"{TITLE}. Pareto front: no other trial is as accurate for less", y=1.02)
    return fig.Plot(NAME, TITLE, fig.save(figure, out_dir, NAME), out)
