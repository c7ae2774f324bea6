"""Who is calling: every ``/v1/`` request resolves to a principal before its handler runs.

A tenant API key (``Authorization: Bearer``) becomes a key principal with the key's scopes;
the admin key (``GALLERY_GATEWAY_ADMIN_KEY``, compared in constant time; while it is empty
the admin routes answer 401) on ``/v1/admin/`` becomes the admin principal; the token in
a ``/v1/shared/{token}/`` path becomes a share link's principal, without a key. What a
principal may do is decided by the services (:mod:`pipeline.services.access`), not here.

Key lookups hit the catalog, so each process caches a key's principal for
``GALLERY_GATEWAY_KEY_CACHE_SECONDS``; a revocation announced on the bus drops the key from
every gateway's cache at once, and the short lifetime bounds a missed announcement.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.appkeys import KEYS, PRINCIPAL, SETTINGS, SHARES
from pipeline.domain.access import Principal
from pipeline.domain.errors import Unauthorized
from pipeline.domain.keys import hash_api_key
from pipeline.domain.shares import hash_share_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_PREFIX = "/v1/admin/"
SHARED_PREFIX = "/v1/shared/"


class KeyCache:
    """Principals by key hash (or share token hash), each entry for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def put(self, key_hash: str, principal: Principal) -> None:
        self._entries[key_hash] = (principal, time.monotonic() + self._seconds)

    async def forget(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)


KEY_CACHE = web.AppKey("key_cache", KeyCache)


def _bearer(request: web.Request) -> str:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized(
            "missing bearer token", public_message="send Authorization: Bearer <api key>"
        )
    return key


async def _key_principal(request: web.Request, key: str) -> Principal:
    cache, digest = request.app[KEY_CACHE], hash_api_key(key)
    principal = cache.get(digest)
    if principal is None:
        principal = await request.app[KEYS].authenticate(digest)
        cache.put(digest, principal)
    return principal


async def principal_of(request: web.Request) -> Principal:
    """The caller's principal from its bearer key; raises Unauthorized (401). For checks
    that run before the middlewares (an ``Expect: 100-continue`` answer)."""
    return await _key_principal(request, _bearer(request))


async def _link_principal(request: web.Request) -> Principal:
    """The share link in the path (no key needed: the token is the capability), admitted
    under its rate limits; 404 for an unknown, expired or revoked one. Cached like keys;
    a revocation drops it from every gateway's cache the same way."""
    shares = request.app[SHARES]
    await shares.admit_address(request.remote or "unknown")  # guesses count too
    cache, digest = request.app[KEY_CACHE], hash_share_token(request.match_info.get("token", ""))
    principal = cache.get(digest)
    if principal is None:
        principal = await shares.open(digest)
        cache.put(digest, principal)
    await shares.admit(principal)
    return principal


def _admin(request: web.Request, key: str) -> Principal:
    admin = request.app[SETTINGS].gateway.admin_key
    if not admin or not hmac.compare_digest(key.encode(), admin.encode()):
        raise Unauthorized("bad admin key", public_message="invalid admin key")
    return Principal.admin()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # OPTIONS is discovery (tus) and CORS preflight: neither carries credentials.
    if not request.path.startswith("/v1/") or request.method == "OPTIONS":
        return await handler(request)
    if request.path.startswith(SHARED_PREFIX) and "token" in request.match_info:
        request[PRINCIPAL] = await _link_principal(request)
        return await handler(request)
    key = _bearer(request)
    if request.path.startswith(ADMIN_PREFIX):
        request[PRINCIPAL] = _admin(request, key)
    else:
        request[PRINCIPAL] = await _key_principal(request, key)
    return await handler(request)
