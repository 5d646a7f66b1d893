"""The spectrum: test accuracy against channel segments, from one full 3x3 conv (1) to depthwise, one line per
setting of the other swept knobs (the op order, say) that has two segment counts or more.

Each point is the mean over its seeds and test images with its 95% interval for new seeds and new images (the
verdicts' own, xsearch/inference/); dots are single seeds. `depthwise` has as many segments as channels, which
differ per layer; it sits one octave right of the largest integer, labelled by name.
"""

from __future__ import annotations

from pathlib import Path

from xsearch import contract
from xsearch.report import figure as fig
from xsearch.report.verdicts import Findings

NAME = "spectrum"
TITLE = "Accuracy along the spectrum"
SEGMENTS = "model.segments"


def positions(values: list) -> dict:
    """x position of each segments value on a log axis; 'depthwise' one octave past the largest integer."""
    integers = [v for v in values if isinstance(v, int)]
    top = max(integers, default=1)
    right = 1
    while right <= top:
        right *= 2
    return {v: (v if isinstance(v, int) else right) for v in values}


@fig.styled
def plot(found: Findings, out_dir: Path) -> fig.Plot:
    points = found.points
    if not points or SEGMENTS not in found.analysis.keys:
        return fig.skipped(NAME, TITLE, "the sweep did not vary segments (model.segments)")
    others = [k for k in found.analysis.keys if k != SEGMENTS]
    lines: dict[str, list[dict]] = {}
    for point in points:
        label = contract.knobs_text({k: point["params"][k] for k in others}) or "all points"
        lines.setdefault(label, []).append(point)
    lines = {label: members for label, members in lines.items() if len(members) >= 2}
    if not lines:
        return fig.skipped(NAME, TITLE, "no setting of the other knobs has two segment counts or more")
    segments = contract.value_order(p["params"][SEGMENTS] for members in lines.values() for p in members)
    where = positions(segments)
    order = {v: i for i, v in enumerate(segments)}
    series = {}
    figure, (ax,) = fig.new()
    nudge_step = 1.06  # lines side by side, not on top of each other: a small multiplicative nudge on a log axis
    for i, (label, members) in enumerate(lines.items()):
        members = sorted(members, key=lambda p: order[p["params"][SEGMENTS]])
        nudge = nudge_step ** (i - (len(lines) - 1) / 2)
        xs = [where[p["params"][SEGMENTS]] * nudge for p in members]
        means = [p["mean"] for p in members]
        low = [p["mean"] - (p["interval"] or {}).get("low", p["mean"]) for p in members]
        high = [(p["interval"] or {}).get("high", p["mean"]) - p["mean"] for p in members]
        color = fig.COLORS[i % len(fig.COLORS)]
        ax.errorbar(xs, means, yerr=[low, high], marker="o", markersize=6, capsize=4, linewidth=2, color=color,
                    label=label)
        for x, p in zip(xs, members):
            ax.scatter([x] * len(p["accuracies"]), p["accuracies"], s=14, color=color, alpha=0.35, zorder=3)
        series[label] = [{"segments": p["params"][SEGMENTS], "seeds": p["seeds"], "mean": p["mean"],
                          "interval": p["interval"], "accuracies": p["accuracies"]} for p in members]
    ax.set_xscale("log", base=2)
    ax.set_xticks([where[v] for v in segments], [str(v) for v in segments])
    ax.minorticks_off()
    ax.set_xlim(min(where.values()) / 1.6, max(where.values()) * 1.6)
    ax.set_xlabel("channel segments of the 3x3 step (log scale; depthwise = one per channel)")
    ax.set_ylabel("test accuracy (test/acc)")
    ax.set_title(f"{TITLE}\nline: mean; bars: 95% interval for new seeds and test images; dots: single seeds",
                 fontsize=11.5)
    ax.legend(loc="best", fontsize=8.5)
    return fig.Plot(NAME, TITLE, fig.save(figure, out_dir, NAME),
                    {"positions": {str(k): v for k, v in where.items()}, "series": series})
