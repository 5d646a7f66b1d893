"""Tables a document keeps in step with a study, so every figure in it can be recomputed from the records.

In a Markdown file, each `<!-- xsearch:NAME -->...<!-- /xsearch -->` is rewritten from the study (`python -m
xsearch.report <sweep dir> --fill FILE`); the rest of the file is left alone. The names:

- `headline`: what the study can tell, in one paragraph;
- `sensitivity`: which verdicts depend on sharing seed variance across points, and what sharing would change;
- `points`: each point's test accuracy over its seeds and test images, with the 95% interval;
- `comparisons`: every comparison and its verdict;
- `compare A vs B`: one comparison in brief (difference, interval, verdict), for a table cell;
- `looks`: a decided sweep's looks: seeds, verdicts, the seeds each added;
- `trials`: every trial: point, seed, the epoch validation chose, its val/acc, test/acc, wall time and images/s;
- `time`: the study's trials, their time in all and on how many workers;
- `agreement DIR`: whether the study in DIR (relative to the document), a shorter one, gives the same order and
  verdicts as this study (xsearch/report/agreement.py).

A document filled from several studies names each block's study, `<!-- xsearch:STUDY/NAME -->`: a fill rewrites
the blocks of its own study and the unnamed ones, and leaves the other studies' blocks as they are.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from pathlib import Path

from xsearch import contract
from xsearch.inference import sequential
from xsearch.inference.comparisons import PAPER_LABEL, Verdict, label
from xsearch.report import agreement
from xsearch.report.records import SweepData
from xsearch.report.verdicts import Findings, brief

BLOCK = re.compile(r"<!-- xsearch:(?P<name>[^>]*?) -->(?P<body>.*?)<!-- /xsearch -->", re.S)


class UnknownBlock(ValueError):
    """A block names no table this module makes, or a comparison the study does not have."""


def _signed(value: float) -> str:
    return f"{100 * value:+.1f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def _points(found: Findings, data: SweepData) -> str:
    rows = [[p["label"], p["seeds"], f"{p['mean']:.4f}",
             f"{p['interval']['low']:.4f} - {p['interval']['high']:.4f}" if p["interval"] else "one seed"]
            for p in found.points]
    return _table(["point", "seeds", contract.TEST_ACCURACY, "95% interval (new seeds and test images)"], rows)


def _comparisons(found: Findings, data: SweepData) -> str:
    return "\n".join(f"- {s}" for s in found.sentences())


def _looks(found: Findings, data: SweepData) -> str:
    if data.decided is None:
        return "No looks: the sweep was not decided (sweep.decide=false)."
    if not data.decided.looks:
        return f"No look yet: the first comes once every point has its {data.decided.schedule[0]} planned seeds."
    rows = [[i + 1, look.seeds, *(look.counts[v.value] for v in Verdict),
             ", ".join(f"{point}: +{n}" for point, n in look.added.items()) or "none (final)"]
            for i, look in enumerate(data.decided.looks)]
    table = _table(["look", "seeds a point", *(v.value for v in Verdict), "seeds added"], rows)
    retaken = [(old["look"], old["method"] or "the method before methods were recorded",
                sequential.Look.from_attr(old["seen"])) for old in data.decided.superseded]
    notes = [f"Look {n} was first taken by {method} ("
             + ", ".join(f"{seen.counts[v.value]} {v.value}" for v in Verdict) + "; seeds added: "
             f"{', '.join(f'{p}: +{k}' for p, k in seen.added.items()) or 'none'}), and re-taken from the same "
             f"trials by {data.decided.method}." for n, method, seen in retaken]
    return "\n\n".join([table, *notes])


def _trials(found: Findings, data: SweepData) -> str:
    keys = found.analysis.keys if found.analysis else []
    rows = []
    for r in data.records:
        summary, test = r.summary or {}, (r.summary or {}).get("test") or {}
        chosen = next((e for e in summary.get("history") or [] if e.get("epoch") == test.get("epoch")), {})
        rows.append([r.number, label({k: r.params.get(k) for k in keys}), r.params.get(contract.SEED, ""), r.state,
                     test.get("epoch", -1) + 1 if test else "", _float(chosen.get(contract.ACCURACY)),
                     _float(test.get("acc")), _float(summary.get("wall_time_s"), ".0f"),
                     _float(summary.get("images_per_s"), ".0f")])
    return _table(["trial", "point", "seed", "state", "epoch chosen", "val/acc there", contract.TEST_ACCURACY,
                   "wall s", "images/s"], rows)


def _float(value, spec: str = ".4f") -> str:
    return "" if value is None else format(value, spec)


def _time(found: Findings, data: SweepData) -> str:
    spans = [r.span for r in data.records if r.span]  # how long each ran, not how long until it was marked done
    durations = [stop - start for start, stop in spans]
    rates = [r.summary["images_per_s"] for r in data.complete if (r.summary or {}).get("images_per_s")]
    if not durations or not rates:
        return "no finished trial yet"
    return (f"{len(durations)} trials, {sum(durations) / 3600:.2f} hours of trial time in all, "
            f"{busy_seconds(spans) / 3600:.2f} hours of wall time while any ran "
            f"(median {statistics.median(durations) / 60:.1f} minutes a trial; images/s "
            f"{min(rates):.0f}-{max(rates):.0f})")


def busy_seconds(spans: list[tuple[float, float]]) -> float:
    """The length of the union of `spans`: the time something was running, each moment once, however many ran
    at once (workers in parallel) and leaving out the gaps between them (a study stopped and resumed later)."""
    total, end = 0.0, -math.inf
    for start, stop in sorted(spans):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def _in_space(point: str, data: SweepData) -> bool:
    """Whether `point`, a label, names values of the study's space: a comparison the study has not run yet, rather
    than a typo."""
    if point == PAPER_LABEL:
        return True
    values = {contract.knobs_text({key: value}) for key, options in data.choices.items() for value in options}
    return all(token in values for token in point.split())


def _compare(text: str) -> Callable[[Findings, SweepData], str]:
    a, _, b = text.partition(" vs ")

    def render(found: Findings, data: SweepData) -> str:
        for c in found.comparisons:
            if {c.a.label, c.b.label} == {a.strip(), b.strip()}:
                flipped = c.a.label != a.strip()
                if flipped and c.estimate is not None and c.estimate.known:  # the way round the document asks
                    interval = c.estimate.interval()
                    return (f"{_signed(-interval.estimate)} [{_signed(-interval.high)}, {_signed(-interval.low)}] "
                            f"points, {brief(c, found.analysis).rsplit(', ', 1)[-1]}")
                return brief(c, found.analysis)
        ran = {p.label for p in found.analysis.points} if found.analysis else set()
        sides = (a.strip(), b.strip())
        if not set(sides) <= ran and all(_in_space(side, data) for side in sides):  # a point yet to run
            return "not yet run"
        raise UnknownBlock(f"no comparison {a.strip()!r} vs {b.strip()!r} in the study; it has: "
                           + "; ".join(f"{c.a.label} vs {c.b.label}" for c in found.comparisons))

    return render


TABLES = {"headline": lambda found, data: found.headline, "sensitivity": lambda found, data: found.sensitivity,
          "points": _points, "comparisons": _comparisons, "looks": _looks, "trials": _trials, "time": _time}
INLINE = ("compare", "time", "headline", "sensitivity")


def fill(text: str, found: Findings, data: SweepData, base: Path = Path()) -> str:
    """`text` with every block of this study rewritten from `found` and `data`; `base` is the document's folder,
    which the paths blocks name are relative to."""

    def render(match: re.Match) -> str:
        name = match["name"].strip()
        first, _, argument = name.partition(" ")
        scope, _, kind = first.rpartition("/")
        if scope and scope != data.name:
            return match[0]  # another study's block
        if kind == "compare":
            body = _compare(argument)(found, data)
        elif kind == "agreement" and argument:
            shorter = base / argument.strip()
            if not shorter.is_dir():
                raise UnknownBlock(f"<!-- xsearch:{name} -->: {shorter} is no study folder")
            body = agreement.render(agreement.load_findings(shorter), found, (shorter.name, data.name))
        elif kind in TABLES and not argument:
            body = TABLES[kind](found, data)
        else:
            raise UnknownBlock(f"<!-- xsearch:{name} -->: no such table; valid: {', '.join(TABLES)}, compare A vs B, "
                               "agreement DIR")
        body = body if kind in INLINE else f"\n{body}\n"
        return f"<!-- xsearch:{name} -->{body}<!-- /xsearch -->"

    return BLOCK.sub(render, text)
