"""Versioned message schemas on the bus.

Every message carries ``v``; a consumer that meets a version it does not know treats the
message as terminal (dead letter) instead of guessing. Add fields with defaults to stay
compatible; bump ``v`` only for a breaking change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.domain.errors import BadMessage


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1] = 1

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


JobReason = Literal["upload", "outbox", "backfill", "redrive"]


class RenderJob(_Message):
    """Ask a worker to render (or re-render) every rendition of one image."""

    image_id: str
    tenant: str
    original_key: str
    uploaded_at: datetime
    reason: JobReason = "upload"


class ImageEvent(_Message):
    """Something happened to an image: uploaded, ready, failed or deleted."""

    type: Literal["uploaded", "ready", "failed", "deleted"]
    image_id: str
    tenant: str
    at: datetime = Field(default_factory=utcnow)
    reason: str | None = None
    renditions: list[str] = Field(default_factory=list)


class DeadLetter(_Message):
    """A job that will not be retried, with why, for operators to inspect and redrive."""

    job: RenderJob
    reason: str
    attempts: int
    at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter and its sequence in the DLQ stream (to remove it after a redrive)."""

    seq: int
    letter: DeadLetter


M = TypeVar("M", bound="_Message")


def decode(model: type[M], data: bytes) -> M:
    """Parse ``data`` as ``model``; unknown versions and malformed bodies raise BadMessage."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise BadMessage(f"cannot decode {model.__name__}: {exc.errors()[0]['msg']}") from exc
