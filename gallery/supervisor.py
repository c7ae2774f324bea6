"""Supervision for ``gallery up``: a process that exits is restarted, with backoff, and logged.

Each supervised process has a start function (nats-server and SecantusDB restart on their
fixed ports over the same data folders, so JetStream's file store and the catalog keep
everything; the gateway and workers reconnect on their own). A process that keeps dying
waits ``base``, 2 x ``base``, 4 x ``base`` ... up to ``cap`` seconds between starts; once it
has run ``stable_after`` seconds its backoff starts again from ``base``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gallery.servers import ManagedProcess

Say = Callable[[str], None]


@dataclass
class Supervised:
    """One process under supervision and its restart bookkeeping."""

    name: str
    start: Callable[[], ManagedProcess]
    process: ManagedProcess | None = None
    restarts: int = 0
    failures_in_a_row: int = 0
    started_at: float = 0.0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Start processes and keep them running; call :meth:`check` periodically."""

    say: Say
    base: float = 1.0
    cap: float = 30.0
    stable_after: float = 60.0
    clock: Callable[[], float] = time.monotonic
    entries: list[Supervised] = field(default_factory=list)

    def add(self, name: str, start: Callable[[], ManagedProcess]) -> ManagedProcess:
        """Start ``name`` now (errors propagate: a first start that fails stops ``up``)."""
        entry = Supervised(name, start)
        entry.process = start()
        entry.started_at = self.clock()
        self.entries.append(entry)
        return entry.process

    def processes(self) -> list[ManagedProcess]:
        return [e.process for e in self.entries if e.process is not None]

    def check(self) -> None:
        """Notice exits and schedule restarts; start what is due."""
        now = self.clock()
        for entry in self.entries:
            if entry.restart_at is None and entry.process is not None and not entry.process.alive():
                self._schedule(entry, now)
            if entry.restart_at is not None and now >= entry.restart_at:
                self._restart(entry, now)

    def _schedule(self, entry: Supervised, now: float) -> None:
        process = entry.process
        assert process is not None
        if now - entry.started_at >= self.stable_after:
            entry.failures_in_a_row = 0
        delay = min(self.base * 2**entry.failures_in_a_row, self.cap)
        entry.failures_in_a_row += 1
        entry.restart_at = now + delay
        self.say(
            f"gallery: {entry.name} exited (status {process.process.returncode}); restarting in "
            f"{delay:.0f}s (restart {entry.restarts + 1}); log {process.log_path}:\n"
            f"{process.log_tail(5)}"
        )

    def _restart(self, entry: Supervised, now: float) -> None:
        entry.restart_at = None
        entry.restarts += 1
        try:
            entry.process = entry.start()
        except Exception as exc:  # a failed start is one more failure: back off and try again
            self.say(f"gallery: {entry.name} did not start: {exc}")
            entry.started_at = now
            self._schedule(entry, now)
            return
        entry.started_at = self.clock()
        self.say(f"gallery: {entry.name} restarted (restart {entry.restarts})")
