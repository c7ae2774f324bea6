"""API keys: create, list (never the key itself), revoke with every gateway told at once.

A revocation is stored first (from then on no gateway accepts the key once its cache entry
ends, ``GALLERY_GATEWAY_KEY_CACHE_SECONDS``), then announced on the bus so gateways drop
the key from their caches at once.
"""

from __future__ import annotations

from pipeline.domain.errors import NotFound
from pipeline.domain.keys import ApiKeyInfo, NewApiKey
from pipeline.domain.labels import label
from pipeline.services.ports import ApiKeys, KeyRevocations


class KeyService:
    def __init__(self, keys: ApiKeys, revocations: KeyRevocations) -> None:
        self._keys = keys
        self._revocations = revocations

    async def create(self, tenant: object, name: object = "default") -> NewApiKey:
        """A new key; InputError when tenant or name is not a string of 1..200 characters."""
        tenant_label = label(tenant, "tenant", "bad tenant")
        return await self._keys.create_key(tenant_label, label(name, "name", "bad name"))

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyInfo]:
        return await self._keys.list_keys(tenant)

    async def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke (idempotent); raises NotFound for an id no key has."""
        info = await self._keys.revoke_key(key_id)
        if info is None:
            raise NotFound("no such key", public_message="no such key")
        await self._revocations.publish_key_revoked(info.key_hash)
        return info
