"""API keys in MongoDB (``api_keys``): only hashes are stored; revoked keys are kept, marked.

``_id`` is the key's SHA-256 (what a request's key is looked up by); ``key_id`` is its
first 16 hex digits (what operators name it by). Keys made before ``key_id`` existed are
found by the prefix of ``_id``.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters.guarded import update_then_read
from pipeline.adapters.mongo_errors import translated
from pipeline.domain.access import DEFAULT_SCOPES, SCOPES, Scope, sorted_scopes
from pipeline.domain.keys import ApiKeyInfo, NewApiKey, hash_api_key, key_id_of
from pipeline.domain.messages import utcnow

Document = dict[str, Any]
API_KEY_PREFIX = "gk_"


class ApiKeyCatalog:
    def __init__(self, api_keys: AsyncCollection[Document]) -> None:
        self._keys = api_keys

    async def create_key(
        self,
        tenant: str,
        name: str = "default",
        scopes: frozenset[Scope] = DEFAULT_SCOPES,
        expires_at: datetime | None = None,
    ) -> NewApiKey:
        """A new key for ``tenant`` with ``scopes``, refused after ``expires_at`` if given;
        only its hash is stored, so show ``key`` once."""
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_api_key(key)
        doc = {
            "_id": digest,
            "key_id": key_id_of(digest),
            "tenant": tenant,
            "name": name,
            "scopes": sorted_scopes(scopes),
            "created_at": utcnow(),
            "revoked_at": None,
            "expires_at": expires_at,
            "last_used_at": None,
        }
        with translated("create api key"):
            await self._keys.insert_one(doc)
        return NewApiKey(key, _info(doc))

    async def tenant_for_key(self, key: str) -> str | None:
        """The tenant of a valid key, recording the lookup as its last use; None for an
        unknown, revoked or expired one."""
        info = await self.use_key(hash_api_key(key))
        if info is None or (info.expires_at is not None and info.expires_at <= utcnow()):
            return None
        return info.tenant

    async def use_key(self, key_hash: str) -> ApiKeyInfo | None:
        """The unrevoked key stored under ``key_hash``, its lookup recorded as its last use;
        None for an unknown or revoked one (an expired one is returned: the caller decides)."""
        with translated("look up api key"):
            # update_one + read by _id: a findAndModify scans api_keys on SecantusDB.
            doc = await update_then_read(
                self._keys,
                {"_id": key_hash, "revoked_at": None},
                {"$set": {"last_used_at": utcnow()}},
            )
        return None if doc is None else _info(doc)

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyInfo]:
        """Every key (of ``tenant`` when given), oldest first, revoked ones included."""
        query: Document = {} if tenant is None else {"tenant": tenant}
        with translated("list api keys"):
            docs = [doc async for doc in self._keys.find(query)]
        return sorted((_info(doc) for doc in docs), key=lambda k: (k.created_at, k.id))

    async def revoke_key(self, key_id: str) -> ApiKeyInfo | None:
        """Mark the key revoked (idempotent); None when no key has that id."""
        digest = await self._hash_of(key_id)
        if digest is None:
            return None
        with translated("revoke api key"):
            # Only a key not yet revoked gets a time: revoking twice keeps the first.
            await self._keys.update_one(
                {"_id": digest, "revoked_at": None}, {"$set": {"revoked_at": utcnow()}}
            )
            doc = await self._keys.find_one({"_id": digest})
        return None if doc is None else _info(doc)

    async def _hash_of(self, key_id: str) -> str | None:
        if len(key_id) != len(key_id_of("0" * 64)):
            return None
        with translated("find api key"):
            doc = await self._keys.find_one({"key_id": key_id}, projection={"_id": 1})
            if doc is None:  # a key made before key_id was stored
                ids = [d["_id"] async for d in self._keys.find({}, projection={"_id": 1})]
                return next((d for d in ids if d.startswith(key_id)), None)
        return str(doc["_id"])


def _info(doc: Document) -> ApiKeyInfo:
    digest = str(doc["_id"])
    return ApiKeyInfo(
        id=key_id_of(digest),
        tenant=str(doc["tenant"]),
        name=str(doc.get("name", "")),
        created_at=doc["created_at"],
        revoked_at=doc.get("revoked_at"),
        key_hash=digest,
        scopes=_scopes(doc.get("scopes")),
        expires_at=doc.get("expires_at"),
        last_used_at=doc.get("last_used_at"),
    )


def _scopes(stored: object) -> frozenset[Scope]:
    """The stored scopes; a key made before scopes existed has the defaults."""
    if not isinstance(stored, list):
        return DEFAULT_SCOPES
    return frozenset(s for s in SCOPES if s in stored)
