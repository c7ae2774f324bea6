"""Versioned message schemas on the bus.

Every message carries ``v``; a consumer that meets a version it does not know treats the
message as terminal (dead letter) instead of guessing. Add fields with defaults to stay
compatible; bump ``v`` only for a breaking change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from pipeline.domain.errors import BadMessage


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1] = 1

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


# "reconcile": a ready image whose renditions are missing from the store; rendered again on
# the backfill lane even though its spec is current.
JobReason = Literal["upload", "outbox", "backfill", "redrive", "reconcile"]
RERENDER_REASONS: tuple[JobReason, ...] = ("backfill", "reconcile")


class RenderJob(_Message):
    """Ask a worker to render (or re-render) every rendition of one image."""

    image_id: str
    tenant: str
    original_key: str
    uploaded_at: datetime
    reason: JobReason = "upload"
    # The image's media kind picks the lane (video: the video lane); ``duration_seconds``
    # (videos) sizes the render deadline. Jobs published before these fields were photos'.
    media: Literal["photo", "video"] = "photo"
    duration_seconds: float | None = None
    # Set by the sweeper: the stale state it saw (claims and the clock it read). With the id
    # it names the job for JetStream's de-duplication: sweepers of several workers that see
    # the same state publish one job, and a later sweep is never dropped as a duplicate of
    # an upload (or earlier sweep) whose job was already consumed.
    sweep: str = ""


class CleanupJob(_Message):
    """Remove a deleted image's objects: every key in ``keys`` and every key under ``prefixes``.

    Published once the document is gone (so no one can reach the objects any more); the
    cleanup lane retries it with backoff until the store answers.
    """

    image_id: str
    tenant: str
    keys: list[str]
    prefixes: list[str] = Field(default_factory=list)
    deleted_at: datetime = Field(default_factory=utcnow)


ImageEventType = Literal["uploaded", "ready", "failed", "trashed", "restored", "deleted"]


class ImageEvent(_Message):
    """Something happened to an image: uploaded, ready, failed, trashed (deleted into the
    trash), restored (out of it) or deleted (for good)."""

    type: ImageEventType
    image_id: str
    tenant: str
    at: datetime = Field(default_factory=utcnow)
    reason: str | None = None
    renditions: list[str] = Field(default_factory=list)


AlbumAction = Literal["created", "renamed", "deleted", "image_added", "image_removed"]


class AlbumEvent(_Message):
    """Something happened to an album; ``image_id`` names the image added or removed."""

    type: Literal["album"] = "album"
    album_id: str
    tenant: str
    action: AlbumAction
    image_id: str | None = None
    at: datetime = Field(default_factory=utcnow)


Event = ImageEvent | AlbumEvent
"""Everything on the events stream."""


class _AnyEvent(RootModel[ImageEvent | AlbumEvent]):
    """Either event; the ``type`` literal tells them apart (pydantic's smart union).

    A RootModel rather than ``TypeAdapter(Event)``: mypy's verdict on a union alias passed as
    a value changed with its cache state, and this needs no ``type: ignore`` at all."""


def event_subject_parts(event: Event) -> tuple[str, str]:
    """(kind, action) of ``event``'s subject: ("image", "ready") or ("album", "renamed")."""
    if isinstance(event, AlbumEvent):
        return "album", event.action
    return "image", event.type


def event_msg_id(event: Event) -> str:
    """The de-duplication id: a retried publish of the same event is stored once."""
    if isinstance(event, AlbumEvent):
        return f"{event.album_id}:{event.action}:{event.image_id}:{event.at.timestamp()}"
    return f"{event.image_id}:{event.type}:{event.at.timestamp()}"


class DeadLetter(_Message):
    """A job that will not be retried, with why, for operators to inspect and redrive.

    ``job`` is the render job (None for another lane's job or a message that did not
    decode: then ``payload`` holds its body as text, for the operator to read).
    """

    job: RenderJob | None = None
    lane: str = "render"
    payload: str = ""
    reason: str
    attempts: int
    at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter and its sequence in the DLQ stream (to remove it after a redrive)."""

    seq: int
    letter: DeadLetter


@dataclass(frozen=True)
class StreamedEvent:
    """An event and its sequence in the events stream: the SSE ``id`` a client resumes from."""

    seq: int
    event: Event


@dataclass(frozen=True)
class StreamReset:
    """A resume point the events stream never reached (it was recreated since the client saw
    that id: a restore, a new cluster, a wiped data folder). What the client holds may be
    stale, so it must reload; ``seq`` is the stream's last sequence, the id to resume from."""

    seq: int


M = TypeVar("M", bound="_Message")


def decode(model: type[M], data: bytes) -> M:
    """Parse ``data`` as ``model``; unknown versions and malformed bodies raise BadMessage."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise BadMessage(f"cannot decode {model.__name__}: {exc.errors()[0]['msg']}") from exc


def decode_event(data: bytes) -> Event:
    """Parse an events-stream message (image or album event); raises BadMessage."""
    try:
        return _AnyEvent.model_validate_json(data).root
    except ValidationError as exc:
        raise BadMessage(f"cannot decode event: {exc.errors()[0]['msg']}") from exc
