"""Who is calling: tenant API keys on ``/v1/``, the admin key on ``/v1/admin/``.

Key lookups hit the catalog, so each process caches a key's tenant for
``GALLERY_GATEWAY_KEY_CACHE_SECONDS``; a revocation announced on the bus drops the key from
every gateway's cache at once, and the short lifetime bounds a missed announcement.
The admin key (``GALLERY_GATEWAY_ADMIN_KEY``) is a setting, compared in constant time;
while it is empty the admin routes answer 401.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.appkeys import BACKENDS, KEY_ID, SETTINGS, TENANT_KEY
from pipeline.domain.errors import Unauthorized
from pipeline.domain.keys import hash_api_key

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_PREFIX = "/v1/admin/"


class KeyCache:
    """Tenant by key hash, each entry for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._entries: dict[str, tuple[str, float]] = {}

    def get(self, key_hash: str) -> str | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def put(self, key_hash: str, tenant: str) -> None:
        self._entries[key_hash] = (tenant, time.monotonic() + self._seconds)

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


async def _tenant(request: web.Request, key: str) -> str:
    cache, digest = request.app[KEY_CACHE], hash_api_key(key)
    tenant = cache.get(digest)
    if tenant is None:
        tenant = await request.app[BACKENDS].catalog.tenant_for_key(key)
        if tenant is None:
            raise Unauthorized("unknown api key", public_message="invalid api key")
        cache.put(digest, tenant)
    return tenant


async def tenant_of(request: web.Request) -> str:
    """The caller's tenant from its bearer key; raises Unauthorized (401). For checks that
    run before the middlewares (an ``Expect: 100-continue`` answer)."""
    return await _tenant(request, _bearer(request))


def key_id_of(request: web.Request) -> str:
    """The id (stored hash) of the caller's bearer key; raises Unauthorized (401)."""
    return hash_api_key(_bearer(request))


def _check_admin(request: web.Request, key: str) -> None:
    admin = request.app[SETTINGS].gateway.admin_key
    if not admin or not hmac.compare_digest(key.encode(), admin.encode()):
        raise Unauthorized("bad admin key", public_message="invalid admin key")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # OPTIONS is discovery (tus) and CORS preflight: neither carries credentials.
    if not request.path.startswith("/v1/") or request.method == "OPTIONS":
        return await handler(request)
    key = _bearer(request)
    if request.path.startswith(ADMIN_PREFIX):
        _check_admin(request, key)
        return await handler(request)
    request[TENANT_KEY] = await _tenant(request, key)
    request[KEY_ID] = hash_api_key(key)
    return await handler(request)
