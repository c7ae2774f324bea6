"""Process plumbing every entry point shares: logging, stop signals, an interruptible sleep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from pipeline.domain.text import printable


class OneLineFormatter(logging.Formatter):
    """Each log message on one line: control characters in it (a ``%0A`` decoded from a
    request path, an ESC from a file name) are written as escapes, so a client cannot forge
    a line of its own or drive an operator's terminal. Tracebacks keep their lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = printable(record.message)
        return super().formatMessage(record)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        OneLineFormatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler])
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
