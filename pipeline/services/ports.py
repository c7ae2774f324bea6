"""What the services need from the backends: small protocols, one per role.

The adapters (:mod:`pipeline.adapters`) satisfy them structurally; the services unit tests
pass in-memory fakes typed against the same protocols. Each lists only the methods some
service calls, so a fake stays short and a new adapter knows what it must provide.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pipeline.domain.access import DEFAULT_SCOPES, Scope
from pipeline.domain.albums import AlbumRecord
from pipeline.domain.keys import ApiKeyInfo, NewApiKey
from pipeline.domain.messages import CleanupJob, Event, RenderJob, StoredDeadLetter, StreamedEvent
from pipeline.domain.models import ImageRecord, ReadyImage, TenantCounts, WalkPosition
from pipeline.domain.search import ImageFilter, Order
from pipeline.domain.shares import ShareRecord
from pipeline.domain.uploads import UploadRecord
from pipeline.domain.usage import StoredFigures
from pipeline.imaging.render import RenderResult
from pipeline.imaging.spec import RenditionSpec


class Catalog(Protocol):
    """Image documents with guarded status transitions (``queued -> processing -> ready|failed``).

    ``processing`` is held under a lease (owner, expiry): see ``claim``.

    Every method that returns ``ImageRecord | None`` returns None when the guard did not
    match (no such image for that tenant, or not in the expected status). Backend failures
    raise :class:`~pipeline.domain.errors.CatalogError` (retryable).
    """

    async def insert_image(self, record: ImageRecord) -> None:
        """Raises :class:`~pipeline.domain.errors.DuplicateImage` for a known SHA-256."""
        ...

    async def get_image(self, tenant: str, image_id: str) -> ImageRecord | None: ...

    async def list_images(
        self,
        tenant: str,
        *,
        limit: int,
        before: int | None = None,
        album: str | None = None,
        status: str | None = None,
        order: Order = "upload",
        where: ImageFilter | None = None,
    ) -> list[ImageRecord]:
        """Out of the trash, ``order="upload"``: newest completed first (``seq`` descending),
        ``seq`` below ``before``; ``order="taken"``: the timeline (``taken_key`` descending),
        ``taken_key`` below ``before``. Only images in ``album``, in ``status`` and matching
        ``where`` when given."""
        ...

    async def list_trash(
        self, tenant: str, *, limit: int, before: int | None = None
    ) -> list[ImageRecord]:
        """The tenant's trash, newest completed first, ``seq`` below ``before``."""
        ...

    async def claim(
        self, tenant: str, image_id: str, *, owner: str, lease: timedelta
    ) -> ImageRecord | None:
        """Take the lease: ``queued``, released or expired ``processing`` -> ``processing``
        (an expired lease's takeover counts a crash); None for a live lease or a final status."""
        ...

    async def renew(self, tenant: str, image_id: str, *, owner: str, lease: timedelta) -> bool: ...

    async def release(
        self, tenant: str, image_id: str, *, owner: str, error: str, crashed: bool = False
    ) -> ImageRecord | None: ...

    async def requeue_round(
        self, tenant: str, image_id: str, *, owner: str, error: str
    ) -> ImageRecord | None: ...

    async def mark_ready(
        self,
        tenant: str,
        image_id: str,
        ready: ReadyImage,
        *,
        owner: str | None = None,
        rerender: bool = False,
    ) -> ImageRecord | None: ...

    async def mark_failed(
        self, tenant: str, image_id: str, reason: str, *, owner: str | None = None
    ) -> ImageRecord | None: ...

    async def requeue(self, tenant: str, image_id: str) -> ImageRecord | None: ...

    async def delete_image(
        self, tenant: str, image_id: str, *, trashed_before: datetime | None = None
    ) -> ImageRecord | None:
        """Remove the document (with ``trashed_before``: only if trashed before then)."""
        ...

    async def trash_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        """Set ``trashed_at`` now; None unless the image exists out of the trash."""
        ...

    async def restore_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        """Clear ``trashed_at``; None unless the image is in the trash."""
        ...

    async def trashed_before(self, cutoff: datetime, limit: int = 500) -> list[ImageRecord]:
        """Every tenant's images trashed before ``cutoff``, oldest trash first."""
        ...

    async def stale_unfinished(self, older_than: timedelta, limit: int) -> list[ImageRecord]: ...

    async def queued_images(self, tenant: str, limit: int) -> list[ImageRecord]:
        """Up to ``limit`` of the tenant's ``queued`` images, oldest first."""
        ...

    async def touch(self, tenant: str, image_id: str) -> None: ...

    async def live_partners(self, tenant: str, content_identifier: str) -> list[ImageRecord]:
        """The tenant's ``ready`` images carrying Apple's ``content_identifier`` (in
        ``metadata.content_identifier``): the still and the video of one live photo."""
        ...

    async def link_motion(
        self, tenant: str, photo_id: str, video: ImageRecord, about: dict[str, Any]
    ) -> bool:
        """Make the ready ``video``'s ``video`` rendition the ready photo's ``motion``
        rendition (``about`` its ``metadata.motion``) and the video the photo's
        (``motion_of``: no longer listed). False when the photo is not there and ready."""
        ...

    async def unlink_motion(self, tenant: str, photo_id: str, video_id: str) -> None:
        """Take the ``motion`` rendition that ``video_id`` gave off the photo (it is gone)."""
        ...


