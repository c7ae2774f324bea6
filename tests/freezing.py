"""Freeze a server process for a test, and know it is frozen (SIGSTOP is not instant).

``kill(pid, SIGSTOP)`` returns before the process has stopped. The kernel marks one thread
to take the stop; until that thread runs and stops its siblings, another thread woken by
incoming data can still answer a request. On a loaded machine that window was long enough for
a "frozen" SecantusDB to answer a listing (the CI run of 2026-11-29, 21:33). Measured beside
three CPU hogs: a query sent right after ``kill`` was answered 7 times in 30; after waiting
as below, 0 in 30. So a freeze waits until every thread of the process shows state ``T`` in
``/proc`` (proc(5)).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

FREEZE_TIMEOUT = 30.0


def freeze(pid: int, timeout: float = FREEZE_TIMEOUT) -> None:
    """SIGSTOP ``pid`` and return once all its threads are stopped; AssertionError after
    ``timeout`` seconds."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while not _all_stopped(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} not stopped within {timeout:.0f} s of SIGSTOP")
        time.sleep(0.01)


def thaw(pid: int) -> None:
    """SIGCONT ``pid``."""
    os.kill(pid, signal.SIGCONT)


def _all_stopped(pid: int) -> bool:
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            # The state follows the parenthesised command name, which may contain spaces.
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        except (FileNotFoundError, IndexError):
            continue  # a thread that just exited
    return bool(states) and all(state in ("T", "t") for state in states)
