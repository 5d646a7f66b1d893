"""The trial process wing: everything that runs a trial's process safely, on both sides of it.

The worker's side: the warm zygote trials fork from (`zygote`), the trial's process with its heartbeat in the
study and its watchdog for stalls and time limits (`trial`). The trial's side: where it is (`progress`, written by
the `beacon` after every batch), how a stop signal reaches it or, stuck in native code, how it ends itself
(`signals`), and how it exits (`exit`). What a trial's end means for the study is the sweep's
(xsearch/sweep/trial.py); checkpointing on a stop signal is training's (xsearch/training/preemption.py).
"""
