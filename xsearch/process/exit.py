"""How an xsearch process exits: at once, with its exit handlers run, and without the interpreter's teardown."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def finish_fast(code: int | str | None) -> NoReturn:
    """Exit without the interpreter's finalization, which with torch and Lightning loaded takes ~1.2 s of
    tearing down modules and does nothing a run needs. Exit handlers (log files, W&B's teardown, an unused
    zygote) still run first, and the exit status is what `sys.exit(code)` would give."""
    if isinstance(code, str):  # sys.exit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        code = 1
    # What a normal exit runs before finalizing, in its order: threads' exit hooks and joining non-daemon
    # threads (a ThreadPoolExecutor's workers, an async checkpoint write), then the atexit handlers. Both are
    # CPython's own functions, the ones its finalization calls.
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if code is None else code)
