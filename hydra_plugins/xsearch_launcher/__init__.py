"""xsearch's SLURM launcher for Hydra (`hydra/launcher=slurm`): hydra-submitit-launcher's, except that the
submitting process always ends. It lives in Hydra's plugin namespace because Hydra instantiates launchers from
there only; the waiting itself is xsearch.sweep.jobs."""
