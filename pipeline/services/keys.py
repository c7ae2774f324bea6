"""API keys: create, list (never the key itself), revoke with every gateway told at once.

A revocation is stored first (from then on no gateway accepts the key once its cache entry
ends, ``GALLERY_GATEWAY_KEY_CACHE_SECONDS``), then announced on the bus so gateways drop
the key from their caches at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.domain.errors import InputError, NotFound
from pipeline.domain.keys import ApiKeyInfo, NewApiKey
from pipeline.domain.labels import label, tenant_label
from pipeline.domain.messages import utcnow
from pipeline.services.ports import ApiKeys, KeyRevocations


class KeyService:
    def __init__(self, keys: ApiKeys, revocations: KeyRevocations) -> None:
        self._keys = keys
        self._revocations = revocations

    async def create(
        self, tenant: object, name: object = "default", *, expires_in_seconds: object = None
    ) -> NewApiKey:
        """A new key, refused after ``expires_in_seconds`` (a positive whole number) if given;
        InputError when the tenant is not a DNS label (:func:`tenant_label`), the name not a
        string of 1..200 characters or the lifetime not a positive whole number."""
        safe_tenant = tenant_label(tenant)
        expires = _expiry(expires_in_seconds)
        return await self._keys.create_key(
            safe_tenant, label(name, "name", "bad name"), expires_at=expires
        )

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyInfo]:
        return await self._keys.list_keys(tenant)

    async def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke (idempotent); raises NotFound for an id no key has."""
        info = await self._keys.revoke_key(key_id)
        if info is None:
            raise NotFound("no such key", public_message="no such key")
        await self._revocations.publish_key_revoked(info.key_hash)
        return info


#: Longest key lifetime that can be asked for: ten years (a datetime cannot go much further).
MAX_KEY_SECONDS = 10 * 365 * 24 * 3600


def _expiry(seconds: object) -> datetime | None:
    """None (no expiry) or now + ``seconds``; a JSON number with no fraction is whole."""
    if seconds is None:
        return None
    bad = InputError(
        "bad expires_in_seconds",
        public_message=f"expires_in_seconds must be a whole number of seconds from 1 to "
        f"{MAX_KEY_SECONDS}",
    )
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise bad
    if not float(seconds).is_integer() or not 1 <= seconds <= MAX_KEY_SECONDS:
        raise bad
    return utcnow() + timedelta(seconds=int(seconds))
