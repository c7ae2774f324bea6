"""Admin routes (``/v1/admin/``, the admin key): API keys of every tenant.

Served on the ops listener (the metrics port) by default, off the public one
(``GALLERY_GATEWAY_ADMIN_LISTENER``); every call is an audit line (:mod:`gateway.audit`).

``GET /v1/admin/keys?tenant=T`` lists keys with their scopes (never a key itself),
``POST /v1/admin/keys`` ``{"tenant", "name", "scopes"?, "expires_in_seconds"?}`` creates one
(the key is in this answer only; ``scopes`` defaults to read, upload, delete, share), ``DELETE
/v1/admin/keys/{key_id}`` revokes one: every gateway refuses it within seconds.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.appkeys import KEYS, PRINCIPAL, SETTINGS
from gateway.audit import AUDIT_FIELDS, audit_middleware
from gateway.auth import auth_middleware
from gateway.middleware import errors_middleware
from pipeline.domain.access import sorted_scopes
from pipeline.domain.errors import InputError
from pipeline.domain.keys import ApiKeyInfo
from pipeline.runtime.settings import Settings
from pipeline.services.keys import KeyService


def key_json(info: ApiKeyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "tenant": info.tenant,
        "name": info.name,
        "scopes": sorted_scopes(info.scopes),
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
    }


async def list_keys(request: web.Request) -> web.Response:
    tenant = request.query.get("tenant") or None
    keys = await request.app[KEYS].list_keys(request[PRINCIPAL], tenant)
    return web.json_response({"items": [key_json(k) for k in keys]})


async def create_key(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise InputError("body is not an object", public_message='send {"tenant": "..."}')
    if "scopes" in body and body["scopes"] is None:  # absent means the defaults; null is wrong
        raise InputError("scopes is null", public_message="scopes must be a list, not null")
    made = await request.app[KEYS].create(
        request[PRINCIPAL],
        body.get("tenant"),
        body.get("name", "default"),
        body.get("scopes"),
        expires_in_seconds=body.get("expires_in_seconds"),
    )
    request[AUDIT_FIELDS] = {"tenant": made.info.tenant, "key_id": made.info.id}
    return web.json_response(key_json(made.info) | {"key": made.key}, status=201)


async def revoke_key(request: web.Request) -> web.Response:
    await request.app[KEYS].revoke(request[PRINCIPAL], request.match_info["key_id"])
    return web.Response(status=204)


def admin_app(settings: Settings, keys: KeyService) -> web.Application:
    """The admin routes as an app of their own, for the ops listener: the same audit, error
    answers and admin-key check as on the public one."""
    app = web.Application(
        middlewares=[audit_middleware, errors_middleware, _routed_only, auth_middleware]
    )
    app[SETTINGS] = settings
    app[KEYS] = keys
    add_routes(app.router)
    return app


@web.middleware
async def _routed_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No route here (a public ``/v1`` path asked on the ops listener): its 404 or 405 before
    the key check, which knows only the admin key on this listener and would fail on a
    tenant's (it has no key cache or catalog of tenants' keys here)."""
    missing = request.match_info.http_exception
    if missing is not None:
        raise missing
    return await handler(request)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/admin/keys", list_keys)
    router.add_post("/v1/admin/keys", create_key)
    router.add_delete("/v1/admin/keys/{key_id}", revoke_key)
