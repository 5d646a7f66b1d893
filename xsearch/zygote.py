"""The warm process a sweep worker forks its trials from (the worker's side is xsearch/sweep/forking.py).

A fresh `python -m xsearch` spends about 5 s importing torch, Lightning, Hydra and W&B before it trains; a
sweep of short trials would spend much of its time there. The zygote imports them once and forks each trial
from that state (no thread and no CUDA context exists in it yet, so the fork is clean). A trial is still its
own process, in its own session, with its own environment, working directory, log and exit status: exactly
the `python -m xsearch` run its `trial.yaml` re-runs, minus the imports.

It reads one request per line on stdin and answers on stdout (the protocol is in xsearch/sweep/forking.py);
the end of its input ends it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from xsearch.contract import STOP_SIGNALS


def _run_trial(request: Mapping[str, Any]) -> int:
    """In the forked child: become `python -m xsearch <args>` and return its exit code."""
    os.setsid()  # like start_new_session: a Ctrl-C in the terminal reaches the driver, not the trial
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = [sys.argv[0], *request["args"]]

    import torch

    # OpenMP read OMP_NUM_THREADS when torch was imported, in the zygote: apply the trial's own.
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from xsearch.app import cli

    try:
        cli()
        return 0
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1


def serve() -> None:
    # Everything a trial imports, imported once. (Nothing here may start a thread or touch CUDA.)
    import optuna  # noqa: F401
    import pytorch_lightning  # noqa: F401
    import torch  # noqa: F401

    import xsearch.app  # noqa: F401
    import xsearch.settings.plan  # noqa: F401
    import xsearch.sweep.pruning  # noqa: F401
    import xsearch.training.run  # noqa: F401

    try:  # W&B only where it is installed: logger=csv runs without it
        import wandb  # noqa: F401
    except ImportError:
        pass

    # The zygote outlives no worker (it ends with its input) and must survive what stops a trial: SLURM signals
    # every process of a job, and a trial that is told to checkpoint still needs its zygote to report its end.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        out.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _run_trial(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _, status = os.waitpid(pid, 0)
        out.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        out.flush()
    # Its input ended: nothing is left to do, and finalizing torch and Lightning would keep the worker that
    # waits for this process ~1.2 s longer.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    serve()
