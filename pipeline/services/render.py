"""Render: one job in, every rendition of one image stored, the image ready (or failed).

Steps for an upload's job: claim the image (a guarded ``queued|processing -> processing``),
give up past the attempts limit, render the original through the :class:`Renderer` port,
store each rendition under its content-addressed key, mark the image ready, drop renditions
of an older spec, tell listeners. Input that cannot render fails the image and is terminal;
dependency errors propagate, and the consumer turns them into a retry.
A backfill job re-renders a ready image that is not current; it stays ready meanwhile.
"""

from __future__ import annotations

import logging

from pipeline.domain import names
from pipeline.domain.errors import ImageRejected, ObjectNotFound
from pipeline.domain.messages import ImageEvent, RenderJob, utcnow
from pipeline.domain.models import ImageRecord, Rendition
from pipeline.domain.outcomes import Ack, Delivery, Outcome, Terminal
from pipeline.imaging.render import RenderResult
from pipeline.runtime import metrics
from pipeline.services.delete import remove_orphaned_renditions
from pipeline.services.ports import Bus, Catalog, ObjectStore, Renderer

log = logging.getLogger(__name__)


class RenderService:
    """``handle`` is the consumer's handler for both lanes (render and backfill)."""

    def __init__(
        self,
        catalog: Catalog,
        store: ObjectStore,
        bus: Bus,
        renderer: Renderer,
        *,
        max_attempts: int,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._bus = bus
        self._renderer = renderer
        self._max_attempts = max_attempts

    async def handle(self, delivery: Delivery) -> Outcome:
        job = delivery.job
        if job.reason == "backfill":
            return await self._rerender(job)
        return await self._render(job)

    async def _render(self, job: RenderJob) -> Outcome:
        record = await self._catalog.claim(job.tenant, job.image_id)
        if record is None:
            # Deleted, or already ready/failed: a redelivery or a duplicate publish. Nothing to do.
            return Ack()
        if record.attempts > self._max_attempts:
            # Workers died on this image every time (e.g. killed for memory): stop trying.
            return await self._fail(record, f"gave up after {record.attempts - 1} attempts")
        try:
            result = await self._render_original(record)
        except ImageRejected as exc:
            return await self._fail(record, f"{exc.code}: {exc.public_message}")
        except ObjectNotFound:
            return await self._fail(record, "original object is missing")
        if await self._complete(record, result, rerender=False):
            metrics.UPLOAD_TO_READY.observe((utcnow() - record.created_at).total_seconds())
        return Ack()

    async def _rerender(self, job: RenderJob) -> Outcome:
        """Backfill: render a ready image again with the current spec; it stays ready meanwhile."""
        record = await self._catalog.get_image(job.tenant, job.image_id)
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
        return stored == {s.name: s.spec_hash for s in self._renderer.spec}

    async def _render_original(self, record: ImageRecord) -> RenderResult:
        original = await self._store.get_bytes(record.original_key)
        return await self._renderer.render(original)

    async def _complete(self, record: ImageRecord, result: RenderResult, *, rerender: bool) -> bool:
        """Store the renditions, mark the image ready, drop older renditions, tell listeners.

        False when the image was no longer there to mark (deleted while rendering)."""
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
            await remove_orphaned_renditions(self._catalog, self._store, record.tenant, record.id)
            return False
        await self._drop_outdated(record, renditions)
        event = ImageEvent(
            type="ready", image_id=record.id, tenant=record.tenant, renditions=sorted(renditions)
        )
        await self._bus.publish_event(event)
        return True

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
            stored[out.name] = Rendition.from_rendered(out, key)
        return stored

    async def _drop_outdated(self, record: ImageRecord, current: dict[str, Rendition]) -> None:
        """Remove renditions of an older spec (after a spec change and re-render)."""
        keep = {r.key for r in current.values()}
        for key in await self._store.list_keys(names.rendition_prefix(record.tenant, record.id)):
            if key not in keep:
                await self._store.delete(key)

    async def _fail(self, record: ImageRecord, reason: str) -> Outcome:
        log.warning("image %s failed: %s", record.id, reason)
        await self._catalog.mark_failed(record.tenant, record.id, reason)
        await self._bus.publish_event(
            ImageEvent(type="failed", image_id=record.id, tenant=record.tenant, reason=reason)
        )
        metrics.JOBS.labels(outcome="failed").inc()
        return Terminal(reason)
