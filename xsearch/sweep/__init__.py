"""Optuna studies over the spectrum: search space, storage, asynchronous workers, isolated trials, results."""
