"""Keep a command-line server in the foreground until asked to stop."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable


def wait_for_shutdown(alive: Callable[[], bool] | None = None) -> int:
    """Block until SIGINT/SIGTERM/SIGHUP (returns 0) or until ``alive()`` is false (returns 1).

    SIGINT is handled explicitly rather than through KeyboardInterrupt: a shell ignores it
    for background jobs (``cmd &``), and Python would then never raise KeyboardInterrupt.
    """
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopped.set())
    while not stopped.wait(1.0):
        if alive is not None and not alive():
            print("server exited unexpectedly", file=sys.stderr)
            return 1
    return 0
