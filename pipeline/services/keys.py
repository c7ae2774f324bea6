"""API keys: authenticate a request's key, create, list (never the key itself), revoke
with every gateway told at once.

A revocation is stored first (from then on no gateway accepts the key once its cache entry
ends, ``GALLERY_GATEWAY_KEY_CACHE_SECONDS``), then announced on the bus so gateways drop
the key from their caches at once. Managing keys is for the admin key only (the CLI, which
reaches the catalog directly, acts as the admin).
"""

from __future__ import annotations

from pipeline.domain.access import Principal, parse_scopes
from pipeline.domain.errors import NotFound, Unauthorized
from pipeline.domain.keys import ApiKeyInfo, NewApiKey
from pipeline.domain.labels import label
from pipeline.services.access import AccessPolicy
from pipeline.services.ports import ApiKeys, KeyRevocations


class KeyService:
    def __init__(
        self, keys: ApiKeys, revocations: KeyRevocations, policy: AccessPolicy | None = None
    ) -> None:
        self._keys = keys
        self._revocations = revocations
        self._policy = policy or AccessPolicy()

    async def authenticate(self, key_hash: str) -> Principal:
        """The principal of the key hashed to ``key_hash``; Unauthorized (401) for an
        unknown or revoked key."""
        info = await self._keys.find_key(key_hash)
        if info is None or info.revoked_at is not None:
            raise Unauthorized("unknown api key", public_message="invalid api key")
        return Principal.key(info.tenant, info.key_hash, info.scopes)

    async def create(
        self, who: Principal, tenant: object, name: object = "default", scopes: object = None
    ) -> NewApiKey:
        """A new key; InputError when tenant or name is not a string of 1..200 characters
        or ``scopes`` not a non-empty list of scope names (None: the defaults)."""
        self._policy.admin(who)
        tenant_label = label(tenant, "tenant", "bad tenant")
        name_label = label(name, "name", "bad name")
        return await self._keys.create_key(tenant_label, name_label, parse_scopes(scopes))

    async def list_keys(self, who: Principal, tenant: str | None = None) -> list[ApiKeyInfo]:
        self._policy.admin(who)
        return await self._keys.list_keys(tenant)

    async def revoke(self, who: Principal, key_id: str) -> ApiKeyInfo:
        """Revoke (idempotent); raises NotFound for an id no key has."""
        self._policy.admin(who)
        info = await self._keys.revoke_key(key_id)
        if info is None:
            raise NotFound("no such key", public_message="no such key")
        await self._revocations.publish_key_revoked(info.key_hash)
        return info
