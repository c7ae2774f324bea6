"""``gallery up``'s banner tells the truth about the workers: it waits for them, and when
they are not ready in time it says so instead of announcing a gallery that renders nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery.embedded import UpOptions, _banner, _wait_for_workers
from gallery.servers import free_port
from gallery.supervisor import Supervisor

pytestmark = pytest.mark.unit


def test_workers_that_never_answer_are_waited_for_then_the_banner_says_they_are_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on the workers' metrics ports: they are still importing.
    opts = UpOptions(tmp_path, metrics_port=free_port(), workers=2, workers_ready_seconds=0.5)
    apps = Supervisor(say=print)
    assert _wait_for_workers(opts, apps, lambda: False) == 0
    _banner(opts, "key", tmp_path / "logs", ready=0)
    banner = capsys.readouterr().out
    assert "0 of 2 worker(s) ready, the others still starting" in banner
    assert "uploads wait in the queue until they join" in banner
    assert "2 worker(s) ready" not in banner.replace("0 of 2 worker(s) ready", "")


def test_a_stop_ends_the_wait_at_once(tmp_path: Path) -> None:
    opts = UpOptions(tmp_path, metrics_port=free_port(), workers=1, workers_ready_seconds=60)
    assert _wait_for_workers(opts, Supervisor(say=print), lambda: True) == 0
