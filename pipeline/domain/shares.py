"""Share links: capability URLs that open one album or one photo of a tenant.

The token is the capability: 256 random bits (``secrets.token_urlsafe(32)``), shown once,
when the link is made; the catalog keeps only its SHA-256 (``token_hash``), so a leaked
catalog does not leak working links. The link's ``id`` (a ULID) names it when listing and
revoking, and is useless to open it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from pipeline.domain.access import ShareGrant
from pipeline.domain.messages import utcnow

TOKEN_PREFIX = "gs_"
TOKEN_BYTES = 32
"""256 random bits: guessing one is hopeless, and the issue asks for at least 128."""


def new_share_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_share_token(token: str) -> str:
    # A random 256-bit token needs no slow hash: there is no dictionary to defend against.
    return hashlib.sha256(token.encode()).hexdigest()


class ShareRecord(BaseModel):
    """One share link as stored: exactly one of ``album_id`` and ``image_id`` is set."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    tenant: str
    token_hash: str
    album_id: str | None = None
    image_id: str | None = None
    allow_download: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    uses: int = 0
    last_used_at: datetime | None = None

    def to_document(self) -> dict[str, object]:
        return self.model_dump(by_alias=True)

    def live(self, now: datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        return self.revoked_at is None and self.expires_at > now

    def grant(self) -> ShareGrant:
        return ShareGrant(
            share_id=self.id,
            tenant=self.tenant,
            album_id=self.album_id,
            image_id=self.image_id,
            allow_download=self.allow_download,
            expires_at=self.expires_at,
        )


class NewShare(BaseModel):
    """A link just made: ``token`` is the secret, in this answer only."""

    model_config = ConfigDict(frozen=True)

    token: str
    record: ShareRecord
