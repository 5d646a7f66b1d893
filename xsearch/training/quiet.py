"""What Lightning and torch print that is no business of an xsearch user, kept out of every run's console.

- Lightning's advertisements for its cloud services (lines that start "💡 Tip:");
- Lightning's hint to prepend `srun` on any machine with the SLURM client: xsearch starts its SLURM jobs itself
  (hydra/launcher=slurm), and a sweep's trials are plain processes inside them;
- a deprecation warning Lightning's own tree utilities trigger in torch (`LeafSpec`), which a user cannot act on;
- Lightning's notes on its own workings (TPU cores, estimating the steps, why fit stopped): xsearch prints each
  epoch and a summary of its own.

Everything else Lightning says (a misconfiguration, a data loader bottleneck) still shows.
"""

from __future__ import annotations

import logging
import warnings

UNWANTED = ("💡 Tip:", "TPU available:", "Loading `train_dataloader` to estimate", "`Trainer.fit` stopped:")


class _Unwanted(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(UNWANTED)


def install() -> None:
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_Unwanted())
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system but is not used")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
