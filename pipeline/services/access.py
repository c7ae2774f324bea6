"""The one access policy: what a principal may see and do.

* A tenant's API key acts on its tenant only, within its scopes (``admin`` holds every
  scope of the tenant); a missing scope is :class:`Forbidden` (403).
* The admin key manages API keys and nothing of a tenant's photos.
* A share link reads the one album or image it was made for, nothing else: anything outside
  is :class:`NotFound`, exactly like an id that does not exist (ids are not an oracle);
  originals only when the link allows downloads, and never the GPS position.

Services call :meth:`AccessPolicy.tenant` before a write and :meth:`AccessPolicy.reader`
before a read; routes never decide access themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pipeline.domain.access import Principal, Scope
from pipeline.domain.errors import Forbidden, NotFound
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord

PRIVATE_METADATA = ("gps",)
"""Metadata a share link never shows: where the photo was taken."""


def no_image() -> NotFound:
    return NotFound("no such image", public_message="no such image")


def no_album() -> NotFound:
    return NotFound("no such album", public_message="no such album")


def no_link() -> NotFound:
    # One answer for unknown, expired and revoked: a token is not an oracle either.
    return NotFound(
        "no such share link", public_message="this link does not exist, has expired or was revoked"
    )


@dataclass(frozen=True)
class Reader:
    """What one principal may read: ``tenant``'s images, narrowed to one album or one image
    for a share link. ``originals``: whether it may download the original bytes."""

    tenant: str
    album_id: str | None = None
    image_id: str | None = None
    originals: bool = True
    private_metadata: bool = True

    @property
    def narrowed(self) -> bool:
        return self.album_id is not None or self.image_id is not None

    def admits(self, record: ImageRecord, *, trash: bool = False) -> bool:
        """Whether ``record`` is within what this reader may see (the trash only when
        ``trash``, and only the tenant's own: a share link never sees it)."""
        if record.tenant != self.tenant or (record.trashed_at is not None) != trash:
            return False
        if trash:
            return not self.narrowed
        if self.image_id is not None:
            return record.id == self.image_id
        if self.album_id is not None:
            return self.album_id in record.albums
        return True

    def shown(self, record: ImageRecord) -> ImageRecord:
        """``record`` as this reader sees it: without private metadata for a share link."""
        if self.private_metadata:
            return record
        metadata = {k: v for k, v in record.metadata.items() if k not in PRIVATE_METADATA}
        # The tenant's other albums are none of the link's business.
        albums = [a for a in record.albums if a == self.album_id]
        return record.model_copy(update={"metadata": metadata, "albums": albums})


class AccessPolicy:
    """Stateless but for its clock; one instance is shared by the services."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock

    def tenant(self, who: Principal, scope: Scope) -> str:
        """The tenant ``who`` may act on with ``scope``; Forbidden (403) otherwise."""
        if who.kind == "key" and (scope in who.scopes or "admin" in who.scopes):
            return who.tenant
        raise Forbidden(scope)

    def reader(self, who: Principal) -> Reader:
        """What ``who`` may read; Forbidden (403) for a key without ``read`` and the admin key."""
        grant = who.share
        if who.kind == "share" and grant is not None:
            if grant.expires_at <= self._clock():
                raise no_link()  # expired while its principal was cached
            return Reader(
                grant.tenant,
                album_id=grant.album_id,
                image_id=grant.image_id,
                originals=grant.allow_download,
                private_metadata=False,
            )
        return Reader(self.tenant(who, "read"))

    def admin(self, who: Principal) -> None:
        """Only the admin key manages every tenant's API keys; Forbidden (403) otherwise."""
        if who.kind != "admin":
            raise Forbidden("admin", public_message="only the admin key may do this")

    def visible(
        self, who: Principal, record: ImageRecord | None, *, trash: bool = False
    ) -> ImageRecord:
        """``record`` as ``who`` may see it; NotFound when absent or out of reach (in the
        trash, unless ``trash``)."""
        reader = self.reader(who)
        if record is None or not reader.admits(record, trash=trash):
            raise no_image()
        return reader.shown(record)
