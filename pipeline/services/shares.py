"""Share links: make, list, revoke (every gateway refuses at once), and open one.

A link opens one album or one photo for anyone who holds its URL, read-only, until it
expires (``GALLERY_SHARE_DEFAULT_EXPIRY_SECONDS`` unless asked, never over
``GALLERY_SHARE_MAX_EXPIRY_SECONDS``) or is revoked. What it may see is the access
policy's business (:mod:`pipeline.services.access`); this service decides whether a token
opens anything at all, and how often: per link and per client address, in the same shared
minute windows as the upload rate (so every replica counts alike).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from datetime import timedelta

from pipeline.domain.access import Principal
from pipeline.domain.errors import InputError, NotFound
from pipeline.domain.messages import utcnow
from pipeline.domain.models import new_image_id
from pipeline.domain.shares import NewShare, ShareRecord, hash_share_token, new_share_token
from pipeline.runtime.settings import ShareSettings
from pipeline.services.access import AccessPolicy, no_album, no_image, no_link
from pipeline.services.limits import check_rate
from pipeline.services.ports import Albums, Catalog, KeyRevocations, Shares, UsageCatalog


def _bad(field: str, message: str) -> InputError:
    return InputError(f"bad share {field}", public_message=message)


class ShareService:
    def __init__(
        self,
        shares: Shares,
        catalog: Catalog,
        albums: Albums,
        counters: UsageCatalog,
        revocations: KeyRevocations,
        *,
        settings: ShareSettings,
        policy: AccessPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._shares = shares
        self._catalog = catalog
        self._albums = albums
        self._counters = counters
        self._revocations = revocations
        self._settings = settings
        self._policy = policy or AccessPolicy()
        self._clock = clock

    async def create(
        self,
        who: Principal,
        *,
        album_id: object = None,
        image_id: object = None,
        expires_in_seconds: object = None,
        allow_download: object = False,
    ) -> NewShare:
        """A link to ``album_id`` or ``image_id`` (exactly one), the token in this answer only.

        Raises Forbidden without the ``share`` scope, InputError naming the field that is
        wrong, NotFound for an album or image the tenant does not have."""
        tenant = self._policy.tenant(who, "share")
        lifetime = self._lifetime(expires_in_seconds)
        if not isinstance(allow_download, bool):
            raise _bad("allow_download", "allow_download must be true or false")
        album, image = _target(album_id, image_id)
        await self._check_target(tenant, album, image)
        token = new_share_token()
        record = ShareRecord(
            id=new_image_id(),
            tenant=tenant,
            token_hash=hash_share_token(token),
            album_id=album,
            image_id=image,
            allow_download=allow_download,
            expires_at=utcnow() + timedelta(seconds=lifetime),
        )
        await self._shares.insert_share(record)
        return NewShare(token=token, record=record)

    async def page(self, who: Principal, *, limit: int, before: str | None) -> list[ShareRecord]:
        """The tenant's links, newest first, revoked and expired ones included."""
        tenant = self._policy.tenant(who, "share")
        return await self._shares.list_shares(tenant, limit=limit, before=before)

    async def revoke(self, who: Principal, share_id: str) -> ShareRecord:
        """Revoke (idempotent) and tell every gateway to drop the link from its cache."""
        record = await self._shares.revoke_share(self._policy.tenant(who, "share"), share_id)
        if record is None:
            raise NotFound("no such share", public_message="no such share link")
        await self._revocations.publish_key_revoked(record.token_hash)
        return record

    async def open(self, token_hash: str) -> Principal:
        """The principal of a live link whose token hashes to ``token_hash``; NotFound (404)
        alike for unknown, expired and revoked links."""
        record = await self._shares.find_share(token_hash)
        # The index found it by hash; compare again in constant time all the same.
        if record is None or not hmac.compare_digest(record.token_hash, token_hash):
            raise no_link()
        if not record.live(utcnow()):
            raise no_link()
        return Principal.link(record.grant())

    async def admit_address(self, address: str) -> None:
        """Count one link request from ``address``, before its token is even looked up (so
        guessing tokens is limited too); RateLimited (429) above
        ``address_requests_per_minute``."""
        limit = self._settings.address_requests_per_minute
        message = f"at most {limit} link requests a minute per address"
        await check_rate(self._counters, f"share-address:{address}", limit, self._clock(), message)

    async def admit(self, who: Principal) -> None:
        """Count one request through link ``who``; RateLimited (429) above
        ``requests_per_minute``."""
        limit = self._settings.requests_per_minute
        message = f"at most {limit} requests a minute per link"
        await check_rate(self._counters, f"share:{who.id}", limit, self._clock(), message)

    async def count_use(self, who: Principal) -> None:
        """One more opening of the link (its listing's first page), for its owner to see."""
        await self._shares.count_use(who.id)

    def _lifetime(self, asked: object) -> int:
        most = self._settings.max_expiry_seconds
        if asked is None:
            return self._settings.default_expiry_seconds
        if isinstance(asked, float) and asked.is_integer():
            asked = int(asked)  # JSON Schema's integer: 3600.0 is one
        if isinstance(asked, bool) or not isinstance(asked, int) or not 60 <= asked <= most:
            raise _bad(
                "expires_in_seconds",
                f"expires_in_seconds must be an integer from 60 to {most}",
            )
        return asked

    async def _check_target(self, tenant: str, album: str | None, image: str | None) -> None:
        if album is not None and await self._albums.get_album(tenant, album) is None:
            raise no_album()
        if image is not None and await self._catalog.get_image(tenant, image) is None:
            raise no_image()


def _target(album_id: object, image_id: object) -> tuple[str | None, str | None]:
    """Exactly one of the two, a non-empty string; InputError otherwise."""
    given = [v for v in (album_id, image_id) if v is not None]
    if len(given) != 1 or not isinstance(given[0], str) or not given[0]:
        raise _bad("target", "send exactly one of album_id and image_id, a non-empty string")
    if album_id is not None:
        return given[0], None
    return None, given[0]
