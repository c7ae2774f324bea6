"""``gallery up``'s supervisor: a process that exits is restarted with growing backoff, logged,
and its backoff starts over once it has run long enough."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from gallery.servers import ManagedProcess, spawn
from gallery.supervisor import Supervisor

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def short_lived(tmp_path: Path) -> ManagedProcess:
    """A real process that exits at once with status 3 (a crash, as far as anyone can tell)."""
    process = spawn([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "p.log")
    process.wait(30)
    return ManagedProcess("p", process, 0, tmp_path / "p.log")


def test_a_dying_process_is_restarted_with_doubling_backoff(tmp_path: Path) -> None:
    said: list[str] = []
    clock = Clock()
    starts: list[float] = []

    def start() -> ManagedProcess:
        starts.append(clock.now)
        return short_lived(tmp_path)

    supervisor = Supervisor(say=said.append, base=1.0, cap=4.0, stable_after=60.0, clock=clock)
    supervisor.add("secantusd", start)
    for _ in range(40):  # 20 seconds of checks every half second
        supervisor.check()
        clock.now += 0.5
    # Each exit waits twice as long as the one before, up to the cap.
    delays = [re.search(r"restarting in (\d+)s", s) for s in said]
    assert [m.group(1) for m in delays if m][:5] == ["1", "2", "4", "4", "4"]
    assert len(starts) >= 5
    assert any("secantusd exited (status 3); restarting in 1s (restart 1)" in s for s in said)
    assert any("secantusd restarted (restart 2)" in s for s in said)


def test_backoff_starts_over_after_a_stable_run(tmp_path: Path) -> None:
    said: list[str] = []
    clock = Clock()
    supervisor = Supervisor(say=said.append, base=1.0, cap=30.0, stable_after=10.0, clock=clock)
    supervisor.add("worker 1", lambda: short_lived(tmp_path))
    supervisor.check()  # exit noticed at t=0: restart in 1 s
    clock.now = 1.0
    supervisor.check()  # restarted at t=1; it "runs" until t=50
    clock.now = 50.0
    supervisor.check()
    assert "restarting in 1s (restart 2)" in said[-1], said


def test_a_start_that_fails_is_retried_later(tmp_path: Path) -> None:
    said: list[str] = []
    clock = Clock()
    attempts = 0

    def flaky() -> ManagedProcess:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            raise RuntimeError("port still in use")
        return short_lived(tmp_path)

    supervisor = Supervisor(say=said.append, base=1.0, cap=8.0, clock=clock)
    supervisor.add("nats-server", flaky)
    for _ in range(20):
        supervisor.check()
        clock.now += 1.0
    assert attempts >= 3
    assert any("nats-server did not start: port still in use" in s for s in said)
