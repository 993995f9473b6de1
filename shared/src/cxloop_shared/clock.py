"""The current time, with an offset a test or a demo can move.

Schedulers live by the clock: an invitation deferred to tomorrow morning is only
seen to leave tomorrow morning. An end-to-end test cannot wait for that, so a
process started with `CXLOOP_CLOCK_OFFSET_FILE=<path>` adds the number of seconds
in that file to the real clock, re-read whenever the file changes. Unset (as in
production) the clock is the system's.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

ENV = "CXLOOP_CLOCK_OFFSET_FILE"

_seen: tuple[int, timedelta] = (-1, timedelta(0))


def offset() -> timedelta:
    """How far this process's clock runs ahead of the system's."""
    global _seen
    path = os.environ.get(ENV)
    if not path:
        return timedelta(0)
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        return _seen[1]
    if changed != _seen[0]:
        try:
            _seen = (changed, timedelta(seconds=float(Path(path).read_text().strip() or 0)))
        except (OSError, ValueError):
            return _seen[1]
    return _seen[1]
