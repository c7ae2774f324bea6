"""A worker started before its NATS waits for it (backoff 1-30 s, logged) instead of exiting,
and becomes ready once the server is up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gallery.servers import ManagedProcess, free_port, start_nats, wait_until_ready
from pipeline.runtime.settings import NatsSettings
from tests.conftest import SettingsFactory
from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def logged(process: ManagedProcess, text: str) -> Callable[[], bool]:
    return lambda: text in process.log_path.read_text(errors="replace")


def test_a_worker_started_before_nats_waits_and_becomes_ready(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there yet
    settings = make_settings(nats=NatsSettings(url=f"nats://127.0.0.1:{port}"))
    stack = Stack(settings, tmp_path / "logs")
    worker = stack.add_worker()
    nats: ManagedProcess | None = None
    try:
        # Two tries (1 s apart) while the process stays alive: it waits, it does not exit.
        wait_until_ready(worker, logged(worker, "(attempt 2)"), 90)
        assert "backends not reachable at start" in worker.log_path.read_text()
        nats = start_nats(tmp_path / "nats-late", port=port)
        # The next try is at most 30 s away (the backoff's cap), plus the start itself.
        wait_until_ready(worker, logged(worker, "worker ready"), 120)
    finally:
        stack.stop()
        if nats is not None:
            nats.stop()
