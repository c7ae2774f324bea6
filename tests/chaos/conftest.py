"""The fault suite's fixtures: stacks that can be broken, and the report of what was measured.

Each test records a :class:`~tests.chaos.harness.Figures` row; at the end the rows are
printed and written to ``.chaos/report.json`` (the source of docs/reliability.md's table).
The three long outages (store 60 s, catalog refused 90 s, catalog frozen 150 s) run at once,
each on its own stack, in the background from the start of the session: they mostly wait,
so the suite takes about the longest of them instead of their sum.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.harness import HOOK, ChaosStack, Figures
from tests.chaos.outages import OUTAGES, run_outage

REPORT = Path(__file__).resolve().parents[2] / ".chaos" / "report.json"
_ROWS: list[Figures] = []


@pytest.fixture(scope="session")
def report() -> Iterator[list[Figures]]:
    yield _ROWS
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps([asdict(r) for r in _ROWS], indent=2) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    terminalreporter.section("fault suite figures")
    for row in _ROWS:
        figures = ", ".join(f"{k}={v}" for k, v in row.figures.items())
        terminalreporter.line(f"{row.test}: {row.outcome} [{figures}]")


@pytest.fixture(scope="session")
async def main_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChaosStack]:
    """Two workers with the crash hook loaded (a marker in a photo kills its render)."""
    stack = ChaosStack(tmp_path_factory.mktemp("main"), workers=2)
    # The render processes start with an allow-listed environment: the hook's switch is
    # passed on by name.
    await stack.start(
        worker_env={
            "PYTHONPATH": str(HOOK),
            "CHAOS_CRASH_HOOK": "1",
            "GALLERY_WORKER_RENDER_ENV_PASS": "CHAOS_CRASH_HOOK",
        }
    )
    try:
        yield stack
    finally:
        print(stack.stack.logs() if stack.stack else "")
        await stack.close()


@pytest.fixture(scope="session", autouse=True)
def outage_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Future[dict[str, Any]]]]:
    """Start the long outages in the background at the start of the session."""
    with ThreadPoolExecutor(max_workers=len(OUTAGES), thread_name_prefix="outage") as pool:
        yield {
            key: pool.submit(run_outage, tmp_path_factory.mktemp(key), outage)
            for key, outage in OUTAGES.items()
        }
