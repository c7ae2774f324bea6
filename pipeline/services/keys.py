"""API keys: authenticate a request's key, create, list (never the key itself), revoke
with every gateway told at once.

A revocation is stored first (from then on no gateway accepts the key once its cache entry
ends, ``GALLERY_GATEWAY_KEY_CACHE_SECONDS``), then announced on the bus so gateways drop
the key from their caches at once. Managing keys is for the admin key only (the CLI, which
reaches the catalog directly, acts as the admin).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.domain.access import Principal, parse_scopes
from pipeline.domain.errors import InputError, NotFound, Unauthorized
from pipeline.domain.keys import ApiKeyInfo, NewApiKey
from pipeline.domain.labels import label, tenant_label
from pipeline.domain.messages import utcnow
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
        """The principal of the key hashed to ``key_hash``, its use recorded; Unauthorized
        (401) for an unknown, revoked or expired key."""
        info = await self._keys.use_key(key_hash)
        if info is None or info.revoked_at is not None:
            raise Unauthorized("unknown api key", public_message="invalid api key")
        if info.expires_at is not None and info.expires_at <= utcnow():
            raise Unauthorized("expired api key", public_message="invalid api key")
        return Principal.key(info.tenant, info.key_hash, info.scopes)

    async def create(
        self,
        who: Principal,
        tenant: object,
        name: object = "default",
        scopes: object = None,
        *,
        expires_in_seconds: object = None,
    ) -> NewApiKey:
        """A new key, refused after ``expires_in_seconds`` (a positive whole number) if given;
        InputError when the tenant is not a DNS label (:func:`tenant_label`), the name not a
        string of 1..200 characters, ``scopes`` not a non-empty list of scope names (None:
        the defaults) or the lifetime not a positive whole number."""
        self._policy.admin(who)
        safe_tenant = tenant_label(tenant)
        name_label = label(name, "name", "bad name")
        expires = _expiry(expires_in_seconds)
        return await self._keys.create_key(
            safe_tenant, name_label, parse_scopes(scopes), expires_at=expires
        )

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
