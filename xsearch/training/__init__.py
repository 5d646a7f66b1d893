"""Training one variant with Lightning: the module, optimizers, per-epoch measurements, tracking and the run."""
