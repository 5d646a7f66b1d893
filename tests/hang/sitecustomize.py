"""A stand-in for a kernel that never returns, for the watchdog tests.

With `PYTHONPATH=tests/hang` and `XSEARCH_TEST_HANG_AT_STEP=N` in its environment, a training run's main thread
stops at the start of its Nth training step, for good: it blocks the stop signals and sleeps in native code, so no
Python signal handler runs in it and no batch ever ends, just as in oneDNN's AVX2 hang (docs/ONEDNN_AVX2_HANG.md),
where the main thread spins inside a convolution. Other threads run on, as they do there. Python imports this
module by itself at start-up (`sitecustomize`); without the variable it does nothing. With
`XSEARCH_TEST_HANG_MARK=<path>` it creates that file as it starts to hang.
"""

import os

if os.environ.get("XSEARCH_TEST_HANG_AT_STEP"):
    import signal
    import time

    from xsearch.training.module import SpectrumModule

    _at = int(os.environ["XSEARCH_TEST_HANG_AT_STEP"])
    _train_step = SpectrumModule.training_step

    def _training_step(self, batch, batch_idx):
        if self.global_step + 1 == _at:
            if os.environ.get("XSEARCH_TEST_HANG_MARK"):
                open(os.environ["XSEARCH_TEST_HANG_MARK"], "w").close()
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM, signal.SIGUSR2])
            while True:
                time.sleep(3600)
        return _train_step(self, batch, batch_idx)

    SpectrumModule.training_step = _training_step
