"""Render: one job in, every rendition of one image stored, the image ready (or failed).

The lifecycle rule (docs/architecture.md, step 5): an image is ``ready``, ``failed`` with a
reason, or being worked on under a lease. Steps for an upload's job: claim the image (take
its lease; a live lease is refused, so nothing renders twice at once), fail it once its
renders have crashed ``max_crashes`` workers, render the original through the
:class:`Renderer` port while the lease is renewed, store each rendition under its
content-addressed key, mark the image ready, drop renditions of an older spec, tell
listeners. Input that cannot render fails the image (terminal). A dependency error releases
the lease and retries with backoff; on the job's last delivery (``max_deliver``) the round
is over: the image goes back to ``queued`` for the sweeper, and fails with the last error
only after ``max_rounds`` rounds. Which of these happens is the fate table's choice
(:mod:`pipeline.jobs.fate`); this service carries out the catalog half of it. Every job ends
in one structured log line.
A backfill job re-renders a ready image that is not current; it stays ready meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pipeline.domain import names
from pipeline.domain.errors import (
    DependencyError,
    ImageRejected,
    ObjectNotFound,
    PipelineError,
    RenderCrashed,
)
from pipeline.domain.messages import RERENDER_REASONS, ImageEvent, RenderJob, utcnow
from pipeline.domain.models import MOTION, VIDEO_PREVIEW, ImageRecord, ReadyImage, Rendition
from pipeline.domain.objects import ObjectStore
from pipeline.domain.outcomes import Ack, Delivery, Outcome, Retry, Terminal
from pipeline.imaging import animated, deepzoom
from pipeline.imaging.render import RenderedRendition, RenderResult
from pipeline.jobs.fate import History, Result, Verdict, decide
from pipeline.runtime import metrics
from pipeline.runtime.joblog import log_outcome
from pipeline.services.backfill import stale_video
from pipeline.services.delete import remove_orphaned_renditions
from pipeline.services.handback import CLAIM_LINGER, Handback, PendingHandbacks
from pipeline.services.lease import HeldLease
from pipeline.services.live import pair_live_photo
from pipeline.services.ports import Bus, Catalog, Renderer
from pipeline.services.spool import CHUNK_BYTES, Spool

DEFAULT_SPOOL_BYTES = 1024**3

log = logging.getLogger(__name__)


def worker_identity() -> str:
    """``host/pid``: who holds a lease, for an operator reading the catalog."""
    return f"{socket.gethostname()}/{os.getpid()}"


@dataclass(frozen=True)
class RenderPolicy:
    """The lifecycle's limits (from the settings; see docs/architecture.md step 5).

    ``max_deliver``: JetStream's deliveries of one job; ``lease``: how long a claim holds
    without renewal; ``max_crashes``: renders that killed their worker before the image
    fails; ``max_rounds``: retry rounds a dependency outage may exhaust before it fails.
    """

    max_deliver: int
    lease: timedelta
    max_crashes: int
    max_rounds: int
    worker: str = ""
    # Render jobs a tenant may hold in the render stream (its share; 0: no refill). After
    # each of its jobs ends, the tenant's oldest queued images are published up to it.
    share_of: Callable[[str], int] = lambda _tenant: 0
    # A video's render deadline in seconds for its duration (None: the limits' deadline,
    # render_timeout_seconds, for every image).
    video_timeout: Callable[[float | None], float] | None = None
    # The video renditions' spec hashes (pipeline.imaging.video.video_hashes; empty: not
    # compared), so a backfill after a change of the spec's video entry re-renders videos.
    video_hashes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Done:
    """How a job ended: the outcome for the bus and the words for the log line."""

    outcome: Outcome
    label: str
    reason: str | None = None


class RenderService:
    """``handle`` is the consumer's handler for both lanes (render and backfill).

    Originals reach the renderer as files in ``spool`` (default: the system's temporary
    directory, 1 GiB)."""

    def __init__(
        self,
        catalog: Catalog,
        store: ObjectStore,
        bus: Bus,
        renderer: Renderer,
        *,
        policy: RenderPolicy,
        spool: Spool | None = None,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._bus = bus
        self._renderer = renderer
        self._policy = policy
        self._spool = spool if spool is not None else Spool(None, DEFAULT_SPOOL_BYTES)
        self.handbacks = PendingHandbacks(catalog)

    async def handle(self, delivery: Delivery[RenderJob]) -> Outcome:
        """Run one delivery to an outcome; log one line for it. Raises only for bugs."""
        started = time.monotonic()
        try:
            if self.handbacks:
                await self.handbacks.flush()  # before a claim that could take one over
            if delivery.job.reason in RERENDER_REASONS:
                done = await self._rerender(delivery.job)
            else:
                done = await self._render(delivery)
        except DependencyError as exc:
            done = self._outage(delivery, exc)
        except Exception as exc:
            self._log(delivery, _Done(Retry(str(exc)), "error", _reason(exc)), started)
            raise
        self._log(delivery, done, started)
        if delivery.job.reason not in RERENDER_REASONS and not isinstance(done.outcome, Retry):
            await self._refill(delivery.job.tenant)
        return done.outcome

    async def _refill(self, tenant: str) -> None:
        """Publish the tenant's oldest queued images until its share of the render stream is
        full again: a tenant's import flows at the pace its own jobs finish, behind nobody
        and ahead of nobody. Best effort: the outbox sweeper covers a failure here."""
        share = self._policy.share_of(tenant)
        if share <= 0:
            return
        try:
            for record in await self._catalog.queued_images(tenant, share):
                if not await self._bus.publish_job(record.render_job()):
                    break
        except DependencyError as exc:
            log.warning("refill for tenant %s failed, the sweeper will publish: %s", tenant, exc)

    def _log(self, delivery: Delivery[RenderJob], done: _Done, started: float) -> None:
        job = delivery.job
        log_outcome(
            image_id=job.image_id,
            tenant=job.tenant,
            outcome=done.label,
            attempt=delivery.attempt,
            seconds=time.monotonic() - started,
            reason=done.reason,
        )

    async def _render(self, delivery: Delivery[RenderJob]) -> _Done:
        job = delivery.job
        owner = f"{self._policy.worker}/{uuid.uuid4().hex[:8]}"
        lease = self._policy.lease
        try:
            record = await self._catalog.claim(job.tenant, job.image_id, owner=owner, lease=lease)
        except DependencyError:
            # A frozen catalog may still apply this claim once it thaws, leaving a lease that
            # no job holds (its takeover would count a crash): hand it back if it appears.
            self.handbacks.remember(
                Handback(job.tenant, job.image_id, owner, "claim timed out", linger=CLAIM_LINGER)
            )
            raise
        if record is None:
            return await self._not_claimed(delivery)
        if record.crashes >= self._policy.max_crashes:
            # Each crash is a lease whose holder died mid-render (SIGKILL, OOM, a segfault).
            return await self._fail(
                record, owner, f"render crashed the worker {record.crashes} times"
            )
        async with HeldLease(self._catalog, record, owner, lease):
            try:
                return await self._render_claimed(record, owner)
            except DependencyError as exc:
                return await self._retry(delivery, record, owner, _reason(exc))
            except RenderCrashed as exc:
                return await self._crashed(delivery, record, owner, _reason(exc))
            except Exception as exc:
                metrics.UNEXPECTED_ERRORS.labels(component="worker").inc()
                log.exception("unexpected error rendering %s", record.id)
                return await self._retry(delivery, record, owner, f"unexpected: {_reason(exc)}")

    async def _render_claimed(self, record: ImageRecord, owner: str) -> _Done:
        try:
            async with self._original(record) as original:
                result = await self._renderer.render(
                    original, timeout_seconds=self._timeout(record)
                )
                # Inside the block: a video's preview is a file beside the original.
                completed = await self._complete(record, result, owner=owner)
        except ImageRejected as exc:
            return await self._fail(record, owner, f"{exc.code}: {exc.public_message}")
        except ObjectNotFound:
            return await self._fail(record, owner, "original object is missing")
        if not completed:
            return _Done(Ack(), "superseded", "deleted or taken over while rendering")
        metrics.UPLOAD_TO_READY.observe((utcnow() - record.created_at).total_seconds())
        return _Done(Ack(), "ready")

    def _timeout(self, record: ImageRecord) -> float | None:
        """The render deadline of ``record``: a video's grows with its duration."""
        if record.media == "video" and self._policy.video_timeout is not None:
            return self._policy.video_timeout(record.duration_seconds)
        return None

    def _verdict(
        self, result: Result, delivery: Delivery[RenderJob], rounds_left: bool | None = None
    ) -> Verdict:
        """The fate table's verdict (pipeline.jobs.fate) for this delivery of this lane."""
        history = History(
            attempt=delivery.attempt,
            max_deliver=self._policy.max_deliver,
            # Only an upload's image is republished by the sweeper; a re-render is not.
            swept=delivery.job.reason not in RERENDER_REASONS,
            rounds_left=rounds_left,
        )
        return decide(result, history)

    def _outage(self, delivery: Delivery[RenderJob], exc: DependencyError) -> _Done:
        """A dependency failed before (or instead of) a lease could be used or released."""
        reason = _reason(exc)
        if self._verdict(Result.TRANSIENT, delivery) is Verdict.SWEEPER:
            # No delivery is left, but nothing is stranded: the image is queued or under a
            # lease that expires, and the sweeper republishes both.
            return _Done(Ack(), "left_for_sweeper", reason)
        return _Done(Retry(reason), "retry", reason)

    async def _not_claimed(self, delivery: Delivery[RenderJob]) -> _Done:
        """A duplicate or a redelivery: already final, deleted, or someone holds the lease."""
        job = delivery.job
        record = await self._catalog.get_image(job.tenant, job.image_id)
        if record is None or record.status in ("ready", "failed"):
            return _Done(Ack(), "skipped", "deleted" if record is None else record.status)
        expires = record.lease_expires_at or utcnow()
        reason = f"lease held by {record.lease_owner} until {expires.isoformat()}"
        if self._verdict(Result.BUSY, delivery) is Verdict.SWEEPER:
            return _Done(Ack(), "left_for_sweeper", reason)
        # Look again once that lease could have lapsed: the holder finishes, or it died.
        wait = max((expires - utcnow()).total_seconds(), 0.0) + 1.0
        return _Done(Retry(reason, delay=wait), "busy", reason)

    async def _retry(
        self, delivery: Delivery[RenderJob], record: ImageRecord, owner: str, reason: str
    ) -> _Done:
        """A dependency failed mid-job: retry with backoff, or end the round on the last try."""
        catalog = self._catalog
        rounds = record.rounds + 1
        verdict = self._verdict(Result.TRANSIENT, delivery, rounds < self._policy.max_rounds)
        if verdict is Verdict.NAK:
            await self.handbacks.release(Handback(record.tenant, record.id, owner, reason))
            return _Done(Retry(reason), "retry", reason)
        if verdict is Verdict.FAIL:
            return await self._fail(
                record, owner, f"gave up after {rounds} rounds of retries: {reason}"
            )
        # An outage is not the photo's fault: back to queued, the sweeper tries again later.
        try:
            await catalog.requeue_round(record.tenant, record.id, owner=owner, error=reason)
        except DependencyError:
            # The catalog is away on the last delivery: hand the lease back once it answers,
            # so the sweeper's republish is not taken for a crash (it finds the lease expired).
            self.handbacks.remember(Handback(record.tenant, record.id, owner, reason))
            raise
        metrics.JOBS.labels(outcome="requeued").inc()
        return _Done(Ack(), "requeued", f"round {rounds} of {self._policy.max_rounds}: {reason}")

    async def _crashed(
        self, delivery: Delivery[RenderJob], record: ImageRecord, owner: str, reason: str
    ) -> _Done:
        """The render process died under this image (the worker survived): one more crash."""
        crashes = record.crashes + 1
        if crashes >= self._policy.max_crashes:
            return await self._fail(record, owner, f"render crashed the worker {crashes} times")
        await self.handbacks.release(
            Handback(record.tenant, record.id, owner, reason, crashed=True)
        )
        if self._verdict(Result.CRASHED, delivery) is Verdict.SWEEPER:
            return _Done(Ack(), "left_for_sweeper", reason)
        return _Done(Retry(reason), "retry", reason)

    async def _rerender(self, job: RenderJob) -> _Done:
        """Backfill: render a ready image again with the current spec; it stays ready meanwhile.

        A reconcile job re-renders even a current image: its renditions went missing."""
        record = await self._catalog.get_image(job.tenant, job.image_id)
        current = job.reason == "backfill" and record is not None and self._is_current(record)
        if record is None or record.status != "ready" or current:
            return _Done(Ack(), "skipped", "not ready or already current")
        try:
            async with self._original(record) as original:
                result = await self._renderer.render(
                    original, timeout_seconds=self._timeout(record)
                )
                await self._complete(record, result, rerender=True)
        except (ImageRejected, ObjectNotFound) as exc:
            # The old renditions stay served; the letter tells the operator why.
            return _Done(Terminal(f"backfill: {exc}"), "backfill_failed", str(exc))
        return _Done(Ack(), "rerendered")

    def _is_current(self, record: ImageRecord) -> bool:
        if stale_video(record, self._policy.video_hashes):
            return False
        stored = {name: r.spec_hash for name, r in record.renditions.items()}
        # A video's preview and a motion photo's video follow the video spec (above).
        if record.media == "video":
            stored.pop(VIDEO_PREVIEW, None)
        stored.pop(MOTION, None)
        # A large photo's tiles and an animation follow their own hashes, not the spec's.
        stored.pop(deepzoom.NAME, None)
        stored.pop(animated.NAME, None)
        return stored == {s.name: s.spec_hash for s in self._renderer.spec}

    def _original(self, record: ImageRecord) -> contextlib.AbstractAsyncContextManager[Path]:
        """The original streamed into a spool file (never whole in memory), removed with
        what the render wrote beside it when the block ends."""
        return self._spool.fetch(self._store, record.original_key)

    async def _complete(
        self,
        record: ImageRecord,
        result: RenderResult,
        *,
        owner: str | None = None,
        rerender: bool = False,
    ) -> bool:
        """Store the renditions, mark the image ready, drop older renditions, tell listeners.

        False when the image was no longer there to mark (deleted while rendering, or its
        lease taken over by a worker that renders the same content-addressed keys)."""
        renditions = await self._store_renditions(record, result)
        done = ReadyImage(
            renditions=renditions,
            width=result.width,
            height=result.height,
            frames=result.frames,
            metadata=result.metadata,
            thumbhash=result.thumbhash,
        )
        ready = await self._catalog.mark_ready(
            record.tenant, record.id, done, owner=owner, rerender=rerender
        )
        if ready is None:
            await remove_orphaned_renditions(self._catalog, self._store, record.tenant, record.id)
            return False
        await self._drop_outdated(record, renditions)
        await self._pair(ready)
        event = ImageEvent(
            type="ready", image_id=record.id, tenant=record.tenant, renditions=sorted(renditions)
        )
        await self._bus.publish_event(event)
        return True

    async def _pair(self, ready: ImageRecord) -> None:
        """An Apple live photo's half finds the other (:mod:`pipeline.services.live`). Best
        effort: the image is ready either way, and a re-render pairs it again."""
        try:
            photo = await pair_live_photo(self._catalog, ready)
            if photo is not None and photo.id != ready.id:
                # The photo became ready earlier, as a still: listeners (the web UI) learn
                # that it plays now, as after a re-render.
                names_now = sorted({*photo.renditions, MOTION})
                await self._bus.publish_event(
                    ImageEvent(
                        type="ready", image_id=photo.id, tenant=photo.tenant, renditions=names_now
                    )
                )
        except DependencyError as exc:
            log.warning("live photo %s not paired (re-render to pair it): %s", ready.id, exc)

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
            if out.path is not None:  # a video preview: streamed from its file
                stored[out.name] = await self._store_file(key, out, Path(out.path))
                continue
            await self._store.put_bytes(key, out.data, content_type=out.content_type)
            stored[out.name] = Rendition.from_rendered(out, key)
        return stored

    async def _store_file(self, key: str, out: RenderedRendition, path: Path) -> Rendition:
        digest = hashlib.sha256()

        async def chunks() -> AsyncIterator[bytes]:
            with path.open("rb") as file:
                while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
                    digest.update(chunk)
                    yield chunk

        size = await self._store.put_stream(key, chunks(), content_type=out.content_type)
        return Rendition(
            name=out.name,
            key=key,
            spec_hash=out.spec_hash,
            width=out.width,
            height=out.height,
            content_type=out.content_type,
            bytes=size,
            sha256=digest.hexdigest(),
        )

    async def _drop_outdated(self, record: ImageRecord, current: dict[str, Rendition]) -> None:
        """Remove renditions of an older spec (after a spec change and re-render)."""
        keep = {r.key for r in current.values()}
        for key in await self._store.list_keys(names.rendition_prefix(record.tenant, record.id)):
            if key not in keep:
                await self._store.delete(key)

    async def _fail(self, record: ImageRecord, owner: str, reason: str) -> _Done:
        await self._catalog.mark_failed(record.tenant, record.id, reason, owner=owner)
        await self._bus.publish_event(
            ImageEvent(type="failed", image_id=record.id, tenant=record.tenant, reason=reason)
        )
        metrics.JOBS.labels(outcome="failed").inc()
        return _Done(Terminal(reason), "failed", reason)


def _reason(exc: Exception) -> str:
    code = exc.code if isinstance(exc, PipelineError) else type(exc).__name__
    return f"{code}: {exc}"
