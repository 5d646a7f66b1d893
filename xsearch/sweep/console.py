"""What a person watching a sweep sees: a line per trial, the best so far, progress with an ETA, a final table."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from xsearch import contract
from xsearch.studies.trials import state_counts, trial_rows
from xsearch.sweep import bookkeeping


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class Console:
    def __init__(self, settings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self.total = settings.total
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.finished_here = 0
        self.busy = 0.0

    def _print(self, line: str) -> None:
        with self.lock:
            print(line, flush=True)

    def start(self, storage: str, done: int) -> None:
        self.started = time.monotonic()
        job = f" (job {self.settings.job})" if self.settings.job is not None else ""
        self._print(f"xsearch sweep {self.settings.name}{job}: {done}/{self.total} trials done, "
                    f"{self.workers} worker(s), objectives {', '.join(self.settings.objectives)} | storage {storage}")

    def trial_started(self, number: int, params: Mapping[str, Any], rerun: str) -> None:
        self._print(f"  trial {number} started: {contract.knobs_text(params)}\n    re-run alone: {rerun}")

    def trial_done(self, number: int, params: Mapping[str, Any], state: str, values: list[float] | None,
                   reason: str | None, seconds: float, study: optuna.Study | None = None) -> None:
        with self.lock:
            self.finished_here += 1
            self.busy += seconds
        metric = ", ".join(f"{o} {v:.4f}" for o, v in zip(self.settings.objectives, values)) if values else ""
        line = (f"[trial {number}] {state:<8} {metric or (reason or '')} | {contract.knobs_text(params)} | "
                f"{seconds:.1f} s")
        if study is not None:
            done = bookkeeping.counts(study).done
            line += f" | {done}/{self.total}" + self._eta(done) + self._best(study)
        self._print(line)

    def _eta(self, done: int) -> str:
        remaining = self.total - done
        if remaining <= 0 or not self.finished_here:
            return ""
        per_trial = self.busy / self.finished_here
        return f", ETA {_clock(per_trial * remaining / self.workers)}"

    def _best(self, study: optuna.Study) -> str:
        completed = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed or len(self.settings.objectives) > 1:
            return ""
        best = study.best_trial
        return f" | best {self.settings.objectives[0]} {best.value:.4f} (trial {best.number})"

    def finish(self, study: optuna.Study, root: Path) -> None:
        rows = trial_rows(study)
        counts = state_counts([row["state"] for row in rows])
        lines = [f"\nxsearch sweep {self.settings.name}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                 + f" in {_clock(time.monotonic() - self.started)}"]
        objectives = self.settings.objectives
        header = f"{'trial':>5}  {'state':<8}  " + "  ".join(f"{o:>10}" for o in objectives) + "  params"
        lines.append(header)
        for row in sorted(rows, key=lambda r: r["number"]):
            values = row["values"] or [None] * len(objectives)
            cells = "  ".join(f"{v:>10.4f}" if v is not None else f"{'-':>10}" for v in values)
            note = f"  ({row['reason']})" if row["reason"] and row["state"] == contract.State.FAILED else ""
            lines.append(f"{row['number']:>5}  {row['state']:<8}  {cells}  {contract.knobs_text(row['params'])}{note}")
        lines.append(f"results: {root / contract.RESULTS_JSON}, {root / contract.RESULTS_CSV}; trials: "
                     f"{root / contract.TRIALS_DIR}/<number>/")
        self._print("\n".join(lines))
