"""Stand-ins for faults inside a training run, for the watchdog and fault-injection tests.

With `PYTHONPATH=tests/hang` in its environment, Python imports this module by itself at start-up
(`sitecustomize`); without the variables below it does nothing.

- `XSEARCH_TEST_HANG_AT_STEP=N`: a kernel that never returns. The run's main thread stops at the start of its
  Nth training step, for good: it blocks the stop signals and sleeps in native code, so no Python signal handler
  runs in it and no batch ever ends, just as in oneDNN's AVX2 hang (docs/ONEDNN_AVX2_HANG.md), where the main
  thread spins inside a convolution. Other threads run on, as they do there. With `XSEARCH_TEST_HANG_MARK=<path>`
  it creates that file as it starts to hang.
- `XSEARCH_TEST_RAISE_IN_TRIAL=K`: a bug. Sweep trial number K raises at its second training step.
- `XSEARCH_TEST_SLOW_SAMPLING=S`: a slow storage or a busy node. The grid sampler waits S seconds between finding
  the next free point and handing it out, so two drivers that sampled without a shared lock would surely both
  take it.
"""

import os

if os.environ.get("XSEARCH_TEST_HANG_AT_STEP") or os.environ.get("XSEARCH_TEST_RAISE_IN_TRIAL"):
    import json
    import signal
    import time

    from xsearch.training.module import SpectrumModule

    _hang_at = int(os.environ.get("XSEARCH_TEST_HANG_AT_STEP") or 0)
    _train_step = SpectrumModule.training_step

    def _training_step(self, batch, batch_idx):
        if self.global_step + 1 == _hang_at:
            if os.environ.get("XSEARCH_TEST_HANG_MARK"):
                open(os.environ["XSEARCH_TEST_HANG_MARK"], "w").close()
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM, signal.SIGUSR2])
            while True:
                time.sleep(3600)
        # Read as the step runs: a trial forked from the sweep's warm zygote gets its environment only then.
        trial = json.loads(os.environ.get("XSEARCH_TRIAL") or "{}").get("number")
        if str(trial) == os.environ.get("XSEARCH_TEST_RAISE_IN_TRIAL") and self.global_step == 1:
            raise RuntimeError("injected fault: a bug in training step 2")
        return _train_step(self, batch, batch_idx)

    SpectrumModule.training_step = _training_step

if os.environ.get("XSEARCH_TEST_SLOW_SAMPLING"):
    import time

    from xsearch.sweep.grid import GridSampler

    _pause = float(os.environ["XSEARCH_TEST_SLOW_SAMPLING"])
    _sample = GridSampler.sample_relative

    def _slow_sample(self, study, trial, search_space):
        chosen = _sample(self, study, trial, search_space)
        time.sleep(_pause)
        return chosen

    GridSampler.sample_relative = _slow_sample
