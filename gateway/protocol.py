"""Requests aiohttp refuses before our app sees them answer with our JSON error.

aiohttp's HTTP parser rejects malformed requests (a folded or space-before-colon header, a
line without a colon, a NUL, bad chunked framing, an over-long line) in its protocol layer,
below the middlewares, and answers with a ``text/plain`` 400. :class:`GatewayRunner` runs
the app with a request handler whose :meth:`handle_error` answers the same status with the
JSON error body every other error has, counts it in ``http_requests_total`` (route
``malformed``), and logs a client's garbage at INFO, not as an exception.

The same handler enforces the connection limits of :mod:`gateway.edge` (header-read
deadline, keep-alive, connections per address), read from the app's settings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.appkeys import SETTINGS
from gateway.edge import EdgeGuard, busy_response
from gateway.middleware import error_body
from pipeline.runtime import metrics
from pipeline.runtime.settings import EdgeSettings

log = logging.getLogger(__name__)


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol, with JSON error responses and the edge limits."""

    def __init__(self, manager: web.Server, *, edge: EdgeGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._edge = edge
        self._address: str | None = None
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if not self._edge.addresses.admit(address):
            metrics.EDGE_CLOSED.labels(reason="address_cap").inc()
            log.info("connection from %s refused: over its connection cap", address)
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(busy_response())
            self.force_close()  # the transport sends what it holds, then closes
            return
        self._address = address
        self._arm_head_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._address is not None:
            self._edge.addresses.release(self._address)
            self._address = None
        self._disarm_head_deadline()
        super().connection_lost(exc)

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
        if self._head_complete():
            self._disarm_head_deadline()
        elif data:
            self._arm_head_deadline()  # the first bytes of a next request: its head is due

    def _head_complete(self) -> bool:
        """A request head has been parsed (queued or being handled), none is being read."""
        return bool(getattr(self, "_messages", ())) or bool(
            getattr(self, "_request_in_progress", False)
        )

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            seconds = self._edge.settings.header_timeout_seconds
            self._head_deadline = self._loop.call_later(seconds, self._head_overdue)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self) -> None:
        self._head_deadline = None
        if self._head_complete() or self.transport is None:
            return
        metrics.EDGE_CLOSED.labels(reason="header_timeout").inc()
        log.info("connection from %s closed: no request head in time", self._address)
        self.force_close()

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
    edge: EdgeGuard

    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, edge=self.edge, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose connections answer parse errors in JSON and
    hold to the app's edge limits (``GALLERY_EDGE_*``)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        settings = self.app[SETTINGS].edge if SETTINGS in self.app else EdgeSettings()
        server.__class__ = _JsonErrorServer  # same state, our protocol factory
        server._kwargs["keepalive_timeout"] = settings.keepalive_seconds
        cast(_JsonErrorServer, server).edge = EdgeGuard(settings)
        return server
