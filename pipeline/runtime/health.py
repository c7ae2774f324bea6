"""The operations endpoint every process serves on the metrics port: /metrics, /healthz, /readyz."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.domain.errors import PipelineError
from pipeline.runtime.settings import MetricsSettings

ReadinessCheck = Callable[[], Awaitable[None]]


async def readiness_response(checks: Mapping[str, ReadinessCheck]) -> web.Response:
    """200 when every check passes, else 503 naming each failing dependency."""
    failures: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await check()
        except PipelineError as exc:
            failures[name] = exc.public_message
        except Exception as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
    if failures:
        return web.json_response({"status": "unavailable", "failures": failures}, status=503)
    return web.json_response({"status": "ready", "checks": sorted(checks)})


async def healthz(_: web.Request) -> web.Response:
    """Liveness: the process answers; it does not depend on any backend."""
    return web.json_response({"status": "ok"})


def ops_app(checks: Mapping[str, ReadinessCheck]) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def readyz(_: web.Request) -> web.Response:
        return await readiness_response(checks)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


@contextlib.asynccontextmanager
async def serve_ops(
    settings: MetricsSettings, checks: Mapping[str, ReadinessCheck]
) -> AsyncIterator[int]:
    """Serve the ops app while the context is open; yields the bound port (0 = disabled)."""
    if not settings.port:
        yield 0
        return
    runner = web.AppRunner(ops_app(checks), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    try:
        yield settings.port
    finally:
        await runner.cleanup()
