"""The aiohttp application: routes, middlewares, and the backends' lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway import albums, images, upload, web_ui
from gateway.keys import ALBUMS, BACKENDS, DELETE, INGEST, SETTINGS
from gateway.middleware import auth_middleware, errors_middleware, metrics_middleware
from gateway.sse import EVENT_HUB, EventHub, stream_events
from pipeline.bootstrap import album_service, delete_service, ingest_service, open_backends
from pipeline.imaging.spec import parse_spec
from pipeline.runtime.health import healthz, readiness_response
from pipeline.runtime.settings import Settings


def make_app(settings: Settings) -> web.Application:
    parse_spec(settings.renditions)  # a bad spec fails here, at start, not on the first upload
    app = web.Application(middlewares=[errors_middleware, metrics_middleware, auth_middleware()])
    app[SETTINGS] = settings
    app[upload.UPLOAD_SLOTS] = upload.UploadSlots(settings.gateway.max_concurrent_uploads)
    app[EVENT_HUB] = EventHub()
    app.cleanup_ctx.extend([_backends_ctx, _events_ctx])
    app.on_shutdown.append(_close_streams)
    _add_routes(app.router)
    return app


async def _backends_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the backends for the app's lifetime and build the services on them."""
    settings = app[SETTINGS]
    async with open_backends(settings, name="gallery-gateway") as backends:
        app[BACKENDS] = backends
        app[INGEST] = ingest_service(backends, settings)
        app[DELETE] = delete_service(backends)
        app[ALBUMS] = album_service(backends)
        yield


async def _events_ctx(app: web.Application) -> AsyncIterator[None]:
    unsubscribe = await app[BACKENDS].bus.subscribe_events(app[EVENT_HUB].publish)
    yield
    await unsubscribe()


async def _close_streams(app: web.Application) -> None:
    app[EVENT_HUB].closing.set()  # open event streams end now instead of holding up the shutdown


async def _readyz(request: web.Request) -> web.Response:
    return await readiness_response(request.app[BACKENDS].readiness_checks())


def _add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/healthz", healthz)
    router.add_get("/readyz", _readyz)
    router.add_get("/", web_ui.index)
    router.add_static("/static/", web_ui.STATIC_DIR, append_version=True)
    router.add_get("/v1/events", stream_events)
    router.add_post("/v1/images", upload.post_image)
    router.add_get("/v1/images", images.list_images)
    router.add_get("/v1/images/{image_id}", images.get_image)
    router.add_delete("/v1/images/{image_id}", images.delete_image)
    router.add_get("/v1/images/{image_id}/original", images.get_original)
    router.add_get("/v1/images/{image_id}/renditions/{name}", images.get_rendition)
    albums.add_routes(router)
