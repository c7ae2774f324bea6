"""Names that several parts share: streams, subjects, consumers, object keys.

Kubernetes manifests (NACK streams and consumers, the KEDA trigger) must use these same
values; ``tests/deploy`` keeps them equal.
"""

from __future__ import annotations

JOBS_STREAM = "GALLERY_JOBS"
RENDER_SUBJECT = "gallery.job.render"
BACKFILL_SUBJECT = "gallery.job.backfill"
RENDER_CONSUMER = "render"
BACKFILL_CONSUMER = "backfill"

EVENTS_STREAM = "GALLERY_EVENTS"
EVENTS_SUBJECTS = "gallery.image.>"
UPLOADED_SUBJECT = "gallery.image.uploaded"
READY_SUBJECT = "gallery.image.ready"
FAILED_SUBJECT = "gallery.image.failed"
DELETED_SUBJECT = "gallery.image.deleted"

DLQ_STREAM = "GALLERY_DLQ"
DLQ_SUBJECT = "gallery.dlq.render"


def original_key(tenant: str, image_id: str) -> str:
    return f"originals/{tenant}/{image_id}"


def rendition_prefix(tenant: str, image_id: str) -> str:
    return f"renditions/{tenant}/{image_id}/"


def rendition_key(tenant: str, image_id: str, name: str, spec_hash: str, ext: str) -> str:
    return f"{rendition_prefix(tenant, image_id)}{name}-{spec_hash}.{ext}"
