"""API keys as operators see them: an id, never the key itself.

A key is shown once, when it is created; the catalog stores only its SHA-256. The key's
``id`` is the first 16 hex digits of that hash: enough to name it in ``gallery keys
revoke ID`` and in logs, useless to authenticate with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pipeline.domain.access import DEFAULT_SCOPES, Scope

KEY_ID_CHARS = 16


def hash_api_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough: no dictionary to defend.
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key_hash: str) -> str:
    return key_hash[:KEY_ID_CHARS]


@dataclass(frozen=True)
class ApiKeyInfo:
    """One key's record; ``key_hash`` is internal (revocation notices carry it); ``scopes``
    what the key may do (keys made before scopes existed have :data:`DEFAULT_SCOPES`)."""

    id: str
    tenant: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    key_hash: str
    scopes: frozenset[Scope] = DEFAULT_SCOPES
    expires_at: datetime | None = None
    """After it the key is refused (None: never)."""
    last_used_at: datetime | None = None
    """When a gateway last looked the key up (at most once per key-cache lifetime each)."""


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: ``key`` is the secret, shown this once."""

    key: str
    info: ApiKeyInfo
