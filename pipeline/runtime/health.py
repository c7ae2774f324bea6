"""The operations endpoint every process serves on the metrics port: /metrics, /healthz, /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.domain.errors import PipelineError
from pipeline.runtime.settings import MetricsSettings

ReadinessCheck = Callable[[], Awaitable[None]]


class Readiness:
    """The backend checks behind ``/readyz``, run at most once per ``interval_seconds`` however
    many ask (one run at a time; callers in between get its answer). An open ``/readyz`` can
    then not be used to make the process hammer its backends (on S3 a check is a PUT and a
    DELETE)."""

    def __init__(
        self,
        checks: Mapping[str, ReadinessCheck],
        *,
        interval_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks = checks
        self._interval = interval_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._last: tuple[int, dict[str, object]] | None = None
        self._at = 0.0

    async def response(self) -> web.Response:
        async with self._lock:
            if self._last is None or self._clock() - self._at >= self._interval:
                self._last = await _run_checks(self._checks)
                self._at = self._clock()
        status, body = self._last
        return web.json_response(body, status=status)


async def readiness_response(checks: Mapping[str, ReadinessCheck]) -> web.Response:
    """200 when every check passes, else 503 naming each failing dependency."""
    status, body = await _run_checks(checks)
    return web.json_response(body, status=status)


async def _run_checks(checks: Mapping[str, ReadinessCheck]) -> tuple[int, dict[str, object]]:
    failures: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await check()
        except PipelineError as exc:
            failures[name] = exc.public_message
        except Exception as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
    if failures:
        return 503, {"status": "unavailable", "failures": failures}
    return 200, {"status": "ready", "checks": sorted(checks)}


async def healthz(_: web.Request) -> web.Response:
    """Liveness: the process answers; it does not depend on any backend."""
    return web.json_response({"status": "ok"})


def ops_app(
    checks: Mapping[str, ReadinessCheck] | Readiness, base: web.Application | None = None
) -> web.Application:
    """/metrics, /healthz and /readyz, added to ``base`` (a process's own ops routes, such as
    the gateway's admin API) or to a new app."""
    readiness = checks if isinstance(checks, Readiness) else Readiness(checks)

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def readyz(_: web.Request) -> web.Response:
        return await readiness.response()

    app = base if base is not None else web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


@contextlib.asynccontextmanager
async def serve_ops(
    settings: MetricsSettings,
    checks: Mapping[str, ReadinessCheck] | Readiness,
    base: web.Application | None = None,
) -> AsyncIterator[int]:
    """Serve the ops app (on ``base`` if given) while the context is open; yields the bound
    port (0 = disabled)."""
    if not settings.port:
        yield 0
        return
    runner = web.AppRunner(ops_app(checks, base), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    try:
        yield settings.port
    finally:
        await runner.cleanup()
