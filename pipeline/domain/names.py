"""Names that several parts share: streams, subjects, consumers, object keys.

Kubernetes manifests (NACK streams and consumers, the KEDA trigger) must use these same
values; ``tests/deploy`` keeps them equal.
"""

from __future__ import annotations

import hashlib

JOBS_STREAM = "GALLERY_JOBS"
BACKFILL_SUBJECT = "gallery.job.backfill"
# Removing a deleted image's objects: its own lane, retried until the store answers.
CLEANUP_SUBJECT = "gallery.job.cleanup"
JOBS_SUBJECTS = (BACKFILL_SUBJECT, CLEANUP_SUBJECT)
# Render jobs of new uploads: one subject per tenant (and weight share), on a stream of their
# own that holds at most GALLERY_JOBS_TENANT_QUEUED jobs per subject (docs/architecture.md,
# "Fairness"): gallery.job.render.{tenant token}.{share}.
RENDER_STREAM = "GALLERY_RENDER"
RENDER_SUBJECTS = "gallery.job.render.>"
# Video jobs: the same stream and per-tenant shares, their own subjects and consumer, so a
# long transcode waits for a video slot and never holds a photo's render slot:
# gallery.job.video.{tenant token}.{share}.
VIDEO_SUBJECTS = "gallery.job.video.>"
RENDER_STREAM_SUBJECTS = (RENDER_SUBJECTS, VIDEO_SUBJECTS)
RENDER_CONSUMER = "render"
VIDEO_CONSUMER = "video"
BACKFILL_CONSUMER = "backfill"
CLEANUP_CONSUMER = "cleanup"
JOB_CONSUMERS = (RENDER_CONSUMER, VIDEO_CONSUMER, BACKFILL_CONSUMER, CLEANUP_CONSUMER)

# Events: gallery.{image|album}.{type or action}.{tenant token}, e.g.
# gallery.image.ready.3f2a9c0d1e4b5a67. The tenant token lets a replay of one tenant's
# events filter on the server (gallery.*.*.{token}) instead of reading every tenant's.
EVENTS_STREAM = "GALLERY_EVENTS"
IMAGE_EVENTS_SUBJECTS = "gallery.image.>"
ALBUM_EVENTS_SUBJECTS = "gallery.album.>"
EVENTS_SUBJECTS = (IMAGE_EVENTS_SUBJECTS, ALBUM_EVENTS_SUBJECTS)

# Core NATS only (no stream): a revoked key's hash, so every gateway drops it from its cache.
KEYS_REVOKED_SUBJECT = "gallery.keys.revoked"

DLQ_STREAM = "GALLERY_DLQ"
DLQ_SUBJECT = "gallery.dlq.render"


def tenant_token(tenant: str) -> str:
    """The tenant as one subject token: 16 hex digits of its SHA-256.

    Tenant names are free text, and a NATS token may not hold ``.``, ``*``, ``>`` or
    spaces; a fixed-length hash always fits. Consumers still check the decoded tenant.
    """
    return hashlib.sha256(tenant.encode()).hexdigest()[:16]


def render_subject(tenant: str, image_id: str, weight: int = 1, *, media: str = "photo") -> str:
    """``gallery.job.render.{token}.{share}``: the tenant's render subject for this image
    (``gallery.job.video.{token}.{share}`` for a video: the video lane).

    A tenant of weight w has w subjects (shares 0..w-1), so it may hold w times as many jobs
    in the render stream; an image's share is fixed by its id, so a republish lands where
    the first publish did (and JetStream's de-duplication sees it).
    """
    share = int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16) % max(weight, 1)
    lane = "video" if media == "video" else "render"
    return f"gallery.job.{lane}.{tenant_token(tenant)}.{share}"


def event_subject(kind: str, action: str, tenant: str) -> str:
    """``gallery.image.ready.{token}`` or ``gallery.album.renamed.{token}``."""
    return f"gallery.{kind}.{action}.{tenant_token(tenant)}"


def tenant_events_filter(tenant: str) -> str:
    """The filter subject matching every event (image and album) of one tenant."""
    return f"gallery.*.*.{tenant_token(tenant)}"


# The top-level folders of the object store: what reconcile compares with the catalog, and
# where resumable uploads keep bytes that no image document names yet.
ORIGINALS_ROOT = "originals/"
RENDITIONS_ROOT = "renditions/"
UPLOADS_ROOT = "uploads/"


def original_key(tenant: str, image_id: str) -> str:
    return f"originals/{tenant}/{image_id}"


def rendition_prefix(tenant: str, image_id: str) -> str:
    return f"renditions/{tenant}/{image_id}/"


def rendition_key(tenant: str, image_id: str, name: str, spec_hash: str, ext: str) -> str:
    return f"{rendition_prefix(tenant, image_id)}{name}-{spec_hash}.{ext}"


def upload_prefix(tenant: str, upload_id: str) -> str:
    """Where a resumable upload keeps its tail object (the bytes short of a part)."""
    return f"uploads/{tenant}/{upload_id}/"


def upload_tail_key(tenant: str, upload_id: str, token: str) -> str:
    """A new name per PATCH (``token``), so a PATCH never overwrites the tail it continues."""
    return f"{upload_prefix(tenant, upload_id)}tail-{token}"