class ImageScan(Protocol):
    """Every tenant's images for reconcile and backfill (system tasks that never return
    image data to a client). Failures raise :class:`~pipeline.domain.errors.CatalogError`."""

    async def scan_images(
        self, *, after: WalkPosition | None, limit: int
    ) -> tuple[list[ImageRecord], WalkPosition | None]:
        """The batch after ``after`` (None: the start), at most ``limit`` images by tenant
        and ``seq``, and the position of the next batch (None: the walk is done). A batch
        may be empty while the walk is not done (a tenant's end, deleted images)."""
        ...

    async def count_images(self) -> int:
        """Images of every tenant (a walk's total, for progress)."""
        ...

    async def fail_lost(
        self, tenant: str, image_id: str, reason: str, *, unchanged_since: datetime
    ) -> ImageRecord | None:
        """Any status but ``failed`` -> ``failed`` with ``reason``, only if the document was
        not updated after ``unchanged_since`` (None otherwise: it moved on meanwhile)."""
        ...

    async def tenant_counts(self, tenant: str) -> TenantCounts:
        """The counters the catalog maintains for ``tenant`` (usage, sequence, albums)."""
        ...

    async def repair_counts(self, tenant: str, seen: TenantCounts, counted: TenantCounts) -> int:
        """Set each of ``tenant``'s counters that differs from ``counted`` to it, only where
        it still holds its ``seen`` value; return how many had moved on (left alone)."""
        ...


class Backlog(Protocol):
    """Images of every tenant waiting for a render: ``queued`` in the catalog, whether their
    job is in the render stream or held back by the fairness cap. A system read (counts
    only, no image data). Failures raise :class:`~pipeline.domain.errors.CatalogError`."""

    async def queued_by_media(self) -> dict[str, int]:
        """``{"photo": n, "video": m}``: queued images by media kind."""
        ...


