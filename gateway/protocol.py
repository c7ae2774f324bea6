"""Requests aiohttp refuses before our app sees them answer with our JSON error.

aiohttp's HTTP parser rejects malformed requests (a folded or space-before-colon header, a
line without a colon, a NUL, bad chunked framing, an over-long line) in its protocol layer,
below the middlewares, and answers with a ``text/plain`` 400. :class:`GatewayRunner` runs
the app with a request handler whose :meth:`handle_error` answers the same status with the
JSON error body every other error has, counts it in ``http_requests_total`` (route
``malformed``), and logs a client's garbage at INFO, not as an exception.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.middleware import error_body
from pipeline.runtime import metrics

log = logging.getLogger(__name__)


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol, with JSON error responses."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            # aiohttp's own path logs the traceback and refuses when a response started.
            super().handle_error(request, status, exc, message)
            code, text = "internal", "internal error"
        else:
            if request.writer.output_size > 0:  # as aiohttp: a response is half sent already
                raise ConnectionError("response already started; cannot send the error")
            code, text = "malformed_request", _first_line(exc, message)
            log.info("malformed request from %s: %s", request.remote, text)
        metrics.HTTP_REQUESTS.labels(method="-", route="malformed", status=str(status)).inc()
        response = web.json_response(error_body(code, text), status=status)
        response.force_close()  # the framing is broken: nothing after it here is safe
        return response

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._fail_body_in_progress()

    def _fail_body_in_progress(self) -> None:
        """A framing error in a body being read fails that body (so its handler answers 400).

        aiohttp's C parser queues such an error as a new message and leaves the body being
        read waiting for bytes that will never come (the pure-Python parser fails the body).
        """
        messages: Any = getattr(self, "_messages", ())
        current: BaseRequest | None = getattr(self, "_current_request", None)
        if not messages or current is None:
            return
        error = getattr(messages[-1][0], "exc", None)
        if isinstance(error, HttpProcessingError) and not current.content.is_eof():
            current.content.set_exception(error)


def _first_line(exc: BaseException | None, message: str | None) -> str:
    text = message or (exc.message if isinstance(exc, HttpProcessingError) else "") or ""
    first = text.strip().splitlines()[0] if text.strip() else "bad request"
    return f"malformed HTTP request: {first.rstrip(':')}"


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose connections answer parse errors in JSON."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same state, our protocol factory
        return server
