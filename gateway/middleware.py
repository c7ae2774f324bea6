"""Errors, authentication and request metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.keys import BACKENDS, TENANT_KEY
from pipeline.domain.errors import PipelineError, Unauthorized
from pipeline.runtime import metrics

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Key lookups hit MongoDB; cache the answer briefly so an upload burst costs one query.
_KEY_CACHE_SECONDS = 30.0
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


def auth_middleware() -> Middleware:
    cache: dict[str, tuple[str, float]] = {}

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        # OPTIONS is discovery (tus) and CORS preflight: neither carries credentials.
        if not request.path.startswith("/v1/") or request.method == "OPTIONS":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized(
                "missing bearer token", public_message="send Authorization: Bearer <api key>"
            )
        cached = cache.get(key)
        if cached and cached[1] > time.monotonic():
            tenant = cached[0]
        else:
            found = await request.app[BACKENDS].catalog.tenant_for_key(key)
            if found is None:
                raise Unauthorized("unknown api key", public_message="invalid api key")
            tenant = found
            cache[key] = (tenant, time.monotonic() + _KEY_CACHE_SECONDS)
        request[TENANT_KEY] = tenant
        return await handler(request)

    return authenticate
