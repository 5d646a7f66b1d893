"""The spectrum: accuracy against channel segments, from one full 3x3 conv (1) to depthwise, one line per op order.

Segments are read from each trial's model knobs as built (summary.json), so the
plot is right whether the sweep varied `model.segments` or fixed it per trial
some other way. `depthwise` has as many segments as channels, which differ per
layer; it sits one octave right of the largest integer, labelled by name.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from xsearch import contract
from xsearch.report import figure as fig
from xsearch.report import stats
from xsearch.report.records import SweepData, TrialRecord

NAME = "spectrum"
TITLE = "Accuracy along the spectrum"
SERIES_PREFERENCE = ("op_order",)
NOT_A_SERIES = ("segments", "seed")  # the x axis, and what the spread is taken over


def positions(values: list) -> dict:
    """x position of each segments value on a log axis; 'depthwise' one octave past the largest integer."""
    integers = [v for v in values if isinstance(v, int)]
    top = max(integers, default=1)
    right = 1
    while right <= top:
        right *= 2
    return {v: (v if isinstance(v, int) else right) for v in values}


def series_key(data: SweepData, records: list[TrialRecord]) -> str | None:
    """The categorical knob that gives one line each: op_order if it varied, else another varied knob."""
    varied = data.varied(records)
    for preferred in SERIES_PREFERENCE:
        for key in varied:
            if contract.short(key) == preferred:
                return key
    return next((k for k in varied if contract.short(k) not in NOT_A_SERIES), None)


def _points(data: SweepData) -> list[TrialRecord]:
    return [r for r in data.complete
            if "segments" in r.knobs and "segments" not in (r.summary or {}).get("not_applicable", [])]


@fig.styled
def plot(data: SweepData, out_dir: Path) -> fig.Plot:
    records = _points(data)
    if not records:
        return fig.skipped(NAME, TITLE, "no completed trial of a separable network")
    segments = fig.value_order(r.knobs["segments"] for r in records)
    if len(segments) < 2:
        return fig.skipped(NAME, TITLE, f"the sweep did not vary segments (every completed trial: {segments[0]})")
    key = series_key(data, records)
    intervals = all(r.score is not None for r in records)  # else the validation sizes were not recorded
    where = positions(segments)
    groups = fig.value_order(r.params.get(key) for r in records) if key else [None]
    series = {}
    for group in groups:
        members = [r for r in records if key is None or r.params.get(key) == group]
        line = {"segments": [], "x": [], "mean": [], "low": [], "high": [], "min": [], "max": [], "std": [], "n": [],
                "trials": []}
        for value in segments:
            at = [r for r in members if r.knobs["segments"] == value]
            if not at:
                continue
            accuracies = [r.accuracy for r in at]
            line["segments"].append(value)
            line["x"].append(where[value])
            line["mean"].append(statistics.fmean(accuracies))
            interval = stats.mean_interval([r.score for r in at]) if intervals else None
            line["low"].append(interval.low if interval else None)
            line["high"].append(interval.high if interval else None)
            line["min"].append(min(accuracies))
            line["max"].append(max(accuracies))
            line["std"].append(statistics.pstdev(accuracies))
            line["n"].append(len(at))
            line["trials"].append([r.number for r in at])
        series["all trials" if key is None else str(group)] = line

    figure, (ax,) = fig.new()
    spread = 1.06  # lines side by side, not on top of each other: a small multiplicative nudge on a log axis
    for i, (label, line) in enumerate(series.items()):
        nudge = spread ** (i - (len(series) - 1) / 2)
        xs = [x * nudge for x in line["x"]]
        color = fig.COLORS[i % len(fig.COLORS)]
        # Bars: the 95% interval of the mean (over seeds, or one trial's binomial interval) where validation sizes
        # were recorded, else the min-max of the trials.
        low = [m - lo for m, lo in zip(line["mean"], line["low"] if intervals else line["min"])]
        high = [hi - m for m, hi in zip(line["mean"], line["high"] if intervals else line["max"])]
        ax.errorbar(xs, line["mean"], yerr=[low, high], marker="o", markersize=6, capsize=4, linewidth=2,
                    color=color, label=f"{label} (n={sum(line['n'])})")
        for x, members in zip(xs, line["trials"]):
            accuracies = [r.accuracy for r in records if r.number in members]
            ax.scatter([x] * len(accuracies), accuracies, s=14, color=color, alpha=0.35, zorder=3)
    ax.set_xscale("log", base=2)
    ax.set_xticks([where[v] for v in segments], [str(v) for v in segments])
    ax.minorticks_off()
    ax.set_xlim(min(where.values()) / 1.6, max(where.values()) * 1.6)
    ax.set_xlabel("channel segments of the 3x3 step (log scale; depthwise = one per channel)")
    ax.set_ylabel("best validation accuracy (val/acc)")
    most = max(n for line in series.values() for n in line["n"])
    bars = "95% interval" if intervals else "min-max"
    ax.set_title(f"{TITLE}\nline: mean; bars: {bars}; dots: single trials (up to {most} per point, e.g. seeds)",
                 fontsize=11.5)
    ax.legend(title=contract.short(key) if key else None, loc="best")
    data_out = {"key": key, "positions": {str(k): v for k, v in where.items()}, "series": series}
    return fig.Plot(NAME, TITLE, fig.save(figure, out_dir, NAME), data_out)
