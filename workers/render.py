"""The render handler: one job in, every rendition of one image out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from pipeline.adapters.bus import Bus
from pipeline.adapters.catalog import Catalog
from pipeline.adapters.storage.base import ObjectStore
from pipeline.domain import names
from pipeline.domain.errors import ImageRejected, ObjectNotFound
from pipeline.domain.messages import ImageEvent, utcnow
from pipeline.domain.models import ImageRecord, Rendition
from pipeline.domain.outcomes import Ack, Delivery, Outcome, Terminal
from pipeline.imaging.render import RenderResult, render_image
from pipeline.imaging.spec import RenditionSpec
from pipeline.runtime import metrics
from pipeline.runtime.settings import Settings

log = logging.getLogger(__name__)


class RenderHandler:
    """Claims the image, renders it off the event loop, stores renditions, marks it ready."""

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        catalog: Catalog,
        store: ObjectStore,
        spec: Sequence[RenditionSpec],
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._catalog = catalog
        self._store = store
        self._spec = tuple(spec)

    async def __call__(self, delivery: Delivery) -> Outcome:
        job = delivery.job
        if job.reason == "backfill":
            return await self._rerender(job.tenant, job.image_id)
        record = await self._catalog.claim(job.tenant, job.image_id)
        if record is None:
            # Deleted, or already ready/failed: a redelivery or a duplicate publish. Nothing to do.
            return Ack()
        if record.attempts > self._settings.nats.max_deliver:
            # Workers died on this image every time (e.g. killed for memory): stop trying.
            return await self._fail(record, f"gave up after {record.attempts - 1} attempts")
        try:
            result = await self._render_original(record)
        except ImageRejected as exc:
            return await self._fail(record, f"{exc.code}: {exc.public_message}")
        except ObjectNotFound:
            return await self._fail(record, "original object is missing")
        ready = await self._complete(record, result, rerender=False)
        if ready is not None:
            metrics.UPLOAD_TO_READY.observe((utcnow() - record.created_at).total_seconds())
        return Ack()

    async def _rerender(self, tenant: str, image_id: str) -> Outcome:
        """Backfill: render a ready image again with the current spec; it stays ready meanwhile."""
        record = await self._catalog.get_image(tenant, image_id)
        if record is None or record.status != "ready" or self._is_current(record):
            return Ack()
        try:
            result = await self._render_original(record)
        except (ImageRejected, ObjectNotFound) as exc:
            # The old renditions stay served; the letter tells the operator why.
            return Terminal(f"backfill: {exc}")
        await self._complete(record, result, rerender=True)
        return Ack()

    def _is_current(self, record: ImageRecord) -> bool:
        stored = {name: r.spec_hash for name, r in record.renditions.items()}
        return stored == {s.name: s.spec_hash for s in self._spec}

    async def _render_original(self, record: ImageRecord) -> RenderResult:
        original = await self._store.get_bytes(record.original_key)
        return await asyncio.to_thread(self._render, original)

    async def _complete(
        self, record: ImageRecord, result: RenderResult, *, rerender: bool
    ) -> ImageRecord | None:
        """Store the renditions, mark the image ready, drop older renditions, tell listeners."""
        renditions = await self._store_renditions(record, result)
        ready = await self._catalog.mark_ready(
            record.tenant,
            record.id,
            renditions=renditions,
            width=result.width,
            height=result.height,
            frames=result.frames,
            metadata=result.metadata,
            thumbhash=result.thumbhash,
            rerender=rerender,
        )
        if ready is None:
            await self._clean_up_if_deleted(record)
            return None
        await self._drop_outdated(record, renditions)
        await self._bus.publish_event(
            ImageEvent(
                type="ready",
                image_id=record.id,
                tenant=record.tenant,
                renditions=sorted(renditions),
            )
        )
        return ready

    def _render(self, original: bytes) -> RenderResult:
        deadline = time.monotonic() + self._settings.limits.render_timeout_seconds
        result = render_image(
            original,
            self._spec,
            self._settings.limits,
            store_gps=self._settings.worker.store_gps,
            deadline=deadline,
        )
        metrics.DECODE_SECONDS.observe(result.decode_seconds)
        for rendition in result.renditions:
            metrics.RENDER_SECONDS.labels(rendition=rendition.name).observe(rendition.seconds)
        return result

    async def _store_renditions(
        self, record: ImageRecord, result: RenderResult
    ) -> dict[str, Rendition]:
        stored: dict[str, Rendition] = {}
        for out in result.renditions:
            # Content-addressed by spec hash: a redelivered job overwrites the same keys,
            # so a worker killed mid-job never leaves a second copy behind.
            key = names.rendition_key(
                record.tenant, record.id, out.name, out.spec_hash, out.extension
            )
            await self._store.put_bytes(key, out.data, content_type=out.content_type)
            stored[out.name] = Rendition(
                name=out.name,
                key=key,
                spec_hash=out.spec_hash,
                width=out.width,
                height=out.height,
                content_type=out.content_type,
                bytes=len(out.data),
            )
        return stored

    async def _drop_outdated(self, record: ImageRecord, current: dict[str, Rendition]) -> None:
        """Remove renditions of an older spec (after a spec change and re-render)."""
        keep = {r.key for r in current.values()}
        for key in await self._store.list_keys(names.rendition_prefix(record.tenant, record.id)):
            if key not in keep:
                await self._store.delete(key)

    async def _clean_up_if_deleted(self, record: ImageRecord) -> None:
        if await self._catalog.get_image(record.tenant, record.id) is None:
            # Deleted while we rendered: the gateway removed what existed then; remove ours.
            await self._store.delete_prefix(names.rendition_prefix(record.tenant, record.id))

    async def _fail(self, record: ImageRecord, reason: str) -> Outcome:
        log.warning("image %s failed: %s", record.id, reason)
        await self._catalog.mark_failed(record.tenant, record.id, reason)
        await self._bus.publish_event(
            ImageEvent(type="failed", image_id=record.id, tenant=record.tenant, reason=reason)
        )
        metrics.JOBS.labels(outcome="failed").inc()
        return Terminal(reason)
