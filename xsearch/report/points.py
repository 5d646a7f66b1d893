"""Every point of the sweep with its 95% interval over new seeds and new test images: the mean as a bar's centre,
each seed as a dot.

The one plot that fits any sweep (residual or not, an activation, a width): where the spectrum plot has no
segments to lay out, this still shows whether the intervals overlap.
"""

from __future__ import annotations

from pathlib import Path

from xsearch.report import figure as fig
from xsearch.report.verdicts import Findings

NAME = "points"
TITLE = "Each point with its 95% interval"


@fig.styled
def plot(out_dir: Path, found: Findings) -> fig.Plot:
    if not found.points:
        return fig.skipped(NAME, TITLE, found.headline)
    points = found.points
    figure, (ax,) = fig.new(height=max(2.4, 0.45 * len(points) + 1.6))
    for row, point in enumerate(points):
        interval = point["interval"]
        if interval is None:  # one seed: no interval over seeds
            ax.plot([point["mean"]], [row], marker="o", markersize=6, color=fig.COLORS[0])
        else:
            ax.errorbar([interval["estimate"]], [row], xerr=[[interval["estimate"] - interval["low"]],
                                                             [interval["high"] - interval["estimate"]]],
                        marker="o", markersize=6, capsize=4, color=fig.COLORS[0])
        seeds = point["accuracies"]
        ax.scatter(seeds, [row] * len(seeds), s=14, color=fig.COLORS[1], alpha=0.6, zorder=3)
    ax.set_yticks(range(len(points)), [p["label"] for p in points])
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy at the epoch validation chose (test/acc)")
    ax.set_title(f"{TITLE}\nbar: mean, 95% interval for new seeds and images; dots: single seeds", fontsize=11.5)
    return fig.Plot(NAME, TITLE, fig.save(figure, out_dir, NAME), {"points": points})
