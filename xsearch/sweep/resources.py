"""What a sweep's workers may use, and what each trial process sees: GPUs, CPU threads, its environment."""

from __future__ import annotations

import os
import socket


def _slurm_job() -> str | None:
    """The SLURM job as squeue lists it and scancel takes it: `<array>_<task>` for a task of a job array (what
    Hydra's launcher submits), whose own SLURM_JOB_ID scancel may refuse."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


# Which process ran a trial: the host and the SLURM job (or the driver's pid).
WORKER = f"{socket.gethostname()}:{_slurm_job() or os.getpid()}"


def gpu_slices(workers: int | None, devices_per_trial: int) -> tuple[int, list[str | None]]:
    """How many workers, and the CUDA_VISIBLE_DEVICES of each (None on a CPU-only machine).

    Slices are cut from the GPUs this process may use (SLURM sets CUDA_VISIBLE_DEVICES to a job's own GPUs).
    """
    import torch  # the driver's trials need it anyway; the config's check does not

    gpus = torch.cuda.device_count()
    if gpus == 0:
        return workers or 1, [None] * (workers or 1)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    names = visible.split(",")[:gpus] if visible else [str(i) for i in range(gpus)]
    count = workers or max(1, gpus // devices_per_trial)
    slices = [",".join(names[(i * devices_per_trial + d) % gpus] for d in range(devices_per_trial))
              for i in range(count)]
    return count, slices


def trial_environment(threads: int, gpus: str | None) -> dict[str, str | None]:
    """What a trial process sees beyond the worker's own environment (None: removed)."""
    env: dict[str, str | None] = {"OMP_NUM_THREADS": str(threads)}
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpus
    # A trial is a plain process inside the worker's allocation, not a SLURM task: with SLURM_* visible,
    # Lightning would expect srun to have started its DDP ranks and would not start them itself.
    env.update({key: None for key in os.environ if key.startswith("SLURM_")})
    return env
