"""`python -m xsearch +sweep=<name>`: an Optuna study over the spectrum with asynchronous workers.

There is no batch barrier: each worker asks for its next trial the moment its
last one ends. Re-running the same command resumes the study: finished trials
are kept, `n_trials` is the study's total, sampler and pruner come from config.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import torch
from omegaconf import DictConfig, OmegaConf

from xsearch.report import write_report
from xsearch.settings import load_settings
from xsearch.sweep import study as book
from xsearch.sweep.console import Console
from xsearch.sweep.reporting import TrialLink
from xsearch.sweep.results import write_results
from xsearch.sweep.settings import SweepSettings
from xsearch.sweep.storage import PASSWORD_IN_URL, heartbeat_enabled, literal_password, open_storage, shown, storage_url
from xsearch.sweep.trial import (TRIAL_CONFIG, TrialProcess, check, outcome, relative_cost, rerun_command,
                                  trial_config)
from xsearch.sweep.zygote import Zygote
from xsearch.validate import ConfigError

_MISSING = object()
# Heartbeats are Optuna's documented way to find dead workers; driving them with ask/tell is deliberate.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def validate_space(base: Mapping[str, Any], sweep: SweepSettings) -> None:
    """Every key must exist in the config and every value must build, before any trial runs."""
    cfg = OmegaConf.create(dict(base))
    for key in sweep.search_space().distributions:
        if OmegaConf.select(cfg, key, default=_MISSING) is _MISSING:
            raise ConfigError(f"sweep.space.{key} names no config key (e.g. model.segments, optim.lr)")
    for point in sweep.search_space().probe_points() + [dict(p) for p in sweep.enqueue]:
        try:
            load_settings(trial_config(base, point, study=sweep.name, monitor=sweep.objectives[0]))
        except ConfigError as error:
            raise ConfigError(f"sweep value {point} cannot run: {error}") from None


def gpu_slices(workers: int | None, devices_per_trial: int) -> tuple[int, list[str | None]]:
    """How many workers, and the CUDA_VISIBLE_DEVICES of each (None on a CPU-only machine).

    Slices are cut from the GPUs this process may use (SLURM sets CUDA_VISIBLE_DEVICES to a job's own GPUs).
    """
    gpus = torch.cuda.device_count()
    if gpus == 0:
        return workers or 1, [None] * (workers or 1)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    names = visible.split(",")[:gpus] if visible else [str(i) for i in range(gpus)]
    count = workers or max(1, gpus // devices_per_trial)
    slices = [",".join(names[(i * devices_per_trial + d) % gpus] for d in range(devices_per_trial))
              for i in range(count)]
    return count, slices


# Which process ran a trial: the host and the SLURM job (or the driver's pid).
WORKER = f"{socket.gethostname()}:{os.environ.get('SLURM_JOB_ID') or os.getpid()}"


def forkable(trainer: Mapping[str, Any]) -> bool:
    """Whether a trial may be forked from a warm zygote. Not a multi-device one: Lightning starts its other
    ranks by re-running the process's command line, which must then be `python -m xsearch ...`."""
    return trainer.get("devices", 1) in (1, "1", "auto", [0])


def cpu_count() -> int:
    """CPUs this process may use: a SLURM job's allocation, not the whole node."""
    allocated = os.environ.get("SLURM_CPUS_PER_TASK") or os.environ.get("SLURM_CPUS_ON_NODE")
    return int(allocated) if allocated else len(os.sched_getaffinity(0))


def trial_environment(threads: int, gpus: str | None) -> dict[str, str | None]:
    """What a trial process sees beyond the worker's own environment (None: removed)."""
    env: dict[str, str | None] = {"OMP_NUM_THREADS": str(threads)}
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpus
    # A trial is a plain process inside the worker's allocation, not a SLURM task: with SLURM_* visible,
    # Lightning would expect srun to have started its DDP ranks and would not start them itself.
    env.update({key: None for key in os.environ if key.startswith("SLURM_")})
    return env


class Sweep:
    def __init__(self, base: dict[str, Any], settings: SweepSettings) -> None:
        self.base = base
        self.settings = settings
        self.root = settings.root
        self.root.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives here
        self.url = storage_url(settings.storage, self.root)
        storage = open_storage(self.url, heartbeat=settings.heartbeat,
                               on_stale=book.stale_callback(settings.retries))
        sampler = settings.build_sampler()
        if settings.orders_by_cost:
            sampler.longest_first(lambda point: relative_cost(
                trial_config(base, point, study=settings.name, monitor=settings.objectives[0]), settings.limits))
        self.study = optuna.create_study(storage=storage, study_name=settings.name,
                                         sampler=sampler, pruner=settings.build_pruner(),
                                         directions=settings.directions, load_if_exists=True)
        stored = [d.name.lower() for d in self.study.directions]
        if stored != settings.directions:
            raise ConfigError(f"study {settings.name!r} in {shown(self.url)} optimizes {stored}, but sweep.objectives "
                              f"asks for {settings.directions}: use another sweep.name or storage")
        self.study.set_user_attr("objectives", list(settings.objectives))  # names for the report
        self.space = settings.search_space()
        devices = base["trainer"].get("devices", 1)
        self.workers, self.gpus = gpu_slices(settings.workers, devices if isinstance(devices, int) else 1)
        self.threads = max(1, cpu_count() // self.workers)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.running: dict[int, TrialProcess] = {}
        self.console = Console(settings, self.workers)
        self.stopped_by: int | None = None  # the signal that stopped this sweep
        self.killed = False  # a second signal: trials killed at once, no report

    def run(self) -> optuna.Study:
        if self.settings.enqueue and not self.study.trials:
            for params in self.settings.enqueue:
                self.study.enqueue_trial(dict(params))
        self.console.start(shown(self.url), book.counts(self.study).done)
        threads = [threading.Thread(target=self._worker, args=(i,), name=f"worker-{i}", daemon=True)
                   for i in range(self.workers)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.2)
        self._write_outputs()
        return self.study

    def _write_outputs(self) -> None:
        # Several worker jobs may share this directory: one writes at a time, and the report (and its W&B run)
        # only once nothing is left to run, so the last job to finish writes the complete picture.
        with open(self.root / ".outputs.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            write_results(self.study, self.settings, self.root, self.url)
            self.console.finish(self.study, self.root)
            if self.killed:
                print(f"xsearch sweep: killed, no report written; make it with: python -m xsearch.report {self.root}",
                      flush=True)
                return
            if book.counts(self.study).pending and not self.stopping.is_set():
                print("xsearch sweep: other workers are still running trials; the last one writes the report",
                      flush=True)
                return
            try:
                write_report(self.root, storage=self.url, study_name=self.settings.name,
                             wandb=self.base["logger"]["name"] == "wandb")
            except Exception as error:  # the study and results stand; the report can be re-made on its own
                print(f"xsearch sweep: the report failed ({type(error).__name__}: {error}); "
                      f"re-run it with: python -m xsearch.report {self.root}", flush=True)

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

    def _next_trial(self) -> optuna.Trial | None:
        with self.lock:
            while True:
                optuna.storages.fail_stale_trials(self.study)
                done, pending, queued = book.counts(self.study)
                if self.stopping.is_set() or (done + pending >= self.settings.total and not queued):
                    return None
                trial = self.study.ask()
                if not book.is_surplus(self.study, trial, self.settings.total):
                    break
                trial.set_user_attr(book.SURPLUS, True)  # another process took the last slot first
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            # A first beat at once: a trial whose worker dies before its process starts is still found stale.
            if heartbeat_enabled(self.study._storage):
                self.study._storage.record_heartbeat(trial._trial_id)
            return trial

    def _worker(self, index: int) -> None:
        # Started before the first ask, so its imports overlap with the study's set-up.
        warm = self.settings.fork_trials and forkable(self.base["trainer"])
        zygote = Zygote({**os.environ, "OMP_NUM_THREADS": str(self.threads)}) if warm else None
        try:
            while not self.stopping.is_set():
                trial = self._next_trial()
                if trial is None:
                    return
                try:
                    self._run_trial(trial, index, zygote)
                except Exception as error:  # a bug of xsearch's own: fail this trial, say why, go on
                    traceback.print_exc()
                    book.fail_if_running(self.study, trial, f"xsearch error: {type(error).__name__}: {error}")
        finally:
            if zygote is not None:
                zygote.close()

    def _run_trial(self, trial: optuna.Trial, index: int, zygote: Zygote | None) -> None:
        started = time.monotonic()
        params = self.space.suggest(trial)
        trial_dir = self.root / "trials" / str(trial.number)
        trial_dir.mkdir(parents=True, exist_ok=True)
        config = trial_config(self.base, params, study=self.settings.name, monitor=self.settings.objectives[0])
        resume = trial.user_attrs.get(book.RESUME)
        if resume is not None and Path(resume).is_file():
            config["resume"] = resume
            book.carry_reports(self.study, trial)
        (trial_dir / TRIAL_CONFIG).write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
        architecture, rejected = check(config, self.settings.limits)
        if architecture is not None:
            trial.set_user_attr("params_count", architecture["params"])
            trial.set_user_attr("flops", architecture["flops"])
        trial.set_user_attr("dir", str(trial_dir))
        trial.set_user_attr("worker", WORKER)
        if rejected is not None:  # never trains: over budget or an invalid combination
            book.fail(self.study, trial, rejected, retry=False, max_retries=0)
            self.console.trial_done(trial.number, params, "FAIL", None, rejected, time.monotonic() - started)
            return
        self.console.trial_started(trial.number, params, rerun_command(trial_dir))
        env = trial_environment(self.threads, self.gpus[index])
        link = TrialLink(storage=self.url, study=self.settings.name, trial_id=trial._trial_id, number=trial.number,
                         pruner=dict(self.settings.pruner), monitor=self.settings.objectives[0])
        warm = zygote is not None and forkable(config["trainer"])  # a zygote found dead falls back in TrialProcess
        process = TrialProcess(trial_dir=trial_dir, link=link, env=env, storage=self.study._storage,
                               heartbeat=self.settings.heartbeat, stopping=self.stopping,
                               zygote=zygote if warm else None, stall_timeout=self.settings.stall_timeout,
                               trial_timeout=self.settings.trial_timeout)
        self.running[trial.number] = process
        try:
            code = process.run()
        finally:
            self.running.pop(trial.number, None)
        result = outcome(code, trial_dir, self.settings.objectives, interrupted=self.stopping.is_set(),
                         aborted=process.aborted)
        if result.state == optuna.trial.TrialState.FAIL:
            retried = book.fail(self.study, trial, result.reason, retry=result.retry,
                                max_retries=self.settings.retries, resume=result.checkpoint, stalled=result.stalled)
            reason = result.reason + (" (queued again)" if retried else "")
        else:
            self.study.tell(trial, values=result.values, state=result.state)
            reason = None
        self.console.trial_done(trial.number, params, result.state.name, result.values, reason,
                                time.monotonic() - started, study=self.study)


def run_sweep(cfg: DictConfig) -> float | None:
    written = OmegaConf.to_container(cfg.sweep, resolve=False).get("storage")  # before interpolation
    if isinstance(written, str) and literal_password(written):
        raise ConfigError(PASSWORD_IN_URL)
    missing = sorted(OmegaConf.missing_keys(cfg.sweep))  # keys a sweep built on conf/sweep_base.yaml left '???'
    if missing:
        raise ConfigError(f"{', '.join(missing)} not set: a sweep needs a name and a space, "
                          "e.g. sweep.name=mine '+sweep.space.model.segments=[1,4]' (see conf/sweep/)")
    values = OmegaConf.to_container(cfg, resolve=True)
    settings = SweepSettings.from_mapping(values.pop("sweep"))
    load_settings(values)  # the base config must be valid before any trial is asked for
    validate_space(values, settings)
    sweep = Sweep(values, settings)
    # SIGUSR2 is SLURM's warning before a time limit or preemption (submitit's --signal); SIGTERM a kill or a
    # preemption; SIGINT a Ctrl-C. Each stops the sweep the same clean way.
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)}

    def on_signal(signum, frame):
        if sweep.stopping.is_set():
            print(f"\nxsearch sweep: {signal.Signals(signum).name} again: killing the running trials now; they are "
                  "queued again, without a checkpoint.", flush=True)
        else:
            print(f"\nxsearch sweep: {signal.Signals(signum).name}: stopping; running trials save a checkpoint and "
                  "are queued again, the study stays consistent. Re-run the same command to resume. Send it again "
                  "to kill them at once.", flush=True)
        sweep.stop(signum)

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        study = sweep.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if sweep.stopping.is_set():
        hand_on = previous.get(sweep.stopped_by)
        if sweep.stopped_by == signal.SIGUSR2 and callable(hand_on):
            hand_on(signal.SIGUSR2, None)  # submitit's handler: it requeues this job, which then resumes the study
        raise SystemExit(130)
    completed = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(settings.objectives) == 1 and completed:
        return study.best_value
    return None
