"""Backfill: after a rendition spec change, queue a re-render of every ready image whose
renditions are missing or out of date, on the backfill lane, so new uploads keep priority.

Images whose renditions already carry the current spec hashes are not queued. The library is
read as a walk in bounded batches (:mod:`pipeline.services.walk`) and each image checked
here: a filter over rendition hashes needs a top-level ``$or``, which no index serves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from pipeline.domain.models import MOTION, VIDEO_PREVIEW, ImageRecord, WalkPosition
from pipeline.imaging.spec import RenditionSpec, spec_hashes
from pipeline.runtime.settings import ReconcileSettings
from pipeline.services.live import linked_video
from pipeline.services.ports import Bus, ImageScan
from pipeline.services.walk import Progress, WalkState, walk_images

log = logging.getLogger(__name__)


def outdated(
    record: ImageRecord, current: dict[str, str], videos: Mapping[str, str] | None = None
) -> bool:
    """A ready image lacking a rendition of ``current`` (name: spec hash), or with an old one,
    or (with ``videos``, :func:`~pipeline.imaging.video.video_hashes`) a video's preview or
    a motion photo's video made under another video spec."""
    if record.status != "ready":
        return False
    return any(
        (have := record.renditions.get(name)) is None or have.spec_hash != spec_hash
        for name, spec_hash in current.items()
    ) or stale_video(record, videos or {})


def stale_video(record: ImageRecord, videos: Mapping[str, str]) -> bool:
    """The image's own video rendition (a video's ``video``, the ``motion`` a motion photo
    carried inside) was made under another spec than ``videos`` names. A live photo's
    ``motion`` is its MOV's preview: that image answers for it."""
    if record.media == "video":
        name = VIDEO_PREVIEW
    elif MOTION in record.renditions and linked_video(record) is None:
        name = MOTION
    else:
        return False
    have, want = record.renditions.get(name), videos.get(name)
    return have is not None and want is not None and have.spec_hash != want


async def plan_backfill(
    bus: Bus,
    catalog: ImageScan,
    spec: Sequence[RenditionSpec],
    settings: ReconcileSettings,
    *,
    dry_run: bool = False,
    progress: Progress = lambda walked, total: None,
    videos: Mapping[str, str] | None = None,
    after: WalkPosition | None = None,
    state: WalkState | None = None,
) -> int:
    """Publish one backfill job per outdated image; return how many were (or would be)
    queued. ``progress(walked, total)`` counts images checked; ``videos``: the video
    renditions' spec hashes (None: not compared); ``after`` resumes a walk that stopped
    where its ``state`` said."""
    current = spec_hashes(spec)
    queued = 0
    walk = walk_images(
        catalog,
        batch=settings.batch_size,
        pause=settings.batch_pause_seconds,
        progress=progress,
        after=after,
        state=state,
    )
    async for record in walk:
        if not outdated(record, current, videos):
            continue
        if not dry_run:
            await bus.publish_job(record.render_job("backfill"))
        queued += 1
    log.info("backfill: %d image(s) %s", queued, "would be queued" if dry_run else "queued")
    return queued