class Albums(Protocol):
    """Album documents and image membership, always scoped to one tenant.

    Membership lives on the image document, so these methods also touch images.
    Backend failures raise :class:`~pipeline.domain.errors.CatalogError` (retryable).
    """

    async def insert_album(self, record: AlbumRecord) -> None:
        """Raises AlbumExists (409) when the tenant has an album of that name."""

    async def get_album(self, tenant: str, album_id: str) -> AlbumRecord | None: ...

    async def list_albums(
        self, tenant: str, *, limit: int, before: str | None = None
    ) -> list[AlbumRecord]:
        """Newest first, ids below ``before``."""
        ...

    async def rename_album(self, tenant: str, album_id: str, name: str) -> AlbumRecord | None:
        """None for no such album; AlbumExists (409) when another album has the name."""

    async def delete_album(self, tenant: str, album_id: str) -> AlbumRecord | None:
        """Delete the album (gone for every read from now on); :meth:`finish_deletes` takes
        it off its images later (the images stay)."""
        ...

    async def finish_deletes(self, *, batch: int, most: int) -> int:
        """:meth:`take_off` for every deleted album, at most ``most`` images in all; how
        many images were changed (0: nothing was left)."""
        ...

    async def take_off(self, tenant: str, album_id: str, *, batch: int, most: int) -> int:
        """Take a deleted album off its images, ``batch`` per write and at most ``most``;
        remove the album once no image holds it. How many images were changed."""
        ...

    async def add_to_album(self, tenant: str, album_id: str, image_id: str) -> bool | None:
        """True when added, False when it was there already, None when no such image."""
        ...

    async def remove_from_album(self, tenant: str, album_id: str, image_id: str) -> bool:
        """True when the image was in the album."""
        ...

    async def album_stats(self, tenant: str, album_id: str) -> tuple[int, str | None]:
        """(number of images, id of the newest image or None)."""
        ...


class ApiKeys(Protocol):
    """API keys, stored as hashes. Failures raise :class:`~pipeline.domain.errors.CatalogError`."""

    async def create_key(
        self,
        tenant: str,
        name: str = "default",
        scopes: frozenset[Scope] = DEFAULT_SCOPES,
        expires_at: datetime | None = None,
    ) -> NewApiKey: ...

    async def use_key(self, key_hash: str) -> ApiKeyInfo | None:
        """The unrevoked key stored under ``key_hash``, its lookup recorded as its last use;
        None for an unknown or revoked one (an expired one is returned)."""
        ...

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyInfo]:
        """Oldest first, revoked keys included; every tenant's when ``tenant`` is None."""
        ...

    async def revoke_key(self, key_id: str) -> ApiKeyInfo | None:
        """Mark revoked (idempotent); None when no key has that id."""
        ...


class Shares(Protocol):
    """Share links, stored by token hash. Failures raise
    :class:`~pipeline.domain.errors.CatalogError`."""

    async def insert_share(self, record: ShareRecord) -> None: ...

    async def find_share(self, token_hash: str) -> ShareRecord | None: ...

    async def list_shares(
        self, tenant: str, *, limit: int, before: str | None = None
    ) -> list[ShareRecord]:
        """Newest first, ids below ``before``."""
        ...

    async def revoke_share(self, tenant: str, share_id: str) -> ShareRecord | None:
        """Mark revoked (idempotent); None when ``tenant`` has no link of that id."""
        ...

    async def count_use(self, share_id: str) -> None: ...


class KeyRevocations(Protocol):
    async def publish_key_revoked(self, key_hash: str) -> None:
        """Tell every gateway to drop the key now; never raises (caches expire anyway)."""
        ...


class UploadCatalog(Protocol):
    """Resumable uploads (:class:`~pipeline.domain.uploads.UploadRecord`), tenant-scoped.

    ``lock_upload`` returns None unless the upload is open, unexpired, at ``offset`` and
    unlocked (or its lock lapsed); ``save_upload`` and ``renew_lock`` return False when
    ``token`` no longer holds the lock. Failures raise
    :class:`~pipeline.domain.errors.CatalogError`.
    """

    async def insert_upload(self, record: UploadRecord) -> None: ...

    async def get_upload(self, tenant: str, upload_id: str) -> UploadRecord | None: ...

    async def lock_upload(
        self,
        tenant: str,
        upload_id: str,
        *,
        offset: int,
        token: str,
        until: datetime,
        now: datetime,
    ) -> UploadRecord | None: ...

    async def renew_lock(
        self, tenant: str, upload_id: str, token: str, until: datetime
    ) -> bool: ...

    async def save_upload(self, record: UploadRecord, token: str) -> bool: ...

    async def release_lock(self, tenant: str, upload_id: str, token: str) -> None: ...

    async def delete_upload(self, tenant: str, upload_id: str) -> UploadRecord | None: ...

    async def expired_uploads(self, now: datetime, limit: int) -> list[UploadRecord]: ...

    async def open_upload_keys(self) -> set[str]:
        """Object keys that open uploads will complete into (reconcile leaves them alone)."""
        ...


