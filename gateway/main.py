"""``gallery gateway``: serve the HTTP API on :8080 and the ops endpoint on :9100."""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiohttp import web

from gateway.admin import admin_app
from gateway.app import make_app
from gateway.appkeys import KEYS, READINESS
from gateway.protocol import GatewayRunner
from pipeline.runtime.health import serve_ops
from pipeline.runtime.process import stop_on_signals
from pipeline.runtime.settings import Settings

log = logging.getLogger(__name__)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server TLS context when the gateway serves HTTPS itself (TLS 1.2 or later), else
    None; a missing or unreadable certificate fails at start."""
    gateway = settings.gateway
    if not gateway.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(gateway.tls_cert_file, gateway.tls_key_file)
    return context


def _ops_base(app: web.Application, settings: Settings) -> web.Application | None:
    """The admin API for the ops listener, unless it is served on the public one."""
    if settings.gateway.admin_listener != "ops":
        return None
    if not settings.metrics.port:
        log.warning("GALLERY_METRICS_PORT is 0: no ops listener, so no admin API")
    return admin_app(settings, app[KEYS])


async def run_gateway(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    tls = tls_context(settings)  # a bad certificate fails here, before the backends open
    app = make_app(settings)
    runner = GatewayRunner(app, shutdown_timeout=settings.gateway.shutdown_timeout_seconds)
    await runner.setup()  # opens the backends (cleanup_ctx)
    try:
        async with serve_ops(settings.metrics, app[READINESS], _ops_base(app, settings)):
            site = web.TCPSite(
                runner, settings.gateway.host, settings.gateway.port, ssl_context=tls
            )
            await site.start()
            log.info("gateway listening on %s", site.name)
            await stop.wait()
            log.info("gateway stopping")
    finally:
        await runner.cleanup()
