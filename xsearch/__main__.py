"""`python -m xsearch`: the app (xsearch/app.py). `python -m xsearch --zygote`: a sweep worker's fresh zygote
(xsearch/process/zygote.py says what a zygote is), which imports what a trial needs once, then forks each trial
from that state, taking requests on stdin and answering on stdout."""

import sys

from xsearch.process.zygote import ZYGOTE_FLAG


def zygote() -> None:
    # Everything a trial imports, imported once. (Nothing here may start a thread or touch CUDA.)
    import optuna  # noqa: F401
    import pytorch_lightning  # noqa: F401
    import torch  # noqa: F401

    import xsearch.settings.plan  # noqa: F401
    import xsearch.sweep.pruning  # noqa: F401
    import xsearch.training.run  # noqa: F401
    from xsearch.app import cli
    from xsearch.process.zygote import serve

    serve(cli, sys.stdin, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1:] == [ZYGOTE_FLAG]:
        zygote()
    else:
        from xsearch.app import cli

        cli()
