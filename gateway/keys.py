"""Typed application keys shared by the gateway's modules."""

from __future__ import annotations

from aiohttp import web

from pipeline.bootstrap import Backends
from pipeline.runtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
BACKENDS = web.AppKey("backends", Backends)
TENANT_KEY = web.RequestKey("tenant", str)
"""Request key under which the auth middleware stores the caller's tenant."""
