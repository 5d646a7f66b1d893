"""The SLURM launcher: submits the jobs as hydra-submitit-launcher does and waits with xsearch.sweep.jobs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

try:  # the [slurm] extra; Hydra imports every plugin module at start, so without it this one defines nothing
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:  # the class below is then a plain one Hydra does not register, and `hydra/launcher=slurm`
    SlurmLauncher = None  # says which install it needs (xsearch.app.cli)

EXECUTOR_KEYS = ("submitit_folder", "max_num_timeout")  # given to the executor itself, not as job parameters


class StudySlurmLauncher(SlurmLauncher or object):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        from xsearch.sweep import jobs as waiting

        executor = submitit.AutoExecutor(cluster="slurm", folder=self.params["submitit_folder"],
                                         slurm_max_num_timeout=self.params["max_num_timeout"])
        queue_keys = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{key if key in queue_keys else f"slurm_{key}": value
                                      for key, value in self.params.items() if key not in EXECUTOR_KEYS})
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        numbers = [initial_job_idx + i for i in range(len(job_overrides))]
        submitted = executor.map_array(self, [list(o) for o in job_overrides], ["hydra.sweep.dir"] * len(numbers),
                                       numbers, [f"job_id_for_{n}" for n in numbers],
                                       [Singleton.get_state()] * len(numbers))
        sweep = self.config.get("sweep")
        complete = waiting.study_complete(OmegaConf.to_container(sweep, resolve=True) if sweep is not None else None)
        dead = {job.job_id for job in waiting.wait(submitted, study_complete=complete)}
        whole = complete is not None and complete()  # every job has ended: the study can no longer change
        returns = []
        for job, overrides in zip(submitted, job_overrides):
            try:
                if job.job_id in dead:
                    raise RuntimeError(f"SLURM job {job.job_id} left the queue without a result")
                returns.append(job.results()[0])
            except Exception as error:  # cancelled, killed, or its sweep driver stopped by a signal
                if whole:  # the study, the command's product, is complete
                    print(f"xsearch: SLURM job {job.job_id} ended early ({type(error).__name__}: {error}); the "
                          "study is complete, the other jobs ran its trials", file=sys.stderr, flush=True)
                    returns.append(JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED))
                else:
                    returns.append(JobReturn(overrides=list(overrides), status=JobStatus.FAILED,
                                             _return_value=error))
        return returns
