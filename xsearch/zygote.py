"""`python -m xsearch.zygote`: a fresh zygote for a sweep worker (xsearch/sweep/forking.py says what a zygote is
and holds its protocol). It imports what a trial needs once, then forks each trial from that state, taking
requests on stdin and answering on stdout.
"""

from __future__ import annotations

import sys


def main() -> None:
    # Everything a trial imports, imported once. (Nothing here may start a thread or touch CUDA.)
    import optuna  # noqa: F401
    import pytorch_lightning  # noqa: F401
    import torch  # noqa: F401

    import xsearch.settings.plan  # noqa: F401
    import xsearch.sweep.pruning  # noqa: F401
    import xsearch.training.run  # noqa: F401
    from xsearch.app import cli
    from xsearch.sweep.forking import serve

    serve(cli, sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
