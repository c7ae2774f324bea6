"""The aiohttp application: routes, middlewares, and the backends' lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from gateway import (
    admin,
    albums,
    images,
    openapi,
    shares,
    tiles,
    trash,
    tus,
    upload,
    usage,
    web_ui,
)
from gateway.appkeys import (
    ALBUMS,
    BACKENDS,
    DELETE,
    EVENTS,
    INGEST,
    KEYS,
    LIMITS,
    QUERIES,
    READINESS,
    SETTINGS,
    SHARES,
    STREAM_SHARE,
    UPLOAD_SHARE,
    UPLOADS,
)
from gateway.audit import audit_middleware
from gateway.auth import KEY_CACHE, KeyCache, auth_middleware
from gateway.fairshare import Share
from gateway.headers import add_security_headers
from gateway.middleware import errors_middleware, metrics_middleware
from gateway.sse import stream_events
from pipeline.bootstrap import (
    album_service,
    delete_service,
    event_feed,
    image_queries,
    ingest_service,
    key_service,
    open_backends,
    share_service,
    upload_limits,
    upload_service,
)
from pipeline.imaging.spec import parse_spec
from pipeline.runtime.health import Readiness, healthz
from pipeline.runtime.settings import Settings
from pipeline.services.backlog import run_backlog_gauge


def make_app(settings: Settings) -> web.Application:
    parse_spec(settings.renditions)  # a bad spec fails here, at start, not on the first upload
    # metrics outermost: it counts every answer, the errors middleware's and tus's too.
    app = web.Application(
        middlewares=[
            metrics_middleware,
            tus.tus_middleware,
            audit_middleware,
            errors_middleware,
            auth_middleware,
        ]
    )
    app[SETTINGS] = settings
    app[UPLOAD_SHARE], app[STREAM_SHARE] = _shares(settings)
    app[KEY_CACHE] = KeyCache(settings.gateway.key_cache_seconds)
    app.cleanup_ctx.extend([_backends_ctx, _events_ctx, _revocations_ctx, _backlog_ctx])
    app.on_shutdown.append(_close_streams)
    add_security_headers(app)
    # after the common headers: a share link's own (Referrer-Policy, X-Robots-Tag) win
    app.on_response_prepare.append(shares.private_headers)
    _add_routes(app.router)
    tiles.setup(app)
    if settings.gateway.admin_listener == "public":
        admin.add_routes(app.router)
    return app


def _shares(settings: Settings) -> tuple[Share, Share]:
    """The fair shares of upload slots and event streams (gateway.fairshare)."""
    shares = settings.fair
    uploads = Share(
        "uploads",
        total=settings.gateway.max_concurrent_uploads,
        per_tenant=shares.uploads_per_tenant,
        per_key=shares.uploads_per_key,
    )
    streams = Share(
        "event streams",
        total=shares.event_streams,
        per_tenant=shares.event_streams_per_tenant,
        per_key=shares.event_streams_per_key,
    )
    return uploads, streams


async def _backends_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the backends for the app's lifetime and build the services on them."""
    settings = app[SETTINGS]
    async with open_backends(settings, name="gallery-gateway") as backends:
        app[BACKENDS] = backends
        app[READINESS] = Readiness(
            backends.readiness_checks(), interval_seconds=settings.gateway.ready_interval_seconds
        )
        app[INGEST] = ingest_service(backends, settings)
        app[DELETE] = delete_service(backends)
        app[ALBUMS] = album_service(backends, settings)
        app[UPLOADS] = upload_service(backends, settings)
        app[LIMITS] = upload_limits(backends, settings)
        app[KEYS] = key_service(backends)
        app[QUERIES] = image_queries(backends)
        app[SHARES] = share_service(backends, settings)
        yield


async def _events_ctx(app: web.Application) -> AsyncIterator[None]:
    """One follower of the events stream per process feeds every open ``/v1/events``."""
    app[EVENTS] = event_feed(app[BACKENDS], app[SETTINGS])
    stop = await app[BACKENDS].bus.events.follow(app[EVENTS].publish)
    yield
    await stop()


async def _revocations_ctx(app: web.Application) -> AsyncIterator[None]:
    """A key revoked anywhere leaves this process's cache at once."""
    stop = await app[BACKENDS].bus.subscribe_key_revocations(app[KEY_CACHE].forget)
    yield
    await stop()


async def _backlog_ctx(app: web.Application) -> AsyncIterator[None]:
    """The render backlog gauge (pipeline.services.backlog): counted here because a gateway
    always runs, while KEDA may have no workers to count it (they scale on it)."""
    stop = asyncio.Event()
    interval = app[SETTINGS].metrics.backlog_interval_seconds
    task = asyncio.create_task(run_backlog_gauge(app[BACKENDS].catalog.backlog, interval, stop))
    yield
    stop.set()
    await task


async def _close_streams(app: web.Application) -> None:
    app[EVENTS].close()  # open event streams end now instead of holding up the shutdown


async def _events_head(request: web.Request) -> web.Response:
    """HEAD of the event stream: its headers, without opening an endless body."""
    return web.Response(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})


def _add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/healthz", healthz)
    router.add_get("/", web_ui.index)
    router.add_get("/openapi.json", openapi.openapi_json)
    router.add_static("/static/", web_ui.STATIC_DIR, append_version=True)
    router.add_get("/v1/events", stream_events, allow_head=False)
    router.add_route("HEAD", "/v1/events", _events_head)
    router.add_post("/v1/images", upload.post_image, expect_handler=upload.expect_continue)
    router.add_get("/v1/images", images.list_images)
    router.add_get("/v1/images/{image_id}", images.get_image)
    router.add_delete("/v1/images/{image_id}", images.delete_image)
    router.add_get("/v1/images/{image_id}/original", images.get_original)
    router.add_get("/v1/images/{image_id}/renditions/{name}", images.get_rendition)
    router.add_get(
        "/v1/images/{image_id}/renditions/{name}/{version}", images.get_rendition_version
    )
    albums.add_routes(router)
    shares.add_routes(router)
    trash.add_routes(router)
    usage.add_routes(router)
    tus.add_routes(router)
