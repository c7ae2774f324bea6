"""The audit trail of the admin API: one JSON line per call on the ``gallery.audit`` logger.

Every ``/v1/admin/`` request is recorded, refused ones (a wrong admin key) included: when,
from which address, which route and key id, the tenant asked about, and the answer's
status. One JSON object per line, so a value cannot forge a line of its own.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from aiohttp import web

from gateway.auth import ADMIN_PREFIX
from gateway.middleware import Handler
from pipeline.domain.errors import PipelineError

audit_log = logging.getLogger("gallery.audit")
AUDIT_FIELDS = web.RequestKey("audit_fields", dict)
"""What a handler adds to its audit line (the tenant and id of a key it created)."""


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(ADMIN_PREFIX):
        return await handler(request)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except PipelineError as exc:
        status = exc.http_status
        raise
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        audit_log.info(json.dumps(_entry(request, status), sort_keys=True))


def _entry(request: web.Request, status: int) -> dict[str, object]:
    resource = request.match_info.route.resource
    added: dict[str, object] = request.get(AUDIT_FIELDS, {})
    return {
        "at": datetime.now(UTC).isoformat(),
        "remote": request.remote,
        "method": request.method,
        "route": resource.canonical if resource is not None else "unmatched",
        "key_id": request.match_info.get("key_id"),
        "tenant": request.query.get("tenant"),
        "status": status,
    } | added
