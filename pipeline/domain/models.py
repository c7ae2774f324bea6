"""The catalog's documents, as typed models, and the time-sortable image id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field
from ulid import LaxMonotonicPolicy, ULIDGenerator

from pipeline.domain import search
from pipeline.domain.messages import JobReason, RenderJob, utcnow
from pipeline.domain.search import TakenSource

Status = Literal["queued", "processing", "ready", "failed"]
# The rendition holding a motion photo's video (pipeline.imaging.motion.NAME), and the one
# holding a video's preview (pipeline.imaging.spec.RESERVED_NAME).
MOTION = "motion"
VIDEO_PREVIEW = "video"

# Monotonic within a millisecond: ids made in the same millisecond still sort in creation
# order (the lax policy draws fresh randomness instead of failing on the 2**80th).
_IDS = ULIDGenerator(policy=LaxMonotonicPolicy())


def new_image_id() -> str:
    """A ULID (26 Crockford base32 characters: 48 bits of milliseconds, 80 more).

    Ids sort by the time the upload started; the listing pages by :attr:`ImageRecord.seq`
    instead, taken when it completed.
    """
    return str(_IDS.generate())


class WalkPosition(NamedTuple):
    """Where a walk over every tenant's images stands: after ``seq`` of ``tenant``."""

    tenant: str
    seq: int


@dataclass
class TenantCounts:
    """A tenant's maintained counters (or the same counted from its images): ``images`` and
    ``bytes`` of originals, ``seq`` the highest listing number, ``albums`` each album's
    ``images`` (album id: count)."""

    images: int = 0
    bytes: int = 0
    seq: int = 0
    albums: dict[str, int] = field(default_factory=dict)

    def add(self, record: ImageRecord) -> None:
        """Count one image of the tenant."""
        self.images += 1
        self.bytes += record.bytes
        self.seq = max(self.seq, record.seq)
        if record.trashed_at is not None:
            return  # still stored (usage counts it), out of its albums' counts
        for album in record.albums:
            self.albums[album] = self.albums.get(album, 0) + 1


class Rendered(Protocol):
    """What a renderer produced for one rendition (e.g. imaging's ``RenderedRendition``)."""

    @property
    def name(self) -> str: ...
    @property
    def spec_hash(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def content_type(self) -> str: ...
    @property
    def data(self) -> bytes: ...


class Rendition(BaseModel):
    """A stored rendition as the catalog records it (``bytes`` = encoded size).

    ``sha256`` is the hex SHA-256 of the stored bytes (None for renditions recorded before
    it was kept); :attr:`version` is what the rendition's URL and ETag carry.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    key: str
    spec_hash: str
    width: int
    height: int
    content_type: str
    bytes: int
    sha256: str | None = None

    @property
    def version(self) -> str:
        """Changes whenever the bytes do: the first 20 hex digits of their SHA-256 (80 bits,
        plenty to tell one image's renditions apart), or the spec hash for old records."""
        return self.sha256[:20] if self.sha256 else self.spec_hash

    @classmethod
    def from_rendered(cls, out: Rendered, key: str) -> Rendition:
        """The record of ``out`` once stored under ``key``."""
        return cls(
            name=out.name,
            key=key,
            spec_hash=out.spec_hash,
            width=out.width,
            height=out.height,
            content_type=out.content_type,
            bytes=len(out.data),
            sha256=hashlib.sha256(out.data).hexdigest(),
        )


class ReadyImage(BaseModel):
    """What a finished render records on its image when it becomes ``ready``.

    ``renditions`` by name; ``width`` x ``height`` the upright size in pixels; ``frames``
    the page/frame count; ``metadata`` what was kept of the EXIF (JSON-safe); ``thumbhash``
    the placeholder, base64.
    """

    model_config = ConfigDict(frozen=True)

    renditions: dict[str, Rendition]
    width: int
    height: int
    frames: int
    metadata: dict[str, Any]
    thumbhash: str


class ImageRecord(BaseModel):
    """One uploaded photo and everything derived from it."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    tenant: str
    status: Status
    sha256: str
    content_type: str
    bytes: int
    width: int
    height: int
    frames: int = 1
    duration_seconds: float | None = None
    """A video's duration by its container header (None: a photo, or not stated)."""
    filename: str | None = None
    original_key: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    ready_at: datetime | None = None
    # The lifecycle (docs/architecture.md, "Every image reaches a terminal state"):
    # ``attempts`` counts claims; a claim is a lease (owner, expiry) renewed while the
    # render runs; ``crashes`` counts leases taken over after their holder died; ``rounds``
    # counts retry rounds a dependency outage exhausted; ``last_error`` says why.
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    crashes: int = 0
    rounds: int = 0
    last_error: str | None = None
    failure: str | None = None
    renditions: dict[str, Rendition] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    thumbhash: str | None = None
    motion_of: str | None = None
    """A live photo's video: the id of the photo it plays in (not listed on its own)."""
    albums: list[str] = Field(default_factory=list)
    """Ids of the tenant's albums this image is in (an image may be in several)."""
    seq: int = 0
    """The tenant's completion sequence number, given when the record is written (the
    upload completed): the listing's order and cursor. 0 until the catalog gives one."""
    taken_key: int = 0
    """The timeline's sort key and cursor (:mod:`pipeline.domain.search`), written with
    ``seq``; 0 until the catalog gives one."""
    trashed_at: datetime | None = None
    """When it was deleted into the trash (None: not in the trash). A trashed image keeps
    its objects and counts towards the quota until it is restored or purged."""

    @property
    def media(self) -> str:
        """``video`` for a video original (by the type its bytes showed), ``motion`` for a
        photo with a ``motion`` rendition (the video a motion photo carries), else ``photo``."""
        if self.content_type.startswith("video/"):
            return "video"
        return "motion" if MOTION in self.renditions else "photo"

    @property
    def taken(self) -> tuple[datetime, TakenSource]:
        """When it was taken for the timeline, and whether that is the ``capture`` time
        (the camera's wall clock, naive, as UTC) or the ``upload`` time."""
        return search.taken(self.metadata, self.created_at)

    def search_fields(self, seq: int | None = None) -> dict[str, Any]:
        """``taken_key`` and ``terms`` as stored beside the document (``seq``: its number
        when the record does not have it yet)."""
        return search.derived_fields(
            self.filename, self.metadata, self.media, self.created_at, seq or self.seq
        )

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)

    def _sweep_mark(self) -> str:
        """What makes this stale state distinct: claims so far and the clock the sweeper read
        (the lease expiry of an abandoned claim, else when the image was last touched)."""
        clock = self.lease_expires_at if self.status == "processing" else self.updated_at
        stamp = int((clock or self.updated_at).timestamp() * 1000)
        return f"a{self.attempts}-{stamp}"

    def render_job(self, reason: JobReason = "upload") -> RenderJob:
        """The job that (re-)renders this image; ``reason`` picks the lane and de-duplication."""
        return RenderJob(
            image_id=self.id,
            tenant=self.tenant,
            original_key=self.original_key,
            uploaded_at=self.created_at,
            reason=reason,
            media="video" if self.media == "video" else "photo",
            duration_seconds=self.duration_seconds,
            sweep=self._sweep_mark() if reason == "outbox" else "",
        )
