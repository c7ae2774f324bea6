"""Typed application keys shared by the gateway's modules."""

from __future__ import annotations

from aiohttp import web

from gateway.fairshare import Share
from pipeline.bootstrap import Backends
from pipeline.domain.access import Principal
from pipeline.runtime.health import Readiness
from pipeline.runtime.settings import Settings
from pipeline.services.albums import AlbumService
from pipeline.services.delete import DeleteService
from pipeline.services.events import EventFeed
from pipeline.services.images import ImageQueries
from pipeline.services.ingest import IngestService
from pipeline.services.keys import KeyService
from pipeline.services.limits import UploadLimits
from pipeline.services.shares import ShareService
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
QUERIES = web.AppKey("queries", ImageQueries)
SHARES = web.AppKey("shares", ShareService)
PRINCIPAL = web.RequestKey("principal", Principal)
"""Who is calling: set by the auth middleware on every ``/v1/`` request; services decide
what it may do (:mod:`pipeline.services.access`)."""
READINESS = web.AppKey("readiness", Readiness)
"""The backend checks behind the ops listener's ``/readyz``, run at most once per interval."""
UPLOAD_SHARE = web.AppKey("upload_share", Share)
"""Uploads and tus PATCHes being received: each holds up to one S3 part in memory."""
STREAM_SHARE = web.AppKey("stream_share", Share)
"""Open ``/v1/events`` streams."""
