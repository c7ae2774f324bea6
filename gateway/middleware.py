"""Errors and request metrics (authentication: :mod:`gateway.auth`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from pipeline.domain.errors import PipelineError
from pipeline.runtime import metrics

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC_PREFIXES = ("/healthz", "/readyz", "/metrics")


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map the error tree to JSON responses; nothing outside it leaks internals."""
    try:
        return await handler(request)
    except PipelineError as exc:
        if exc.http_status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc)
        # Retryable means "later": tell clients when, so they back off instead of hammering.
        headers = {"Retry-After": str(exc.retry_after_seconds)} if exc.retryable else None
        return web.json_response(
            error_body(exc.code, exc.public_message), status=exc.http_status, headers=headers
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response(error_body("http", exc.reason), status=exc.status)
    except Exception:
        metrics.UNEXPECTED_ERRORS.labels(component="gateway").inc()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(error_body("internal", "internal error"), status=500)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    metrics.HTTP_REQUESTS.labels(
        method=request.method, route=name, status=str(response.status)
    ).inc()
    return response
