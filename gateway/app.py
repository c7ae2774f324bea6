"""The aiohttp application: routes, middlewares, and the backends' lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway import images, upload, web_ui
from gateway.keys import BACKENDS, SETTINGS
from gateway.middleware import auth_middleware, errors_middleware, metrics_middleware
from gateway.sse import EVENT_HUB, EventHub, stream_events
from pipeline.bootstrap import open_backends
from pipeline.imaging.spec import parse_spec
from pipeline.runtime.health import healthz, readiness_response
from pipeline.runtime.settings import Settings


def make_app(settings: Settings) -> web.Application:
    parse_spec(settings.renditions)  # a bad spec fails here, at start, not on the first upload
    app = web.Application(middlewares=[errors_middleware, metrics_middleware, auth_middleware()])
    app[SETTINGS] = settings
    app[upload.UPLOAD_SLOTS] = upload.UploadSlots(settings.gateway.max_concurrent_uploads)

    async def backends_ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_backends(settings, name="gallery-gateway") as backends:
            app[BACKENDS] = backends
            yield

    hub = EventHub()
    app[EVENT_HUB] = hub

    async def events_ctx(app: web.Application) -> AsyncIterator[None]:
        unsubscribe = await app[BACKENDS].bus.subscribe_events(hub.publish)
        yield
        await unsubscribe()

    async def close_streams(_: web.Application) -> None:
        hub.closing.set()  # open event streams end now instead of holding up the shutdown

    app.cleanup_ctx.extend([backends_ctx, events_ctx])
    app.on_shutdown.append(close_streams)

    async def readyz(request: web.Request) -> web.Response:
        return await readiness_response(request.app[BACKENDS].readiness_checks())

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/", web_ui.index)
    app.router.add_static("/static/", web_ui.STATIC_DIR, append_version=True)
    app.router.add_get("/v1/events", stream_events)
    app.router.add_post("/v1/images", upload.post_image)
    app.router.add_get("/v1/images", images.list_images)
    app.router.add_get("/v1/images/{image_id}", images.get_image)
    app.router.add_delete("/v1/images/{image_id}", images.delete_image)
    app.router.add_get("/v1/images/{image_id}/original", images.get_original)
    app.router.add_get("/v1/images/{image_id}/renditions/{name}", images.get_rendition)
    return app
