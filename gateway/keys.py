"""Typed application keys shared by the gateway's modules."""

from __future__ import annotations

from aiohttp import web

from pipeline.bootstrap import Backends
from pipeline.runtime.settings import Settings
from pipeline.services.albums import AlbumService
from pipeline.services.delete import DeleteService
from pipeline.services.ingest import IngestService

SETTINGS = web.AppKey("settings", Settings)
BACKENDS = web.AppKey("backends", Backends)
INGEST = web.AppKey("ingest", IngestService)
DELETE = web.AppKey("delete", DeleteService)
ALBUMS = web.AppKey("albums", AlbumService)
TENANT_KEY = web.RequestKey("tenant", str)
"""Request key under which the auth middleware stores the caller's tenant."""