class UsageCatalog(Protocol):
    """Shared rate counters, tenant usage and quota reservations (see
    :mod:`pipeline.services.limits` and :mod:`pipeline.services.quota`)."""

    async def count(
        self, counter: str, window: int, expires_at: datetime, amounts: dict[str, int]
    ) -> dict[str, int]: ...

    async def tenant_usage(self, tenant: str) -> tuple[int, int]: ...

    async def stored(self, tenant: str) -> tuple[StoredFigures, StoredFigures]:
        """(the gallery, the trash) of ``tenant``: photos, bytes of originals, renditions."""
        ...

    async def reserved(self, tenant: str, now: datetime) -> tuple[int, int, int]: ...

    async def reserve(
        self, tenant: str, holder: str, size: int, kind: str, expires_at: datetime
    ) -> None: ...

    async def release(self, holder: str) -> None: ...

    async def lock_tenant(self, tenant: str, token: str, until: datetime, now: datetime) -> bool:
        """Take the tenant's quota lock; False while another admission holds it."""
        ...

    async def unlock_tenant(self, tenant: str, token: str) -> None: ...


class EventPublisher(Protocol):
    async def publish_event(self, event: Event) -> None:
        """Tell listeners; never raises (events are notifications, the catalog is the truth)."""
        ...


class CleanupPublisher(EventPublisher, Protocol):
    async def publish_cleanup(self, job: CleanupJob) -> None:
        """Queue a deleted image's objects for removal; raises BusError."""
        ...


class EventLog(Protocol):
    async def last_sequence(self) -> int:
        """The sequence of the newest event in the log (0 when empty); raises
        :class:`~pipeline.domain.errors.BusError`."""
        ...

    def replay_events(self, tenant: str, after: int) -> AsyncIterator[StreamedEvent]:
        """``tenant``'s events with a sequence above ``after``, oldest first, up to the end
        of the log when called; raises :class:`~pipeline.domain.errors.BusError`."""
        ...


class Bus(EventPublisher, Protocol):
    """Jobs, events and dead letters. Failures raise :class:`~pipeline.domain.errors.BusError`."""

    async def publish_job(self, job: RenderJob) -> bool:
        """Queue the job; False: the tenant's share of the render stream is full (the image
        stays queued for a later refill or sweep). Raises BusError."""
        ...

    async def dead_letters(self, limit: int = 1000) -> list[StoredDeadLetter]: ...

    async def remove_dead_letter(self, seq: int) -> None: ...


class Renderer(Protocol):
    """Turns an original into every rendition of ``spec``, off the event loop.

    The worker uses :class:`pipeline.services.process_renderer.ProcessRenderer` (sandboxed
    child processes); :class:`pipeline.services.renderer.ThreadRenderer` runs libvips in a
    thread. ``original`` is the path of a file holding the original (a spool file the caller
    removes after). Raises :class:`~pipeline.domain.errors.ImageRejected` subclasses for input
    that cannot render. ``timeout_seconds`` overrides the render deadline of the limits
    (``render_timeout_seconds``) for this one call: a video's grows with its duration.
    """

    @property
    def spec(self) -> Sequence[RenditionSpec]: ...

    async def render(
        self, original: Path, *, timeout_seconds: float | None = None
    ) -> RenderResult: ...
