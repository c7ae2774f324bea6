"""The image lifecycle: ingest, render, delete, outbox, backfill, redrive.

Services take the backends through the protocols in :mod:`pipeline.services.ports` and never
import aiohttp, nats, pymongo or aioboto3; entry points (``gateway``, ``workers``) build them
from :mod:`pipeline.bootstrap` and stay thin.
"""
