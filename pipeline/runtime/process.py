"""Process plumbing every entry point shares: logging, stop signals, an interruptible sleep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
    )
    # libvips reports every threadpool at INFO; that is noise at any level but DEBUG.
    logging.getLogger("pyvips").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT so the process drains instead of dying mid-job."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, waking at once when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
