"""``gallery gateway``: serve the HTTP API on :8080 and the ops endpoint on :9100."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from gateway.app import make_app
from gateway.keys import READINESS
from gateway.protocol import GatewayRunner
from pipeline.runtime.health import serve_ops
from pipeline.runtime.process import stop_on_signals
from pipeline.runtime.settings import Settings

log = logging.getLogger(__name__)


async def run_gateway(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    app = make_app(settings)
    runner = GatewayRunner(app, shutdown_timeout=settings.gateway.shutdown_timeout_seconds)
    await runner.setup()  # opens the backends (cleanup_ctx)
    try:
        async with serve_ops(settings.metrics, app[READINESS]):
            site = web.TCPSite(runner, settings.gateway.host, settings.gateway.port)
            await site.start()
            log.info("gateway listening on %s:%d", settings.gateway.host, settings.gateway.port)
            await stop.wait()
            log.info("gateway stopping")
    finally:
        await runner.cleanup()
