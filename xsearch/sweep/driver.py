"""A sweep's driver: an Optuna study over the spectrum, worked by asynchronous workers.

There is no batch barrier: each worker asks for its next trial the moment its last one ends, and runs it in a
process of its own (xsearch/sweep/trial.py). Re-running the same command resumes the study: finished trials
are kept, `n_trials` is the study's total, sampler and pruner come from the config.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

from xsearch import contract, outcomes
from xsearch.process import cpus
from xsearch.process.trial import TrialProcess
from xsearch.process.zygote import Zygote, forkable
from xsearch.process.zygote import take as take_zygote
from xsearch.redact import redact
from xsearch.schema import ConfigError
from xsearch.settings import components
from xsearch.settings.sweep import SweepSettings
from xsearch.studies import optuna_private
from xsearch.studies.lock import file_lock, study_lock
from xsearch.studies.storage import open_storage, stale_after, storage_url
from xsearch.sweep import bookkeeping, fusing, identity
from xsearch.sweep.console import Console
from xsearch.sweep.decide import Decider, Step
from xsearch.sweep.grid import grid_sampler
from xsearch.sweep.planning import TrialPlans
from xsearch.sweep.pruning import TrialLink
from xsearch.sweep.resources import WORKER, gpu_slices, trial_environment
from xsearch.sweep.results import write_results
from xsearch.sweep.trial import outcome, rerun_command

# Heartbeats are Optuna's documented way to find dead workers; driving them with ask/tell is deliberate.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")

LOOK_POLL_S = 5.0  # how often a worker waiting for a decided sweep's look asks again

# Called once nothing is left to run, by one job at a time: (sweep folder, storage URL, study name).
OnFinished = Callable[[Path, str, str], None]


class Sweep:
    def __init__(self, base: dict[str, Any], settings: SweepSettings) -> None:
        self.base = base
        self.settings = settings
        self.root = settings.root
        self.root.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives here
        self.url = storage_url(settings.storage, self.root)
        storage = open_storage(self.url, heartbeat=settings.heartbeat,
                               on_stale=bookkeeping.stale_callback(settings.retries))
        self.plans = TrialPlans(base, study=settings.name, monitor=settings.objectives[0], limits=settings.limits,
                                sweep_dir=self.root)
        self.sampler = sampler = (grid_sampler(settings) if components.is_grid(settings.sampler)
                                  else settings.build_sampler())
        if settings.orders_by_cost:
            sampler.longest_first(self.plans.relative_cost)
        self.study = identity.open_study(storage, base, settings, sampler=sampler, pruner=settings.build_pruner(),
                                         shown_url=redact(self.url))
        stored = [d.name.lower() for d in self.study.directions]
        if stored != settings.directions:
            raise ConfigError(f"study {settings.name!r} in {redact(self.url)} optimizes {stored}, but "
                              f"sweep.objectives asks for {settings.directions}: use another sweep.name or storage")
        # Optuna's own record of the objectives' names: its plots, optuna-dashboard and the report show them.
        self.study.set_metric_names(list(settings.objectives))
        self.space = settings.search_space
        self.decider = Decider(settings) if settings.decide else None
        if self.decider is not None:
            self.decider.record_plan(self.study)
        devices = base["trainer"].get("devices", 1)
        self.workers, self.gpus = gpu_slices(settings.workers, devices if isinstance(devices, int) else 1)
        self.threads, busy = cpus.threads_for(self.workers)
        if busy:
            print(f"xsearch sweep: {busy}", flush=True)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.running: dict[int, TrialProcess] = {}
        self.console = Console(settings, self.workers)
        self.stopped_by: int | None = None  # the signal that stopped this sweep
        self.killed = False  # a second signal: trials killed at once, no report

    def enqueue_first(self) -> None:
        """Queue `sweep.enqueue`'s trials into a new study, once: under the study's lock, so that two drivers
        starting together do not both find it empty and queue them twice."""
        if not self.settings.enqueue:
            return
        with study_lock(optuna_private.storage(self.study), self.settings.name):
            if not self.study.trials:
                for params in self.settings.enqueue:
                    self.study.enqueue_trial(dict(params))

    def run(self, on_finished: OnFinished | None = None) -> optuna.Study:
        """Work the study until it has its trials (or is stopped); then write the results and, where this is
        the last job with work, call `on_finished` (the app makes the report there)."""
        self.enqueue_first()
        self.console.start(redact(self.url), bookkeeping.counts(self.study).done)
        threads = [threading.Thread(target=self._worker, args=(i,), name=f"worker-{i}", daemon=True)
                   for i in range(self.workers)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.2)
        self._write_outputs(on_finished)
        return self.study

    def _write_outputs(self, on_finished: OnFinished | None) -> None:
        # Several worker jobs may share this directory: one writes at a time, and the report (and its W&B run)
        # only once nothing is left to run, so the last job to finish writes the complete picture.
        with file_lock(self.root / contract.OUTPUTS_LOCK):
            write_results(self.study, self.settings, self.root, self.url)
            self.console.finish(self.study, self.root)
            if self.killed:
                print(f"xsearch sweep: killed, no report written; make it with: python -m xsearch.report {self.root}",
                      flush=True)
                return
            if bookkeeping.counts(self.study).pending and not self.stopping.is_set():
                print("xsearch sweep: other workers are still running trials; the last one writes the report",
                      flush=True)
                return
            if on_finished is not None:
                on_finished(self.root, self.url, self.settings.name)

    def stop(self, signum: int | None = None) -> None:
        """Stop asking; tell running trials to stop (they checkpoint, are failed and queued again to resume).
        Asked a second time, kill them at once instead (they are failed and queued again, without a checkpoint)."""
        if self.stopping.is_set():
            self.killed = True
            for process in list(self.running.values()):
                process.kill()
            return
        self.stopped_by = self.stopped_by or signum
        self.stopping.set()
        for process in list(self.running.values()):
            process.terminate()

    def _next_trial(self) -> list[tuple[optuna.Trial, dict[str, Any]]] | Step | None:
        """The next trial and its values (with `sweep.fuse`, up to that many trials of its point that differ only
        in their seeds); None when the study has all it needs; Step.WAIT when a decided sweep's look waits for
        running trials. Asking and sampling hold this driver's lock and the study's own
        (xsearch/studies/lock.py), which every driver of the study shares: two that sampled at the same moment
        would otherwise both take the grid's next free point."""
        with self.lock, study_lock(optuna_private.storage(self.study), self.settings.name):
            while True:
                optuna.storages.fail_stale_trials(self.study)
                bookkeeping.fail_silent_trials(self.study, stale_after(self.settings.heartbeat),
                                               max_retries=self.settings.retries)
                done, pending, queued = bookkeeping.counts(self.study)
                if self.stopping.is_set():
                    return None
                if done + pending >= self.settings.total and not queued:
                    step = self.decider.step(self.study) if self.decider is not None else Step.DONE
                    if step != Step.RUN:
                        return None if step == Step.DONE else step
                    continue
                trial = self.study.ask()
                if not bookkeeping.is_surplus(self.study, trial, self.settings.total):
                    break
                trial.set_user_attr(contract.SURPLUS, True)  # another process took the last slot first
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            params = self.space.suggest(trial)
            # A first beat at once: a trial whose worker dies before its process starts is still found stale.
            optuna_private.beat(self.study, trial)
            group = [(trial, params)]
            while len(group) < self.settings.fuse and trial.user_attrs.get(contract.RESUME_FROM) is None:
                another = fusing.another_seed(self.study, self.sampler, self.space, params, self.settings.total)
                if another is None:
                    break
                group.append(another)
            return group

    def _worker(self, index: int) -> None:
        # Started before the first ask, so its imports overlap with the study's set-up.
        warm = self.settings.fork_trials and forkable(self.base["trainer"])
        zygote = take_zygote({**os.environ, "OMP_NUM_THREADS": str(self.threads)}) if warm else None
        try:
            while not self.stopping.is_set():
                asked = self._next_trial()
                if asked is None:
                    return
                if asked is Step.WAIT:  # a decided sweep's look waits for the other workers' trials
                    self.stopping.wait(LOOK_POLL_S)
                    continue
                try:
                    self._run(asked, index, zygote)
                except Exception as error:  # a bug of xsearch's own: fail these trials, say why, go on
                    traceback.print_exc()
                    for trial, _ in asked:
                        bookkeeping.fail_if_running(self.study, trial,
                                                    f"xsearch error: {type(error).__name__}: {error}")
        finally:
            if zygote is not None:
                zygote.close()

    def _run(self, group: list[tuple[optuna.Trial, dict[str, Any]]], index: int, zygote: Zygote | None) -> None:
        """Run one trial, or a fused group of one point's seeds in one process (each stays its own trial)."""
        started = time.monotonic()
        ready = [(trial, params, folder, config) for trial, params in group
                 if (prepared := self._prepare(trial, params, started)) is not None
                 for folder, config in [prepared]]
        if not ready:
            return
        (trial, params, trial_dir, config), *others = ready
        env = trial_environment(self.threads, self.gpus[index])
        links = [TrialLink(storage=self.url, study=self.settings.name, number=t.number,
                           pruner=dict(self.settings.pruner), monitor=self.settings.objectives[0])
                 for t, *_ in ready]
        warm = zygote is not None and forkable(config["trainer"])  # a zygote found dead falls back in TrialProcess
        process = TrialProcess(trial_dir=trial_dir, number=trial.number,
                               link=TrialLink.group_to_env(links) if others else links[0].to_env(), env=env,
                               study=self.study, heartbeat=self.settings.heartbeat, stopping=self.stopping,
                               zygote=zygote if warm else None, stall_timeout=self.settings.stall_timeout,
                               trial_timeout=self.settings.trial_timeout,
                               fused=[(t.number, folder) for t, _, folder, _ in others])
        for t, *_ in ready:
            self.running[t.number] = process
        try:
            code = process.run()
        finally:
            for t, *_ in ready:
                self.running.pop(t.number, None)
        for _, _, folder, _ in others:  # the group's one log, in each member's folder
            shutil.copyfile(trial_dir / contract.TRIAL_LOG, folder / contract.TRIAL_LOG)
        for t, p, folder, _ in ready:
            self._finish(t, p, folder, code, process, started)

    def _prepare(self, trial: optuna.Trial, params: dict[str, Any], started: float) -> tuple[Path, dict] | None:
        """The trial's folder and trial.yaml (with its plan), its cost in the study; None for one that must not
        train (over budget, or an invalid combination), which is failed here."""
        trial_dir = contract.trial_dir(self.root, trial.number)
        trial_dir.mkdir(parents=True, exist_ok=True)
        config = self.plans.config(params)
        resume = trial.user_attrs.get(contract.RESUME_FROM)
        if resume is not None and Path(resume).is_file():
            config["resume"] = resume
            bookkeeping.carry_reports(self.study, trial)
        (trial_dir / contract.TRIAL_CONFIG).write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
        checked = self.plans.check(params)
        if checked.plan is not None:
            trial.set_user_attr(contract.PARAMS_COUNT, checked.plan.params)
            trial.set_user_attr(contract.FLOPS, checked.plan.flops)
        trial.set_user_attr(contract.DIR, str(trial_dir))
        trial.set_user_attr(contract.WORKER, WORKER)
        if checked.rejected is not None:  # never trains: over budget or an invalid combination
            bookkeeping.fail(self.study, trial, checked.rejected, retry=False, max_retries=0)
            self.console.trial_done(trial.number, params, contract.State.FAILED, None, checked.rejected,
                                    time.monotonic() - started)
            return None
        self.console.trial_started(trial.number, params, rerun_command(trial_dir))
        return trial_dir, config

    def _finish(self, trial: optuna.Trial, params: dict[str, Any], trial_dir: Path, code: int,
                process: TrialProcess, started: float) -> None:
        """What the trial's end means, told to the study."""
        result = outcome(code, trial_dir, self.settings.objectives, interrupted=self.stopping.is_set(),
                         aborted=process.aborted)
        scored = outcomes.of_run(trial_dir)
        if scored is not None:  # into the study, so its verdicts need nothing but the study (pruned trials too)
            trial.set_user_attr(contract.TEST_OUTCOMES, scored.to_attr())
        if result.state == optuna.trial.TrialState.FAIL:
            retried = bookkeeping.fail(self.study, trial, result.reason, retry=result.retry,
                                       max_retries=self.settings.retries, resume=result.checkpoint,
                                       stalled=result.stalled)
            reason = result.reason + (" (queued again)" if retried else "")
        else:
            self.study.tell(trial, values=result.values, state=result.state)
            reason = None
        self.console.trial_done(trial.number, params, contract.State.of_trial(result.state), result.values, reason,
                                time.monotonic() - started, study=self.study)
