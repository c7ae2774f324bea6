"""A resumable (tus 1.0) upload as the catalog records it.

The record is the whole state of an upload, so any gateway replica can continue it: the
committed offset, the object-store multipart upload and its parts so far, the short tail
that did not fill a part yet, and when it expires. Bytes live in the object store only.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.domain.messages import utcnow

UploadState = Literal["open", "complete"]


def new_upload_id() -> str:
    """128 random bits, URL-safe: an upload URL is not guessable from another."""
    return secrets.token_hex(16)


class Part(BaseModel):
    """One stored multipart part: its number (1-based), ETag and size in bytes."""

    model_config = ConfigDict(frozen=True)

    number: int
    etag: str
    size: int


class UploadRecord(BaseModel):
    """One tus upload of ``tenant``: ``length`` bytes, ``offset`` of them stored so far.

    ``offset == sum(part sizes) + tail_size``. ``tail_keys`` name the objects holding the
    bytes after the last part (together shorter than a part), in order: one per PATCH that
    did not fill a part, so a PATCH writes only its own bytes and never rewrites the tail.
    ``multipart_id`` is the store's multipart upload, created with the first part. Once
    ``state`` is ``complete``, ``image_id`` is the image the upload became and ``duplicate``
    says it existed already.
    ``lock`` is the token of the PATCH writing to it now, valid until ``lock_until``.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    tenant: str
    length: int
    offset: int = 0
    filename: str | None = None
    album: str | None = None
    image_id: str
    key: str
    mime: str | None = None
    multipart_id: str | None = None
    parts: tuple[Part, ...] = ()
    tail_keys: tuple[str, ...] = ()
    tail_size: int = 0
    state: UploadState = "open"
    duplicate: bool = False
    lock: str | None = None
    lock_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _one_tail_object(cls, data: Any) -> Any:
        """A record stored before tail segments had one ``tail_key``: its only segment."""
        if isinstance(data, dict) and data.get("tail_key") and not data.get("tail_keys"):
            data = {**data, "tail_keys": (data["tail_key"],)}
        return data

    def to_document(self) -> dict[str, object]:
        return self.model_dump(by_alias=True)

    @property
    def next_part(self) -> int:
        return len(self.parts) + 1
