"""Typed application keys shared by the gateway's modules."""

from __future__ import annotations

from aiohttp import web

from gateway.shares import Share
from pipeline.bootstrap import Backends
from pipeline.runtime.health import Readiness
from pipeline.runtime.settings import Settings
from pipeline.services.albums import AlbumService
from pipeline.services.delete import DeleteService
from pipeline.services.events import EventFeed
from pipeline.services.ingest import IngestService
from pipeline.services.keys import KeyService
from pipeline.services.limits import UploadLimits
from pipeline.services.tus import UploadService

SETTINGS = web.AppKey("settings", Settings)
BACKENDS = web.AppKey("backends", Backends)
INGEST = web.AppKey("ingest", IngestService)
DELETE = web.AppKey("delete", DeleteService)
ALBUMS = web.AppKey("albums", AlbumService)
EVENTS = web.AppKey("events", EventFeed)
UPLOADS = web.AppKey("uploads", UploadService)
LIMITS = web.AppKey("limits", UploadLimits)
KEYS = web.AppKey("keys", KeyService)
READINESS = web.AppKey("readiness", Readiness)
"""The backend checks behind the ops listener's ``/readyz``, run at most once per interval."""
UPLOAD_SHARE = web.AppKey("upload_share", Share)
"""Uploads and tus PATCHes being received: each holds up to one S3 part in memory."""
STREAM_SHARE = web.AppKey("stream_share", Share)
"""Open ``/v1/events`` streams."""
TENANT_KEY = web.RequestKey("tenant", str)
"""Request key under which the auth middleware stores the caller's tenant."""
KEY_ID = web.RequestKey("key_id", str)
"""The caller's API key id (its stored hash): per-key limits count by it."""
