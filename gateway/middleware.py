"""Errors and request metrics (authentication: :mod:`gateway.auth`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

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
        return _pipeline_error(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_error(exc)
    except HttpProcessingError as exc:
        # aiohttp's parsers raise these for malformed parts of a request read by a handler.
        return _malformed(request, exc)
    except Exception:
        metrics.UNEXPECTED_ERRORS.labels(component="gateway").inc()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(error_body("internal", "internal error"), status=500)


def _pipeline_error(request: web.Request, exc: PipelineError) -> web.Response:
    if exc.http_status >= 500:
        log.warning("%s %s: %s", request.method, request.path, exc)
    # Retryable means "later": tell clients when, so they back off instead of hammering.
    headers = {"Retry-After": str(exc.retry_after_seconds)} if exc.retryable else None
    return web.json_response(
        error_body(exc.code, exc.public_message), status=exc.http_status, headers=headers
    )


def _malformed(request: web.Request, exc: HttpProcessingError) -> web.Response:
    status = exc.code if 400 <= exc.code < 500 else 400
    lines = (exc.message or "bad request").strip().splitlines() or ["bad request"]
    message = f"malformed request: {lines[0].rstrip(':')}"
    log.info("%s %s: %s", request.method, request.path, message)
    return web.json_response(error_body("malformed_request", message), status=status)


def _http_error(exc: web.HTTPException) -> web.Response:
    """aiohttp's own 4xx (404 no route, 405 with its Allow header, ...) as our JSON."""
    code = exc.reason.lower().replace(" ", "_").replace("-", "_")
    headers = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_HEADERS}
    return web.json_response(error_body(code, exc.reason), status=exc.status, headers=headers)


_KEPT_HEADERS = {"allow", "retry-after", "www-authenticate"}
_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every response with its status and time it, per route template.

    The outermost middleware, so the errors middleware's JSON answers are counted too;
    a raised redirect or 304 is counted with its status, a client that hung up as 499.
    """
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499
        raise
    finally:
        _count(request, status, started)


def _count(request: web.Request, status: int, started: float) -> None:
    method = request.method if request.method in _KNOWN_METHODS else "other"
    route = _route_template(request)
    metrics.HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    metrics.HTTP_DURATION.labels(method=method, route=route).observe(time.perf_counter() - started)


def _route_template(request: web.Request) -> str:
    """The route as registered (``/v1/images/{image_id}``): raw paths would explode the labels."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def refusal(request: web.Request, exc: PipelineError) -> web.Response:
    """The error response for a request refused before the middlewares ran (an ``Expect``
    handler's answer), counted like any other response; the connection closes after it."""
    response = _pipeline_error(request, exc)
    response.force_close()  # the client may still send the body it announced
    _count(request, response.status, time.perf_counter())
    return response
